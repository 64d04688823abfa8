"""ICAO 9303 rules on synthetic MRZs built here (no real person's data): visas, long document
numbers, unknown birth dates, codes and sex, each with its check digits computed."""

from __future__ import annotations

import datetime as dt

from gateway.verification.documents.mrz import SPANS, check_digit, parse_mrz
from gateway.verification.documents.service import validate_mrz

TODAY = dt.date(2026, 12, 1)


def _digit(data: str) -> str:
    return str(check_digit(data))


def _two_line_zone(
    width: int,
    *,
    code: str = "P<",
    number: str = "X12345678",
    birth: str = "900101",
    sex: str = "F",
    expiry: str = "300101",
    nationality: str = "UTO",
    issuer: str = "UTO",
    name: str = "DOE<<JANE",
    optional: str = "",
    composite: bool = True,
) -> list[str]:
    """A TD3 (44) or TD2 (36) zone, or with ``composite`` False an MRV-A/MRV-B visa zone."""
    line1 = (code + issuer + name).ljust(width, "<")[:width]
    number_field = number.ljust(9, "<")
    line2 = (
        number_field
        + _digit(number_field)
        + nationality
        + birth
        + _digit(birth)
        + sex
        + expiry
        + _digit(expiry)
    )
    if not composite:
        return [line1, (line2 + optional).ljust(width, "<")]
    if width == 44:
        optional_field = optional.ljust(14, "<")
        line2 += optional_field + (_digit(optional_field) if optional.strip("<") else "<")
    else:
        line2 += optional.ljust(7, "<")
    line2 += _digit(line2[0:10] + line2[13:20] + line2[21:])
    return [line1, line2]


def _statuses(result: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in result["checks"]}


def test_an_mrv_a_visa_has_no_composite_digit_and_is_valid():
    lines = _two_line_zone(44, code="V<", optional="AB12CD34EF56GH78", composite=False)
    reading = parse_mrz(lines, repair=False)
    assert reading.layout == "MRV-A"
    assert reading.fields["optional_data"] == "AB12CD34EF56GH78"
    assert {c.name for c in reading.check_digits} == {
        "document_number",
        "birth_date",
        "expiry_date",
    }
    assert reading.all_check_digits_valid
    result = validate_mrz("\n".join(lines), today=TODAY)
    assert result["document_valid"] is True, result["checks"]
    assert result["fields"]["document_type"] == "visa"
    assert "mrz_check_digit:composite" not in _statuses(result)


def test_an_mrv_b_visa_has_no_composite_digit_and_is_valid():
    lines = _two_line_zone(36, code="VD", optional="ZX98WV76", composite=False)
    reading = parse_mrz(lines, repair=False)
    assert reading.layout == "MRV-B"
    assert reading.fields["optional_data"] == "ZX98WV76"
    assert reading.all_check_digits_valid
    assert validate_mrz("\n".join(lines), today=TODAY)["document_valid"] is True


def test_a_visa_with_a_wrong_digit_is_still_caught():
    lines = _two_line_zone(44, code="V<", composite=False)
    lines[1] = lines[1][:19] + str((int(lines[1][19]) + 1) % 10) + lines[1][20:]
    result = validate_mrz("\n".join(lines), today=TODAY)
    assert result["document_valid"] is False
    assert _statuses(result)["mrz_check_digit:birth_date"] == "fail"


def test_a_visa_read_with_ocr_repair_keeps_its_layout():
    lines = _two_line_zone(44, code="V<", composite=False)
    lines[1] = lines[1][:14] + "O" + lines[1][15:]  # an O read in the birth date
    reading = parse_mrz(lines)
    assert reading.layout == "MRV-A"
    assert reading.fields["birth_date"] == "900101"
    assert reading.all_check_digits_valid


