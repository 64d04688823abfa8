"""Indonesian KTP: NIK structure (male and female), and reading a generated card."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from gateway.synthetic.ktp import make_ktp, make_nik
from gateway.verification.documents.ktp import check_nik, parse_ktp_text, parse_nik

TODAY = dt.date(2026, 11, 23)


def test_male_nik():
    nik, problems = parse_nik("3171011708900001", TODAY)
    assert problems == []
    assert (nik.province_code, nik.regency_code, nik.district_code) == ("31", "71", "01")
    assert nik.birth_date == dt.date(1990, 8, 17)
    assert nik.sex == "M"
    assert nik.serial == "0001"


def test_female_nik_adds_forty_to_the_day():
    nik, _ = parse_nik("3273025708950123", TODAY)
    assert nik.birth_date == dt.date(1995, 8, 17)
    assert nik.sex == "F"


def test_two_digit_year_resolves_into_the_past():
    nik, _ = parse_nik("3171010101100001", TODAY)
    assert nik.birth_date == dt.date(2010, 1, 1)
    nik, _ = parse_nik("3171010101300001", TODAY)
    assert nik.birth_date == dt.date(1930, 1, 1)


@pytest.mark.parametrize(
    ("nik", "reason"),
    [("317101170890001", "16 digits"), ("31710117089000A1", "16 digits"),
     ("1071011708900001", "province"), ("9971011708900001", "province"),
     ("3100011708900001", "00"), ("3171013208900001", "not a date"),
     ("3171017213900001", "not a date"), ("3171011708900000", "0000")],
)  # fmt: skip
def test_malformed_niks_say_why(nik, reason):
    parsed, problems = parse_nik(nik, TODAY)
    assert parsed is None
    assert reason in "; ".join(problems)


def _statuses(found):
    return {c["name"]: c["status"] for c in found}


def test_nik_against_printed_birth_date_and_sex():
    fields = {"nik": "3273025708950123", "birth_date": "1995-08-17", "sex": "F"}
    assert set(_statuses(check_nik(fields, TODAY)).values()) == {"pass"}
    wrong = {**fields, "sex": "M", "birth_date": "1995-08-18"}
    assert _statuses(check_nik(wrong, TODAY)) == {
        "nik_structure": "pass",
        "nik_birth_date": "fail",
        "nik_sex": "fail",
    }
    assert _statuses(check_nik({}, TODAY)) == {"nik_structure": "not_checked"}
    assert _statuses(check_nik({"nik": "1"}, TODAY)) == {"nik_structure": "fail"}


def test_make_nik_round_trips():
    birth = dt.date(1988, 3, 9)
    for sex in ("M", "F"):
        nik, _ = parse_nik(make_nik("35", "78", "12", birth, sex, 42), TODAY)
        assert (nik.birth_date, nik.sex) == (birth, sex)


def test_parse_ktp_text():
    text = """PROVINSI JAWA BARAT
KOTA BANDUNG
NIK : 3273025708950123
Nama : SITI RAHAYU
Tempat/Tgl Lahir : BANDUNG, 17-08-1995
Jenis Kelamin : PEREMPUAN
Alamat : JL. MAWAR NO. 3
RT/RW : 001/002
Kel/Desa : MENTENG
Kecamatan : KECAMATAN UTARA
Agama : ISLAM
"""
    fields = parse_ktp_text(text)
    assert fields["nik"] == "3273025708950123"
    assert fields["name"] == "SITI RAHAYU"
    assert fields["birth_place"] == "BANDUNG"
    assert fields["birth_date"] == "1995-08-17"
    assert fields["sex"] == "F"
    assert fields["rt_rw"] == "001/002"
    assert fields["province"] == "JAWA BARAT"


@pytest.mark.slow
def test_read_generated_ktp():
    from gateway.verification.documents.ktp import read_ktp
    from gateway.verification.documents.quality import assess_quality

    card = make_ktp(np.random.default_rng(4), today=TODAY)
    fields, _ = read_ktp(card.image_rgb, assess_quality(card.image_rgb).card_corners)
    for key in ("nik", "name", "birth_date", "sex", "address", "religion"):
        assert fields.get(key) == card.fields[key], key
    assert _statuses(check_nik(fields, TODAY))["nik_birth_date"] == "pass"


def test_a_photo_without_a_card_outline_is_read_shrunk(monkeypatch):
    # Tesseract on a whole 4096 px photo took over 20 s; without an outline to warp by, the
    # block read gets the photo at most UNWARPED_MAX_SIDE_PX long.
    from gateway.verification.documents import ktp, tesseract

    seen: list[tuple[int, ...]] = []

    class Engine:
        def read(self, gray):
            seen.append(gray.shape)
            return "", None

    monkeypatch.setattr(tesseract, "engine", lambda *args, **kwargs: Engine())
    ktp.read_ktp(np.zeros((819, 4096, 3), np.uint8))
    ktp.read_ktp(np.zeros((600, 800, 3), np.uint8))
    assert seen == [(320, ktp.UNWARPED_MAX_SIDE_PX), (600, 800)]
