"""ICAO 9303 check digits, the three layouts, and the guarded OCR repair."""

from __future__ import annotations

import pytest

from gateway.errors import ValidationFailed
from gateway.verification.documents.mrz import check_digit, parse_mrz

# ICAO 9303 specimens (Utopia, Anna Maria Eriksson).
TD3 = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]
TD1 = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]
TD2 = [
    "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
    "D231458907UTO7408122F1204159<<<<<<<6",
]


@pytest.mark.parametrize(
    ("data", "digit"),
    [("L898902C3", 6), ("740812", 2), ("120415", 9), ("D23145890", 7), ("<<<<<<", 0)],
)
def test_check_digit_known_answers(data, digit):
    assert check_digit(data) == digit


def test_td3_specimen_parses_with_composite():
    reading = parse_mrz(TD3)
    assert reading.layout == "TD3"
    assert reading.fields["document_number"] == "L898902C3"
    assert reading.fields["surname"] == "ERIKSSON"
    assert reading.fields["given_names"] == "ANNA MARIA"
    assert reading.fields["birth_date"] == "740812"
    assert reading.fields["expiry_date"] == "120415"
    assert reading.fields["optional_data"].startswith("ZE184226B")
    names = {c.name: c.valid for c in reading.check_digits}
    assert names == {
        "document_number": True,
        "birth_date": True,
        "expiry_date": True,
        "optional_data": True,
        "composite": True,
    }
    assert reading.repairs == []


def test_td1_specimen_parses_with_composite():
    reading = parse_mrz("\n".join(TD1))
    assert reading.layout == "TD1"
    assert reading.fields["document_number"] == "D23145890"
    assert reading.fields["nationality"] == "UTO"
    assert reading.fields["sex"] == "F"
    assert reading.all_check_digits_valid


def test_td2_specimen_parses_with_composite():
    reading = parse_mrz(TD2)
    assert reading.layout == "TD2"
    assert reading.fields["document_number"] == "D23145890"
    assert reading.fields["surname"] == "ERIKSSON"
    assert reading.all_check_digits_valid


def test_td1_long_document_number_continues_in_optional_data():
    # 12-character number: '<' in the check position, the rest plus its digit in optional data
    number = "D23145890123"
    digit = check_digit(number)
    line1 = f"I<UTO{number[:9]}<{number[9:]}{digit}".ljust(30, "<")
    line2_head = "7408122F1204159UTO" + "<" * 11
    composite = check_digit(line1[5:30] + line2_head[0:7] + line2_head[8:15] + line2_head[18:29])
    reading = parse_mrz([line1, line2_head + str(composite), TD1[2]])
    assert reading.fields["document_number"] == number
    assert reading.all_check_digits_valid


@pytest.mark.parametrize(
    ("position", "name"),
    [((1, 9), "document_number"), ((1, 19), "birth_date"), ((1, 27), "expiry_date"),
     ((1, 42), "optional_data"), ((1, 43), "composite")],
)  # fmt: skip
def test_corrupted_check_digit_is_a_failed_check_not_an_error(position, name):
    line, column = position
    lines = list(TD3)
    wrong = str((int(lines[line][column]) + 3) % 10)
    lines[line] = lines[line][:column] + wrong + lines[line][column + 1 :]
    reading = parse_mrz(lines, repair=False)
    failed = {c.name for c in reading.check_digits if not c.valid}
    assert name in failed


@pytest.mark.parametrize(
    "lines",
    [
        [TD3[0], TD3[1][:-1]],  # 43 characters
        [TD3[0]],  # one line
        TD1[:2],  # two lines of 30
        [TD3[0].replace("ANNA", "anna"), TD3[1]],  # lower case
        [TD3[0], TD3[1].replace("ZE", "Z-")],  # punctuation
    ],
)
def test_malformed_mrz_raises_validation_failed(lines):
    with pytest.raises(ValidationFailed):
        parse_mrz(lines)