def _long_number_td1(number: str, rest: str = "") -> list[str]:
    """A TD1 whose number runs past 9 characters: '<' in position 15, the rest of the number,
    its digit and a filler in the optional data (ICAO 9303-5)."""
    line1 = f"I<UTO{number[:9]}<{number[9:]}{_digit(number)}<{rest}".ljust(30, "<")
    head = f"900101{_digit('900101')}F300101{_digit('300101')}UTO" + "<" * 11
    composite = _digit(line1[5:30] + head[0:7] + head[8:15] + head[18:29])
    return [line1, head + composite, "DOE<<JANE".ljust(30, "<")]


def test_a_long_td1_number_is_whole_and_kept_out_of_the_optional_data():
    reading = parse_mrz(_long_number_td1("AB123456789", rest="Q7"), repair=False)
    assert reading.fields["document_number"] == "AB123456789"
    assert reading.all_check_digits_valid
    # the number's tail and its digit are no optional data (nor a leak of the number there)
    assert reading.fields["optional_data"].strip("<") == "Q7"
    result = validate_mrz("\n".join(_long_number_td1("AB1234567890")), today=TODAY)
    assert result["document_valid"] is True
    assert result["fields"]["document_number"] == "AB1234567890"
    assert result["fields"]["optional_data"] is None


def test_a_long_td2_number_continues_in_the_optional_data():
    # ICAO 9303-6: as on TD1, '<' in position 10, the rest of the number and its digit in 29-35
    number = "AB1234567890"
    lines = _two_line_zone(36, code="I<", number=number[:9], optional=number[9:] + _digit(number))
    lines[1] = lines[1][:9] + "<" + lines[1][10:]
    lines[1] = lines[1][:35] + _digit(lines[1][0:10] + lines[1][13:20] + lines[1][21:35])
    reading = parse_mrz(lines, repair=False)
    assert reading.fields["document_number"] == number
    assert reading.all_check_digits_valid
    assert reading.fields["optional_data"].strip("<") == ""
    assert validate_mrz("\n".join(lines), today=TODAY)["document_valid"] is True


def test_a_long_number_with_a_wrong_digit_fails():
    lines = _long_number_td1("AB1234567890")
    wrong = str((int(lines[0][18]) + 1) % 10)
    lines[0] = lines[0][:18] + wrong + lines[0][19:]
    reading = parse_mrz(lines, repair=False)
    assert {c.name: c.valid for c in reading.check_digits}["document_number"] is False


def test_a_birth_date_with_unknown_day_or_month_passes_its_check_digit():
    # ICAO 9303-3: unknown parts of a date of birth are fillers in the MRZ ('<' weighs 0)
    for birth in ("9001<<", "90<<<<", "<<<<<<"):
        lines = _two_line_zone(44, birth=birth)
        reading = parse_mrz(lines, repair=False)
        assert reading.all_check_digits_valid, birth
        result = validate_mrz("\n".join(lines), today=TODAY)
        statuses = _statuses(result)
        assert statuses["mrz_check_digit:birth_date"] == "pass", birth
        assert statuses["mrz_fields"] == "pass", birth
        assert result["fields"]["birth_date"] is None  # no ISO date to give
    # a filler check digit is accepted only over a wholly unknown date
    lines = _two_line_zone(44, birth="<<<<<<")
    lines[1] = lines[1][:19] + "<" + lines[1][20:]
    lines[1] = lines[1][:43] + _digit(lines[1][0:10] + lines[1][13:20] + lines[1][21:43])
    assert parse_mrz(lines, repair=False).all_check_digits_valid


