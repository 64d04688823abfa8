"""Turn MRZ and visual-zone values into ISO forms: ISO 8601 dates, ISO 3166 codes, document types.

MRZ dates carry two-digit years, so the century is a judgement: a birth date cannot be in the
future, and an expiry date is read into a window reaching ``EXPIRY_WINDOW_YEARS`` ahead (a 10-year
passport issued today expires within it; anything past it is an old, expired document).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pycountry

EXPIRY_WINDOW_YEARS = 50

# ICAO 9303-3 codes that are not ISO 3166-1 alpha-3 (or are spelled differently in the MRZ).
# Value: (ISO alpha-3 of the country the code belongs to, or None, and a description).
ICAO_CODES: dict[str, tuple[str | None, str]] = {
    "D": ("DEU", "Germany"),
    "GBD": ("GBR", "British Overseas Territories citizen"),
    "GBN": ("GBR", "British National (Overseas)"),
    "GBO": ("GBR", "British Overseas citizen"),
    "GBP": ("GBR", "British protected person"),
    "GBS": ("GBR", "British subject"),
    "UNO": (None, "United Nations Organization"),
    "UNA": (None, "Specialized agency of the United Nations"),
    "UNK": (None, "Resident of Kosovo (UNMIK travel document)"),
    "RKS": (None, "Kosovo"),
    "EUE": (None, "European Union"),
    "XOM": (None, "Sovereign Military Order of Malta"),
    "XPO": (None, "Interpol"),
    "XCC": (None, "Caribbean Community"),
    "XCE": (None, "Council of Europe"),
    "XEC": (None, "Economic Community of West African States"),
    "XES": (None, "Organisation of Eastern Caribbean States"),
    "XBA": (None, "African Development Bank"),
    "XIM": (None, "African Export-Import Bank"),
    "XDC": (None, "Southern African Development Community"),
    "XCO": (None, "Common Market for Eastern and Southern Africa"),
    "XMP": (None, "Partnership in Environmental Management for the Seas of East Asia"),
    "XXA": (None, "Stateless person (1954 Convention)"),
    "XXB": (None, "Refugee (1951 Convention)"),
    "XXC": (None, "Refugee (other than 1951 Convention)"),
    "XXX": (None, "Unspecified nationality"),
    "UTO": (None, "Utopia (ICAO specimen)"),
}


# Codes that describe a holder, never the state or organisation issuing the document (ICAO
# 9303-3: a stateless person or refugee is issued a travel document by a state).
NATIONALITY_ONLY = frozenset({"XXA", "XXB", "XXC", "XXX"})


@dataclass(frozen=True)
class Country:
    """A country or authority code as printed, with its ISO alpha-3 where one exists."""

    code: str
    alpha3: str | None
    name: str
    is_iso: bool

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "alpha3": self.alpha3, "name": self.name, "is_iso": self.is_iso}


def normalize_country(code: str) -> Country | None:
    """An MRZ or visual-zone country code (fillers stripped); None when the code is unknown."""
    cleaned = code.replace("<", "").strip().upper()
    if cleaned in ICAO_CODES:
        alpha3, name = ICAO_CODES[cleaned]
        return Country(cleaned, alpha3, name, is_iso=False)
    if len(cleaned) == 3:
        found = pycountry.countries.get(alpha_3=cleaned)
        if found is not None:
            return Country(cleaned, found.alpha_3, found.name, is_iso=True)
    return None


def _parse_yymmdd(value: str) -> tuple[int, int, int] | None:
    if not re.fullmatch(r"\d{6}", value):
        return None
    return int(value[:2]), int(value[2:4]), int(value[4:6])


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def birth_date(value: str, today: dt.date) -> dt.date | None:
    """YYMMDD birth date in the most recent century that does not put it after ``today``."""
    parts = _parse_yymmdd(value)
    if parts is None:
        return None
    yy, month, day = parts
    century = (today.year // 100) * 100
    candidate = _make_date(century + yy, month, day)
    if candidate is None or candidate > today:
        candidate = _make_date(century - 100 + yy, month, day)
    return candidate


def birth_date_range(value: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The first and last day a birth date with unknown parts can be (ICAO 9303-3 prints them as
    fillers: ``9001<<`` is some day of January 1990, ``90<<<<`` some day of 1990), in the most
    recent century that does not put its first day after ``today``; None when the year is
    unknown or the known parts are no date."""
    match = re.fullmatch(r"(\d\d)(\d\d|<<)(\d\d|<<)", value)
    if match is None or match[0].isdigit():
        return None
    yy = int(match[1])
    month = int(match[2]) if match[2].isdigit() else None
    century = (today.year // 100) * 100
    for year in (century + yy, century - 100 + yy):
        first = _make_date(year, month or 1, 1)
        if first is None:
            return None
        last_month = month or 12
        after = dt.date(year + last_month // 12, last_month % 12 + 1, 1)
        if first <= today:
            return first, min(after - dt.timedelta(days=1), today)
    return None


def expiry_date(value: str, today: dt.date) -> dt.date | None:
    """YYMMDD expiry date in the century window ending ``EXPIRY_WINDOW_YEARS`` after today."""
    parts = _parse_yymmdd(value)
    if parts is None:
        return None
    yy, month, day = parts
    horizon = today.year + EXPIRY_WINDOW_YEARS
    year = (horizon // 100) * 100 + yy
    while year > horizon:
        year -= 100
    return _make_date(year, month, day)


def iso_date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def parse_visual_date(text: str) -> dt.date | None:
    """Dates as printed in visual zones: ``DD.MM.YYYY``, ``DD-MM-YYYY``, ``DD/MM/YYYY``, ISO,
    or ``DD MON YYYY`` (month abbreviations in English)."""
    text = text.strip().upper()
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text):
        return _make_date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{1,2})[./\- ](\d{1,2})[./\- ](\d{4})", text):
        return _make_date(int(m[3]), int(m[2]), int(m[1]))
    if m := re.fullmatch(r"(\d{1,2}) ?([A-Z]{3})[A-Z/]* ?(\d{4})", text):
        months = [
            "JAN",
            "FEB",
            "MAR",
            "APR",
            "MAY",
            "JUN",
            "JUL",
            "AUG",
            "SEP",
            "OCT",
            "NOV",
            "DEC",
        ]
        if m[2] in months:
            return _make_date(int(m[3]), months.index(m[2]) + 1, int(m[1]))
    return None


def normalize_sex(value: str) -> str | None:
    """``M``/``F``/``X`` (``<`` in an MRZ means unspecified: ``X``); None when unreadable."""
    value = value.strip().upper()
    if value in ("M", "F"):
        return value
    if value in ("<", "X"):
        return "X"
    if value in ("L", "LAKI-LAKI", "MALE", "PRIA"):
        return "M"
    if value in ("P", "PEREMPUAN", "FEMALE", "WANITA"):
        return "F"
    return None


# The kinds of document a partner may ask for and an applicant may declare.
DOCUMENT_TYPES = ("passport", "id_card", "driver_license", "residence_permit")
# What a caller of the reader may declare ("auto": not declared).
DOCUMENT_HINTS = ("auto", *DOCUMENT_TYPES)


def document_type(document_code: str) -> str:
    """The kind of document from its ICAO code (9303-4/5/6/7 first letters, second letter free)."""
    code = document_code.replace("<", "").upper()
    if not code:
        return "unknown"
    if code == "AC":
        return "crew_member_certificate"
    if code in ("IR", "AR", "CR"):
        return "residence_permit"
    if code == "DL":
        return "driver_license"
    return {
        "P": "passport",
        "V": "visa",
        "I": "id_card",
        "A": "id_card",
        "C": "id_card",
    }.get(code[0], "unknown")


def clean_name(mrz_name: str) -> str:
    """An MRZ name part with fillers turned to spaces and runs of spaces collapsed."""
    return re.sub(r"\s+", " ", mrz_name.replace("<", " ")).strip()
