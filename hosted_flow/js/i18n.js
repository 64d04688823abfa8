// The string catalogue (strings.json) is the only place user-visible text lives.
let strings = {};

export async function loadStrings(base, lang) {
  const response = await fetch(`${base}/strings.json`, { credentials: "same-origin" });
  const catalogue = await response.json();
  strings = catalogue[lang] || catalogue.en;
  document.documentElement.lang = catalogue[lang] ? lang : "en";
  return strings;
}

export function t(key, vars = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function has(key) {
  return key in strings;
}

export function applyStrings(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  document.title = t("app_title");
}
