"""The document service's entry points on typed MRZs, given fields and generated photos."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
import pytest

from gateway.errors import ValidationFailed
from gateway.synthetic.degrade import degrade
from gateway.synthetic.documents import make_id_card, make_passport
from gateway.synthetic.ktp import make_ktp
from gateway.verification.documents import service
from gateway.verification.documents.service import analyze_document, validate_fields, validate_mrz

SPECIMEN = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
)
TODAY = dt.date(2026, 11, 23)


def _statuses(result):
    return {c["name"]: c["status"] for c in result["checks"]}


def test_specimen_valid_before_its_expiry():
    result = validate_mrz(SPECIMEN, today=dt.date(2010, 1, 1))
    assert result["document_valid"] is True
    assert result["confidence"] == 1.0
    assert result["fields"]["birth_date"] == "1974-08-12"
    assert result["fields"]["expiry_date"] == "2012-04-15"
    assert result["fields"]["document_type"] == "passport"


def test_specimen_expired_today():
    result = validate_mrz(SPECIMEN, today=TODAY)
    assert result["document_valid"] is False
    assert _statuses(result)["expiry"] == "fail"
    assert _statuses(result)["mrz_check_digit:composite"] == "pass"


def test_corrupted_check_digit_is_a_failed_check():
    corrupted = SPECIMEN.replace("7408122F", "7408123F")
    result = validate_mrz(corrupted, today=dt.date(2010, 1, 1))
    assert result["document_valid"] is False
    assert _statuses(result)["mrz_check_digit:birth_date"] == "fail"
    assert _statuses(result)["mrz_check_digit:composite"] == "fail"


@pytest.mark.parametrize("text", ["", "   ", "P<UTO\nL898", SPECIMEN.replace("ANNA", "An#a")])
def test_malformed_mrz_is_a_validation_error(text):
    with pytest.raises(ValidationFailed):
        validate_mrz(text)


def test_applicant_and_minimum_age_from_the_partner():
    applicant = {"first_name": "Anna Maria", "last_name": "Eriksson", "date_of_birth": "1974-08-12"}
    result = validate_mrz(SPECIMEN, applicant=applicant, today=dt.date(2010, 1, 1), min_age=40)
    statuses = _statuses(result)
    assert statuses["applicant_name"] == "pass"
    assert statuses["applicant_birth_date"] == "pass"
    assert statuses["minimum_age"] == "fail"  # 35 in 2010
    assert result["document_valid"] is False


def test_validate_fields_with_a_nik():
    fields = {"nik": "3273025708950123", "birth_date": "1995-08-17", "sex": "F",
              "expiry_date": "2030-01-01", "nationality": "IDN"}  # fmt: skip
    result = validate_fields(fields, today=TODAY)
    assert result["document_valid"] is True
    assert _statuses(result)["nik_sex"] == "pass"
    bad = validate_fields({**fields, "nik": "3273021708950123"}, today=TODAY)  # a man's NIK
    assert bad["document_valid"] is False
    assert _statuses(bad)["nik_sex"] == "fail"


def test_validate_fields_rejects_non_iso_dates():
    with pytest.raises(ValidationFailed):
        validate_fields({"birth_date": "17/08/1995"})
    with pytest.raises(ValidationFailed):
        validate_fields({})


def test_validate_fields_without_anything_decisive_is_not_valid():
    result = validate_fields({"nationality": "FRA"}, today=TODAY)
    assert result["document_valid"] is False  # expiry unknown: not_checked is never a pass
    assert _statuses(result)["expiry"] == "not_checked"


def test_photo_without_a_document_is_a_failed_read_not_an_error():
    result = analyze_document(np.full((600, 800, 3), 120, np.uint8), detect_face=False)
    assert result["document_valid"] is False
    assert _statuses(result)["mrz_read"] == "fail"
    assert "document_not_found" in [i["code"] for i in result["quality"]["issues"]]


def test_bad_hint_or_image_is_a_validation_error():
    with pytest.raises(ValidationFailed):
        analyze_document(np.zeros((10, 10, 3), np.uint8), document_hint="library_card")
    with pytest.raises(ValidationFailed):
        analyze_document(np.zeros((10, 10), np.uint8))


@pytest.mark.slow
@pytest.mark.parametrize("maker", [make_passport, make_id_card])
def test_generated_document_read_and_checked(maker):
    doc = maker(np.random.default_rng(12), today=TODAY)
    applicant = {"first_name": doc.fields["given_names"], "last_name": doc.fields["surname"],
                 "date_of_birth": doc.fields["birth_date"],
                 "document_number": doc.fields["document_number"]}  # fmt: skip
    result = analyze_document(doc.image_rgb, applicant=applicant, today=TODAY, detect_face=False)
    assert result["mrz"]["lines"] == list(doc.mrz_lines)
    assert result["document_valid"] is True, result["checks"]
    assert result["fields"]["birth_date"] == doc.fields["birth_date"]
    assert result["fields"]["expiry_date"] == doc.fields["expiry_date"]
    assert result["detected"]["type"] == doc.fields["document_type"]
    assert set(_statuses(result).values()) == {"pass"}


@pytest.mark.slow
def test_degraded_passport_still_read():
    rng = np.random.default_rng(5)
    doc = degrade(make_passport(rng, today=TODAY), rng)
    result = analyze_document(doc.image_rgb, today=TODAY, detect_face=False)
    assert result["mrz"]["lines"] == list(doc.mrz_lines)
    assert result["document_valid"] is True


@pytest.mark.slow
def test_mrz_on_the_back_of_an_id_card():
    card = make_id_card(np.random.default_rng(3), today=TODAY)
    front = make_ktp(np.random.default_rng(3), today=TODAY).image_rgb  # any MRZ-less front
    result = analyze_document(front, card.image_rgb, today=TODAY, detect_face=False,
                              country_hint="UTO")  # fmt: skip
    assert result["mrz"]["lines"] == list(card.mrz_lines)
    assert "from the back" in next(c["detail"] for c in result["checks"] if c["name"] == "mrz_read")


@pytest.mark.slow
def test_the_declared_type_is_checked_against_the_document_read():
    passport = make_passport(np.random.default_rng(14), today=TODAY).image_rgb
    declared = analyze_document(passport, document_hint="passport", today=TODAY, detect_face=False)
    assert _statuses(declared)["document_type"] == "pass"
    assert declared["document_valid"] is True
    wrong = analyze_document(passport, document_hint="id_card", today=TODAY, detect_face=False)
    assert _statuses(wrong)["document_type"] == "fail"
    assert "declared id card" in next(c["detail"] for c in wrong["checks"]
                                      if c["name"] == "document_type")  # fmt: skip
    assert wrong["document_valid"] is False
    undeclared = analyze_document(passport, today=TODAY, detect_face=False)
    assert "document_type" not in _statuses(undeclared)


@pytest.mark.slow
def test_a_declared_card_is_read_from_its_back_first():
    # Both sides carry an MRZ here, so the side read first is the one reported.
    passport = make_passport(np.random.default_rng(15), today=TODAY).image_rgb
    card = make_id_card(np.random.default_rng(15), today=TODAY).image_rgb
    as_card = analyze_document(passport, card, document_hint="id_card", today=TODAY,
                               detect_face=False)  # fmt: skip
    assert as_card["detected"]["type"] == "id_card"
    assert "from the back" in next(
        c["detail"] for c in as_card["checks"] if c["name"] == "mrz_read"
    )
    as_auto = analyze_document(passport, card, today=TODAY, detect_face=False)
    assert as_auto["detected"]["type"] == "passport"


@pytest.mark.slow
def test_a_ktp_is_not_read_as_a_declared_passport():
    ktp = make_ktp(np.random.default_rng(16), today=TODAY).image_rgb
    as_passport = analyze_document(ktp, document_hint="passport", today=TODAY, detect_face=False)
    assert as_passport["detected"]["type"] == "unknown"
    assert _statuses(as_passport)["mrz_read"] == "fail"
    as_card = analyze_document(ktp, document_hint="id_card", today=TODAY, detect_face=False)
    assert as_card["fields"]["nik"]
    assert _statuses(as_card)["document_type"] == "pass"


@pytest.mark.slow
def test_printed_corrupted_check_digit_is_caught():
    rng = np.random.default_rng(9)
    doc = make_passport(rng, today=TODAY)
    line = doc.mrz_lines[1]
    wrong = str((int(line[19]) + 4) % 10)  # birth date check digit
    printed = (doc.mrz_lines[0], line[:19] + wrong + line[20:])
    bad = make_passport(np.random.default_rng(9), today=TODAY, mrz_lines=printed)
    result = analyze_document(bad.image_rgb, today=TODAY, detect_face=False)
    assert result["document_valid"] is False
    assert _statuses(result)["mrz_check_digit:birth_date"] == "fail"


@pytest.mark.slow
def test_ktp_photo_read_with_nik_checks():
    card = make_ktp(np.random.default_rng(6), today=TODAY)
    applicant = {
        "full_name": card.fields["name"].title(),
        "date_of_birth": card.fields["birth_date"],
    }
    result = analyze_document(card.image_rgb, applicant=applicant, today=TODAY, detect_face=False)
    assert result["detected"]["country"] == "IDN"
    assert result["fields"]["nik"] == card.fields["nik"]
    statuses = _statuses(result)
    assert statuses["nik_structure"] == "pass"
    assert statuses["nik_birth_date"] == "pass"
    assert statuses["applicant_name"] == "pass"
    assert result["document_valid"] is True


def test_labelled_visual_zone_text():
    from gateway.verification.documents.visual_zone import parse_labelled_text

    text = """UNITED KINGDOM
