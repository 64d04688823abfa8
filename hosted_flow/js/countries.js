// The issuing country: a text box with the server's list of country names (ISO 3166, in the
// applicant's language) as a native <datalist>, so the browser's own suggestions do the search and
// keyboards and screen readers work as with any text box. The page sends the alpha-3 code; a name
// from the list, or a code for those who know one, is accepted; anything else is not guessed.

// Case, accents and punctuation do not matter: "cote d ivoire" is "Côte d'Ivoire".
function simplify(text) {
  return text
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
}

export class CountryList {
  constructor(countries = []) {
    this.countries = countries;
    this.byText = new Map();
    for (const country of countries) {
      this.byText.set(simplify(country.name), country.code);
      this.byText.set(country.code.toLowerCase(), country.code);
      this.byText.set(country.alpha_2.toLowerCase(), country.code);
    }
  }

  fill(datalist) {
    datalist.textContent = "";
    for (const country of this.countries) {
      const option = document.createElement("option");
      option.value = country.name;
      datalist.append(option);
    }
  }

  nameOf(code) {
    return this.countries.find((country) => country.code === code)?.name || "";
  }

  // The alpha-3 code of what the applicant typed or picked; null when it names no country.
  codeOf(text) {
    const simple = simplify(text || "");
    if (this.byText.has(simple)) return this.byText.get(simple);
    // Without the list (it failed to load) a code still works; the server checks it.
    if (!this.countries.length && /^[a-z]{2,3}$/.test(simple)) return simple.toUpperCase();
    return null;
  }
}
