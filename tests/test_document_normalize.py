"""Dates, countries, document types and sex as the document service normalises them."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.verification.documents import normalize as N

TODAY = dt.date(2026, 11, 23)


# Two-digit MRZ years: birth dates resolve into the past, expiry dates into the window.
MRZ_DATES = {
    N.birth_date: [("740812", "1974-08-12"), ("051231", "2005-12-31"), ("261123", "2026-11-23"),
                   ("261124", "1926-11-24"), ("000229", "2000-02-29")],
    N.expiry_date: [("340625", "2034-06-25"), ("120415", "2012-04-15"), ("760101", "2076-01-01"),
                    ("770101", "1977-01-01"), ("991231", "1999-12-31")],
}  # fmt: skip


@pytest.mark.parametrize(
    ("resolve", "yymmdd", "expected"),
    [(resolve, *row) for resolve, rows in MRZ_DATES.items() for row in rows],
)
def test_mrz_dates_resolve_into_their_window(resolve, yymmdd, expected):
    assert resolve(yymmdd, TODAY).isoformat() == expected


@pytest.mark.parametrize("value", ["741312", "740832", "74O812", "7408", "<<<<<<"])
def test_impossible_dates_are_none(value):
    assert N.birth_date(value, TODAY) is None
    assert N.expiry_date(value, TODAY) is None


@pytest.mark.parametrize(
    ("code", "alpha3", "is_iso"),
    [("D<<", "DEU", False), ("D", "DEU", False), ("GBD", "GBR", False), ("GBN", "GBR", False),
     ("UTO", None, False), ("XXA", None, False), ("UNO", None, False), ("RKS", None, False),
     ("EUE", None, False), ("FRA", "FRA", True), ("IDN", "IDN", True)],
)  # fmt: skip
def test_countries_iso_and_icao(code, alpha3, is_iso):
    country = N.normalize_country(code)
    assert country is not None
    assert country.alpha3 == alpha3
    assert country.is_iso is is_iso


@pytest.mark.parametrize("code", ["ZZZ", "QQ", "", "DE"])
def test_unknown_countries_are_none(code):
    assert N.normalize_country(code) is None


@pytest.mark.parametrize(
    ("code", "kind"),
    [("P", "passport"), ("PD", "passport"), ("P<", "passport"), ("I", "id_card"),
     ("ID", "id_card"), ("A", "id_card"), ("C<", "id_card"), ("AC", "crew_member_certificate"),
     ("V", "visa"), ("IR", "residence_permit"), ("", "unknown"), ("X", "unknown")],
)  # fmt: skip
def test_document_type_from_code(code, kind):
    assert N.document_type(code) == kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12.08.1974", "1974-08-12"), ("12-08-1974", "1974-08-12"), ("1974-08-12", "1974-08-12"),
     ("12 AUG 1974", "1974-08-12"), ("12 AUG/AOUT 1974", "1974-08-12")],
)  # fmt: skip
def test_visual_zone_dates(text, expected):
    assert N.parse_visual_date(text).isoformat() == expected


def test_visual_zone_nonsense_date_is_none():
    assert N.parse_visual_date("31.02.1990") is None
    assert N.parse_visual_date("yesterday") is None


@pytest.mark.parametrize(
    ("value", "sex"),
    [("M", "M"), ("F", "F"), ("<", "X"), ("LAKI-LAKI", "M"), ("PEREMPUAN", "F"), ("?", None)],
)
def test_sex(value, sex):
    assert N.normalize_sex(value) == sex