Surname / Nom
MÜLLER
Given names / Prénoms
ANNA MARIA
Date of birth / Date de naissance
12.08.1974
Sex / Sexe
F
Document No. / No. du document
X1234567
Date of expiry / Date d'expiration
Nationality / Nationalité
"""
    fields = parse_labelled_text(text)
    assert fields == {
        "surname": "MÜLLER",
        "given_names": "ANNA MARIA",
        "birth_date": "1974-08-12",
        "sex": "F",
        "document_number": "X1234567",
    }  # expiry's value line is another label: not read, so not compared


@pytest.mark.slow
def test_visual_zone_against_mrz_catches_a_swapped_mrz():
    from gateway.synthetic.identities import random_identity, td3_lines

    rng = np.random.default_rng(14)
    genuine = make_passport(rng, today=TODAY)
    result = analyze_document(genuine.image_rgb, today=TODAY, detect_face=False)
    visual_checks = {k: v for k, v in _statuses(result).items() if k.startswith("visual_vs_mrz")}
    assert len(visual_checks) >= 5
    assert set(visual_checks.values()) == {"pass"}
    other = td3_lines(random_identity(np.random.default_rng(99), TODAY))
    forged = make_passport(np.random.default_rng(14), today=TODAY, mrz_lines=other)
    result = analyze_document(forged.image_rgb, today=TODAY, detect_face=False)
    assert _statuses(result)["mrz_check_digit:composite"] == "pass"  # a valid MRZ...
    assert _statuses(result)["visual_vs_mrz:birth_date"] == "fail"  # ...of someone else
    assert result["document_valid"] is False


@pytest.mark.slow
@pytest.mark.parametrize("quarter_turns", [1, 2])
def test_sideways_and_upside_down_photos_are_read(quarter_turns):
    doc = make_id_card(np.random.default_rng(21), today=TODAY)
    turned = np.ascontiguousarray(np.rot90(doc.image_rgb, quarter_turns))
    result = analyze_document(turned, today=TODAY, detect_face=False)
    assert result["mrz"]["lines"] == list(doc.mrz_lines)
    assert result["document_valid"] is True
    assert _statuses(result).get("visual_vs_mrz:surname") == "pass"


@pytest.mark.slow
@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_a_ktp_photographed_sideways_or_upside_down_is_read_upright(quarter_turns):
    card = make_ktp(np.random.default_rng(6), today=TODAY)
    turned = np.ascontiguousarray(np.rot90(card.image_rgb, quarter_turns))
    result = analyze_document(turned, today=TODAY, detect_face=False)
    assert result["fields"]["nik"] == card.fields["nik"]
    assert _statuses(result)["nik_structure"] == "pass"
    assert result["document_valid"] is True
    assert result["front_quarter_turns"] == (4 - quarter_turns) % 4


def _counting_ktp_reads(patch: pytest.MonkeyPatch) -> list[bool]:
    """Patch the service's KTP read to note, for each call, whether it was given an outline."""
    reads: list[bool] = []
    real_read = service.read_ktp

    def counted_read(rgb, card_corners=None):
        reads.append(card_corners is not None)
        return real_read(rgb, card_corners)

    patch.setattr(service, "read_ktp", counted_read)
    return reads