def test_an_unknown_birth_day_still_decides_the_minimum_age_when_the_month_settles_it():
    # born some day of January 1990: 36 on any of them
    result = validate_mrz("\n".join(_two_line_zone(44, birth="9001<<")), today=TODAY)
    assert _statuses(result)["minimum_age"] == "pass"
    assert _statuses(result)["birth_before_expiry"] == "pass"
    assert result["document_valid"] is True
    # born in 2008 (month and day unknown): 18 or 17 on 2026-12-01, a person must look
    result = validate_mrz("\n".join(_two_line_zone(44, birth="08<<<<")), today=TODAY)
    assert _statuses(result)["minimum_age"] == "not_checked"
    # born in January 2009: 17 whatever the day
    result = validate_mrz("\n".join(_two_line_zone(44, birth="0901<<")), today=TODAY)
    assert _statuses(result)["minimum_age"] == "fail"
    # a wholly unknown date of birth decides nothing
    result = validate_mrz("\n".join(_two_line_zone(44, birth="<<<<<<")), today=TODAY)
    assert _statuses(result)["minimum_age"] == "not_checked"


def test_letters_or_half_known_pairs_in_a_date_still_fail():
    # 'XX' is how a visual zone shows an unknown day; in the MRZ it is a filler
    for birth in ("9001XX", "9001<1", "9<0101"):
        lines = _two_line_zone(44, birth=birth)
        reading = parse_mrz(lines, repair=False)
        assert {c.name: c.valid for c in reading.check_digits}["birth_date"] is False, birth


def test_an_expiry_of_fillers_is_no_failed_digit_but_leaves_the_expiry_to_a_person():
    lines = _two_line_zone(44, expiry="<<<<<<")
    reading = parse_mrz(lines, repair=False)
    assert reading.all_check_digits_valid
    result = validate_mrz("\n".join(lines), today=TODAY)
    statuses = _statuses(result)
    assert statuses["mrz_check_digit:expiry_date"] == "pass"
    assert statuses["expiry"] == "not_checked"
    assert "no expiry date" in next(c for c in result["checks"] if c["name"] == "expiry")["detail"]
    assert result["document_valid"] is False  # expiry is a defining check: never assumed


def test_the_days_a_partly_known_birth_date_can_be():
    from gateway.verification.documents.normalize import birth_date_range

    day = dt.date
    assert birth_date_range("0002<<", TODAY) == (day(2000, 2, 1), day(2000, 2, 29))
    assert birth_date_range("9012<<", TODAY) == (day(1990, 12, 1), day(1990, 12, 31))
    assert birth_date_range("90<<<<", TODAY) == (day(1990, 1, 1), day(1990, 12, 31))
    assert birth_date_range("2612<<", TODAY) == (day(2026, 12, 1), TODAY)  # not after today
    assert birth_date_range("27<<<<", TODAY) == (day(1927, 1, 1), day(1927, 12, 31))
    for value in ("9013<<", "900101", "<<<<<<", "9001XX", "9<0101"):
        assert birth_date_range(value, TODAY) is None, value


def test_sex_is_m_f_x_or_unspecified():
    for sex in ("M", "F", "<", "X"):
        result = validate_mrz("\n".join(_two_line_zone(44, sex=sex)), today=TODAY)
        assert _statuses(result)["mrz_sex"] == "pass", sex
        assert result["document_valid"] is True, sex
    result = validate_mrz("\n".join(_two_line_zone(44, sex="Q")), today=TODAY)
    assert _statuses(result)["mrz_sex"] == "fail"
    assert result["document_valid"] is False


def test_the_document_code_starts_with_p_i_a_c_or_v():
    for code in ("P<", "PD", "I<", "ID", "AC", "C1", "IR"):
        result = validate_mrz("\n".join(_two_line_zone(44, code=code)), today=TODAY)
        assert _statuses(result)["mrz_document_code"] == "pass", code
        assert result["document_valid"] is True, code
    for code in ("X<", "<<", "<P", "B1"):
        result = validate_mrz("\n".join(_two_line_zone(44, code=code)), today=TODAY)
        assert _statuses(result)["mrz_document_code"] == "fail", code
        assert result["document_valid"] is False, code


