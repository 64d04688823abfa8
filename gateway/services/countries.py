"""Country names for the hosted flow's issuing-country list, in the applicant's language.

The data is ISO 3166-1 as the ``pycountry`` package ships it (maintained, with the Debian
iso-codes gettext translations inside the package), never a list written here. The applicant
picks a name; the page sends the alpha-3 code, which the server validates again
(``capture_rules.normalize_country``).
"""

from __future__ import annotations

import gettext
import unicodedata
from functools import cache

import pycountry


def _sort_key(name: str) -> str:
    """Accents ignored, case folded: "Émirats" sorts with the E's, as a reader expects."""
    decomposed = unicodedata.normalize("NFD", name)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


@cache
def country_choices(lang: str) -> tuple[dict[str, str], ...]:
    """Every ISO 3166-1 country as ``{code (alpha-3), alpha_2, name}``, sorted by its name in
    ``lang``. The short name people use ("Bolivia", "Corée du Sud") is preferred to the formal
    one ("Bolivia, Plurinational State of"); an untranslated name stays in English."""
    translation = gettext.translation(
        "iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True
    )
    choices = [
        {
            "code": country.alpha_3,
            "alpha_2": country.alpha_2,
            "name": translation.gettext(getattr(country, "common_name", None) or country.name),
        }
        for country in pycountry.countries
    ]
    return tuple(sorted(choices, key=lambda choice: _sort_key(choice["name"])))