@pytest.mark.slow
@pytest.mark.parametrize(("quarter_turns", "reads"), [(0, 1), (1, 3), (2, 2), (3, 2)])
def test_a_turned_ktp_costs_a_read_per_turn_its_outline_allows(quarter_turns, reads):
    # Upright: the read as given, nothing more. Standing: a quarter turn one way (the right
    # one for 3 quarters), then the other. Lying upside down: one more. Every turned read
    # warps the card by the outline found once, carried over.
    card = make_ktp(np.random.default_rng(6), today=TODAY)
    turned = np.ascontiguousarray(np.rot90(card.image_rgb, quarter_turns))
    with pytest.MonkeyPatch.context() as patch:
        made = _counting_ktp_reads(patch)
        result = analyze_document(turned, today=TODAY, detect_face=False)
    assert result["fields"]["nik"] == card.fields["nik"]
    assert made == [True] * reads


@pytest.mark.slow
def test_an_mrz_less_card_that_is_no_ktp_is_tried_upside_down_once_and_not_read():
    # A landscape outline that gives no NIK as given: one more read, upside down, then nothing.
    card = make_ktp(np.random.default_rng(6), today=TODAY)
    blank = card.image_rgb.copy()
    x, y, w, h = cv2.boundingRect(card.card_corners.astype(np.int32))
    blank[y + h // 8 : y + h - h // 8, x + w // 16 : x + w - w // 16] = 235  # the text wiped
    with pytest.MonkeyPatch.context() as patch:
        made = _counting_ktp_reads(patch)
        result = analyze_document(blank, today=TODAY, detect_face=False)
    assert result["fields"] == {}
    assert result["front_quarter_turns"] == 0
    assert made == [True, True]


@pytest.mark.slow
def test_a_ktp_whose_printed_birth_date_was_not_read_has_its_age_checked_by_the_nik(monkeypatch):
    """OCR missed the "Tempat/Tgl Lahir" line: the minimum age is still checked, on the birth
    date the NIK encodes, not silently left out (the document used to be valid without it)."""
    from gateway.verification.documents import service

    real_read = service.read_ktp

    def read_without_birth_date(*args, **kwargs):
        fields, text = real_read(*args, **kwargs)
        fields.pop("birth_date", None)
        return fields, text

    monkeypatch.setattr(service, "read_ktp", read_without_birth_date)
    card = make_ktp(np.random.default_rng(6), today=TODAY)
    result = analyze_document(card.image_rgb, today=TODAY, min_age=100, detect_face=False)
    statuses = _statuses(result)
    assert statuses["nik_structure"] == "pass"
    assert statuses["nik_birth_date"] == "not_checked"
    assert statuses["minimum_age"] == "fail"
    assert result["document_valid"] is False


@pytest.mark.slow
def test_a_photographed_visa_is_read_without_a_composite_digit():
    # an MRV-A zone printed on a generated page: the reader must not look for a composite
    doc = make_passport(np.random.default_rng(9), today=TODAY)
    line1 = "V<" + doc.mrz_lines[0][2:]
    line2 = doc.mrz_lines[1][:28] + "K7<<<<<<<<<<<<<<"  # optional data to the end, no digits
    visa = make_passport(np.random.default_rng(9), today=TODAY, mrz_lines=(line1, line2))
    result = analyze_document(visa.image_rgb, today=TODAY, detect_face=False)
    assert result["mrz"]["lines"] == [line1, line2]
    assert result["fields"]["mrz_layout"] == "MRV-A"
    assert result["detected"]["type"] == "visa"
    assert "mrz_check_digit:composite" not in _statuses(result)
    assert result["document_valid"] is True, result["checks"]