def test_a_code_the_reader_was_unsure_of_is_for_a_person_not_a_failure():
    from gateway.verification.documents.service import _code_checks

    reading = parse_mrz(_two_line_zone(44, sex="H"), repair=False)  # an M the OCR doubted
    reading.field_status["sex"] = "uncertain"
    statuses = {c["name"]: c["status"] for c in _code_checks(reading)}
    assert statuses == {"mrz_document_code": "pass", "mrz_sex": "uncertain"}


def test_icao_codes_that_are_no_iso_codes_are_accepted_where_icao_allows_them():
    issuers = ("D<<", "UNO", "UNA", "UNK", "EUE", "RKS", "XOM", "XPO", "XCO", "XMP", "XDC", "XBA")
    for issuer in issuers:
        result = validate_mrz("\n".join(_two_line_zone(44, issuer=issuer)), today=TODAY)
        assert _statuses(result)["mrz_country:issuing_state"] == "pass", issuer
    holders = ("D<<", "GBD", "GBN", "GBO", "GBP", "GBS", "UNO", "UNA", "UNK", "RKS")
    for nationality in (*holders, "XXA", "XXB", "XXC", "XXX"):
        lines = _two_line_zone(44, nationality=nationality)
        result = validate_mrz("\n".join(lines), today=TODAY)
        assert _statuses(result)["mrz_country:nationality"] == "pass", nationality
        assert result["document_valid"] is True, nationality


def test_a_stateless_or_refugee_code_is_a_nationality_never_an_issuer():
    # XXA-XXX describe the holder; the document is issued by a state or an organisation
    for code in ("XXA", "XXB", "XXC", "XXX"):
        result = validate_mrz("\n".join(_two_line_zone(44, issuer=code)), today=TODAY)
        assert _statuses(result)["mrz_country:issuing_state"] == "fail", code
        assert result["document_valid"] is False


def test_given_fields_apply_the_same_issuer_rule():
    from gateway.verification.documents.service import validate_fields

    fields = {"issuing_state": "XXA", "nationality": "XXA", "expiry_date": "2030-01-01"}
    statuses = _statuses(validate_fields(fields, today=TODAY))
    assert statuses["country:issuing_state"] == "fail"
    assert statuses["country:nationality"] == "pass"


def test_character_values_and_the_7_3_1_weights():
    # '<' is 0, digits themselves, A=10 ... Z=35, weighted 7, 3, 1 from the left, modulo 10
    assert check_digit("<") == 0
    assert check_digit("A") == 0  # 10 * 7
    assert check_digit("B") == 7  # 11 * 7
    assert check_digit("Z") == 5  # 35 * 7
    assert check_digit("AB<") == 3  # 70 + 33 + 0
    assert check_digit("<<1") == 1 and check_digit("<1") == 3 and check_digit("1") == 7
    assert check_digit("ZZZZ") == (35 * 7 + 35 * 3 + 35 + 35 * 7) % 10


def _composite_positions(lines: list[str]) -> set[tuple[int, int]]:
    """The 1-based (line, position) cells whose change changes the composite verdict."""
    composite = SPANS[parse_mrz(lines, repair=False).layout]["composite_check"]
    covered = set()
    for line_number, line in enumerate(lines):
        for column, char in enumerate(line):
            if (line_number, column) == (composite.line, composite.start):
                continue
            # '7' weighs 7 at weight 1 and 1 at weights 7 and 3 (mod 10): never the same as '3'
            new = "7" if char != "7" else "3"
            trial = list(lines)
            trial[line_number] = line[:column] + new + line[column + 1 :]
            digits = {c.name: c.valid for c in parse_mrz(trial, repair=False).check_digits}
            if not digits["composite"]:
                covered.add((line_number + 1, column + 1))
    return covered


def _cells(line: int, *ranges: tuple[int, int]) -> set[tuple[int, int]]:
    return {(line, p) for first, last in ranges for p in range(first, last + 1)}