def test_ocr_confusions_repaired_by_field_type_when_digits_agree():
    read = [
        "P<UT0ERIKSS0N<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L8989O2C36UTO74O8122F12O4159ZE184226B<<<<<1O",
    ]
    reading = parse_mrz(read)
    assert list(reading.lines) == TD3
    assert reading.all_check_digits_valid
    repaired = {(r.field, r.read, r.repaired) for r in reading.repairs}
    assert ("birth_date", "O", "0") in repaired
    assert ("document_number", "O", "0") in repaired
    assert ("issuing_state", "0", "O") in repaired
    verified = {r.field: r.verified_by for r in reading.repairs}
    assert verified["birth_date"] == "birth_date_check+composite_check"
    assert verified["name"] is None  # no check digit covers names: typed, not verified


def test_no_repair_where_check_digits_would_not_agree():
    # an S in the document number that is really an S: changing it to 5 breaks the digit
    lines = list(TD3)
    lines[1] = "L898902C37" + lines[1][10:]  # wrong check digit, nothing ambiguous to blame
    reading = parse_mrz(lines)
    assert reading.fields["document_number"] == "L898902C3"
    assert not reading.all_check_digits_valid
    assert not [r for r in reading.repairs if r.field == "document_number"]


def test_ocr_evidence_limits_repairs_to_hesitant_cells():
    # With OCR evidence and no hesitant cell, a wrong check digit is never "fixed" by bending
    # the number: the reading stays as printed and the check fails.
    lines = list(TD3)
    lines[1] = "L8989O2C36" + lines[1][10:]
    without_evidence = parse_mrz(lines)
    assert without_evidence.fields["document_number"] == "L898902C3"
    with_evidence = parse_mrz(lines, alternatives={})
    assert with_evidence.fields["document_number"] == "L8989O2C3"
    assert not with_evidence.all_check_digits_valid
    hesitant = parse_mrz(lines, alternatives={(1, 5): "0"})
    assert hesitant.fields["document_number"] == "L898902C3"
    assert hesitant.all_check_digits_valid


def test_letters_weighing_zero_in_a_date_fail_the_check():
    # A, K and U are 10, 20, 30: the same as 0 modulo 10, so only the field type catches them
    lines = list(TD3)
    lines[1] = lines[1][:13] + "74U812" + lines[1][19:]
    reading = parse_mrz(lines, repair=False)
    assert not {c.name: c.valid for c in reading.check_digits}["birth_date"]
    assert parse_mrz(lines).fields["birth_date"] == "740812"


def test_a_digit_in_a_name_becomes_a_letter_only_where_the_ocr_offered_one():
    lines = list(TD3)
    lines[0] = "P<UTOERIKSS0N" + lines[0][13:]
    assert parse_mrz(lines).fields["surname"] == "ERIKSSON"  # typed text: the usual confusion
    assert parse_mrz(lines, alternatives={(0, 11): "O"}).fields["surname"] == "ERIKSSON"
    # read clearly (no letter offered), the digit stays, and the name is not valid
    kept = parse_mrz(lines, alternatives={})
    assert kept.fields["surname"] == "ERIKSS0N"


def test_a_country_code_that_is_no_code_takes_the_one_code_its_close_glyphs_spell():
    lines = list(TD3)
    lines[0] = "P<UTQ" + lines[0][5:]  # Q for O at a few pixels per character
    repaired = parse_mrz(lines, alternatives={(0, 4): "OG"})
    assert repaired.fields["issuing_state"] == "UTO"
    assert [(r.read, r.repaired, r.verified_by) for r in repaired.repairs] == [
        ("Q", "O", "country_code")
    ]
    # no glyph offered, or typed text: nothing to go on, the code stays
    assert parse_mrz(lines, alternatives={}).fields["issuing_state"] == "UTQ"
    assert parse_mrz(lines).fields["issuing_state"] == "UTQ"


def test_a_country_code_within_reach_of_two_codes_is_not_repaired():
    lines = list(TD3)
    lines[1] = lines[1][:10] + "QBR" + lines[1][13:]
    assert parse_mrz(lines, alternatives={(1, 10): "G"}).fields["nationality"] == "GBR"
    # GBR and GBD (a British dependent territories citizen) both within reach: no choice made
    ambiguous = parse_mrz(lines, alternatives={(1, 10): "G", (1, 12): "D"})
    assert ambiguous.fields["nationality"] == "QBR"
    assert not ambiguous.repairs