def test_the_composite_digit_covers_what_icao_says_in_each_layout():
    td3 = _two_line_zone(44, optional="AB12")
    assert _composite_positions(td3) == _cells(2, (1, 10), (14, 20), (22, 43))
    td2 = _two_line_zone(36, code="I<", optional="AB12")
    assert _composite_positions(td2) == _cells(2, (1, 10), (14, 20), (22, 35))
    td1 = _long_number_td1("AB1234567890", rest="Q7")
    assert _composite_positions(td1) == _cells(1, (6, 30)) | _cells(2, (1, 7), (9, 15), (19, 29))


def test_td3_optional_data_digit_is_filler_only_over_an_empty_field():
    assert parse_mrz(_two_line_zone(44), repair=False).all_check_digits_valid  # '<' over '<'s
    zeroed = _two_line_zone(44)
    zeroed[1] = zeroed[1][:42] + "0" + zeroed[1][43:]  # '0' there is the same digit
    assert parse_mrz(zeroed, repair=False).all_check_digits_valid
    filled = _two_line_zone(44, optional="AB12")
    filled[1] = filled[1][:42] + "<" + filled[1][43:]
    filled[1] = filled[1][:43] + _digit(filled[1][0:10] + filled[1][13:20] + filled[1][21:43])
    digits = {c.name: c.valid for c in parse_mrz(filled, repair=False).check_digits}
    assert digits == {
        "document_number": True,
        "birth_date": True,
        "expiry_date": True,
        "optional_data": False,
        "composite": True,
    }


def test_names_primary_secondary_inner_fillers_and_truncation():
    cases = {
        "DOE<<JANE": ("DOE", "JANE", False),
        "VAN<DER<BERG<<ANNA<MARIA": ("VAN DER BERG", "ANNA MARIA", False),
        "ERIKSSON": ("ERIKSSON", "", False),  # a primary identifier only
        "ABCDEFGHIJKLMNOPQRST<<UVWXYZABCDEFGHIJKLM": (
            "ABCDEFGHIJKLMNOPQRST",
            "UVWXYZABCDEFGHIJK",
            True,
        ),
    }
    for name, (surname, given, cut) in cases.items():
        result = validate_mrz("\n".join(_two_line_zone(44, name=name)), today=TODAY)
        fields = result["fields"]
        assert (fields["surname"], fields["given_names"]) == (surname, given), name
        assert fields["names_truncated"] is cut, name
    td1 = _long_number_td1("AB1234567890")
    td1[2] = "ABCDEFGHIJKLMNOPQ<<RSTUVWXYZAB"
    fields = validate_mrz("\n".join(td1), today=TODAY)["fields"]
    assert (fields["surname"], fields["given_names"], fields["names_truncated"]) == (
        "ABCDEFGHIJKLMNOPQ",
        "RSTUVWXYZAB",
        True,
    )


def test_two_digit_years_pivot_birth_into_the_past_and_expiry_ahead():
    fields = validate_mrz(
        "\n".join(_two_line_zone(44, birth="261201", expiry="761130")), today=TODAY
    )
    assert fields["fields"]["birth_date"] == "2026-12-01"  # today: this century
    assert fields["fields"]["expiry_date"] == "2076-11-30"
    fields = validate_mrz(
        "\n".join(_two_line_zone(44, birth="261202", expiry="770101")), today=TODAY
    )
    assert fields["fields"]["birth_date"] == "1926-12-02"  # tomorrow: the last century
    assert fields["fields"]["expiry_date"] == "1977-01-01"


def test_a_visa_whose_v_the_ocr_misread_is_decoded_as_a_visa_once_repaired():
    lines = _two_line_zone(44, code="V<", composite=False)
    lines[0] = "Y" + lines[0][1:]  # no document kind: the OCR offered V as well
    reading = parse_mrz(lines, alternatives={(0, 0): "V"})
    assert reading.fields["document_code"] == "V"
    assert reading.layout == "MRV-A"
    assert reading.all_check_digits_valid
