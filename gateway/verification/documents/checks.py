"""The document checks, each reported as its own ``{name, status, detail}``.

A check that lacks its inputs is ``not_checked`` with the reason, never ``pass``: an unread expiry
date must not look like a valid one. Details never repeat names or numbers (they reach logs and
webhooks); they say what was compared and how it came out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from gateway.verification import names

PASS, FAIL, NOT_CHECKED = "pass", "fail", "not_checked"
# Read, but not surely: a person must confirm it. Never counts as passed.
UNCERTAIN = "uncertain"


def check(name: str, status: str, detail: str) -> dict[str, str]:
    return {"name": name, "status": status, "detail": detail}


def check_expiry(expiry: dt.date | None, today: dt.date) -> dict[str, str]:
    if expiry is None:
        return check("expiry", NOT_CHECKED, "expiry date not read")
    if expiry < today:
        return check("expiry", FAIL, f"document expired {(today - expiry).days} day(s) ago")
    return check("expiry", PASS, f"valid for {(expiry - today).days} more day(s)")


def check_birth_before_expiry(birth: dt.date | None, expiry: dt.date | None) -> dict[str, str]:
    name = "birth_before_expiry"
    if birth is None or expiry is None:
        return check(name, NOT_CHECKED, "birth or expiry date not read")
    if birth < expiry:
        return check(name, PASS, "date of birth precedes expiry")
    return check(name, FAIL, "date of birth is not before the expiry date")


def age_on(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def check_minimum_age(birth: dt.date | None, today: dt.date, min_age: int) -> dict[str, str]:
    name = "minimum_age"
    if birth is None:
        return check(name, NOT_CHECKED, "date of birth not read")
    if birth > today:
        return check(name, FAIL, "date of birth is in the future")
    age = age_on(birth, today)
    if age >= min_age:
        return check(name, PASS, f"age {age} >= {min_age}")
    return check(name, FAIL, f"age {age} < {min_age}")


def check_birth_range(
    earliest: dt.date, latest: dt.date, expiry: dt.date | None, today: dt.date, min_age: int
) -> list[dict[str, str]]:
    """``birth_before_expiry`` and ``minimum_age`` for a birth date known only to lie between
    two days (an unknown day or month): decided where every day between gives the same answer,
    else ``not_checked`` for a person."""
    partly = "date of birth partly unknown"
    if expiry is None:
        order = check("birth_before_expiry", NOT_CHECKED, "birth or expiry date not read")
    elif latest < expiry:
        order = check("birth_before_expiry", PASS, "date of birth precedes expiry")
    elif earliest >= expiry:
        order = check("birth_before_expiry", FAIL, "date of birth is not before the expiry date")
    else:
        order = check("birth_before_expiry", NOT_CHECKED, f"{partly}: may be after expiry")
    youngest, oldest = age_on(latest, today), age_on(earliest, today)
    if youngest >= min_age:
        age = check("minimum_age", PASS, f"age at least {youngest} >= {min_age}")
    elif oldest < min_age:
        age = check("minimum_age", FAIL, f"age at most {oldest} < {min_age}")
    else:
        age = check("minimum_age", NOT_CHECKED, f"{partly}: age {youngest} to {oldest}")
    return [order, age]


def check_digits(check_digit_results: list[Any]) -> list[dict[str, str]]:
    """One check per ICAO check digit (``mrz_check_digit:<field>``)."""
    out = []
    for result in check_digit_results:
        name = f"mrz_check_digit:{result.name}"
        if result.valid:
            out.append(check(name, PASS, "check digit agrees"))
        else:
            out.append(
                check(name, FAIL, f"printed {result.expected!r}, computed {result.computed}")
            )
    return out


def mrz_field_certainty(field_status: Mapping[str, str]) -> dict[str, str]:
    """One check over the per-field verdicts of an MRZ read, naming the fields a person must
    confirm (``uncertain``: a close glyph the check digits cannot rule out, or a field with no
    check digit read without a clear lead). Failed digits are reported by their own checks."""
    uncertain = [name for name, status in field_status.items() if status == "uncertain"]
    invalid = [name for name, status in field_status.items() if status == "invalid"]
    if uncertain:
        return check("mrz_fields", UNCERTAIN, "a person must confirm: " + ", ".join(uncertain))
    if invalid:
        return check("mrz_fields", FAIL, "check digit disagrees: " + ", ".join(invalid))
    return check("mrz_fields", PASS, "every field read clearly and its check digits agree")


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, ""):
            return value
    return None


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _compact_number(value: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", value.upper())


def _fold_confusions(value: str) -> str:
    return _compact_number(value).translate(str.maketrans("OQDIL5SB8Z", "0001155882"))


def compare_with_applicant(
    fields: Mapping[str, Any],
    applicant: Mapping[str, Any] | None,
    *,
    prefix: str = "applicant",
    names_truncated: bool = False,
) -> list[dict[str, str]]:
    """The document's fields against what the partner sent (name, date of birth, number).

    Accepted applicant keys: ``first_name``/``given_names``, ``last_name``/``surname``,
    ``full_name``, ``date_of_birth``/``birth_date`` (ISO 8601), ``document_number``.
    """
    if not applicant:
        return []
    out = []
    given = _first(applicant, "given_names", "first_name")
    surname = _first(applicant, "surname", "last_name")
    full = _first(applicant, "full_name", "name")
    read_surname, read_given = fields.get("surname") or "", fields.get("given_names") or ""
    if surname or given or full:
        if not (read_surname or read_given):
            out.append(check(f"{prefix}_name", NOT_CHECKED, "name not read from the document"))
        else:
            if surname or given:
                comparison = names.compare_names(
                    given, surname, read_given, read_surname, read_cut=names_truncated
                )
            else:
                comparison = names.compare_whole_names(full, f"{read_given} {read_surname}")
            out.append(names.as_check(f"{prefix}_name", comparison))
    expected_birth = _as_date(_first(applicant, "date_of_birth", "birth_date"))
    if _first(applicant, "date_of_birth", "birth_date") is not None:
        read_birth = _as_date(fields.get("birth_date"))
        if expected_birth is None:
            out.append(check(f"{prefix}_birth_date", NOT_CHECKED, "partner date is not ISO 8601"))
        elif read_birth is None:
            out.append(check(f"{prefix}_birth_date", NOT_CHECKED, "date of birth not read"))
        else:
            same = expected_birth == read_birth
            out.append(
                check(
                    f"{prefix}_birth_date",
                    PASS if same else FAIL,
                    "date of birth matches" if same else "date of birth differs",
                )
            )
    expected_number = _first(applicant, "document_number")
    if expected_number is not None:
        read_number = fields.get("document_number") or ""
        if not read_number:
            out.append(check(f"{prefix}_document_number", NOT_CHECKED, "number not read"))
        else:
            same = _compact_number(str(expected_number)) == _compact_number(read_number)
            out.append(
                check(
                    f"{prefix}_document_number",
                    PASS if same else FAIL,
                    "document number matches" if same else "document number differs",
                )
            )
    return out


def compare_visual_with_mrz(
    visual: Mapping[str, Any], mrz: Mapping[str, Any], *, names_truncated: bool = False
) -> list[dict[str, str]]:
    """Visual zone against MRZ, for each field both zones yielded (nothing read: no check)."""
    out = []
    for key in ("surname", "given_names"):
        if visual.get(key) and mrz.get(key):
            ok = names.names_match(
                str(visual[key]), str(mrz[key]), read_may_be_truncated=names_truncated
            ) or names.close_spellings(str(visual[key]), str(mrz[key]))
            out.append(
                check(
                    f"visual_vs_mrz:{key}",
                    PASS if ok else FAIL,
                    "zones agree" if ok else "visual zone and MRZ differ",
                )
            )
    for key in ("birth_date", "expiry_date", "sex", "nationality"):
        if visual.get(key) and mrz.get(key):
            ok = str(visual[key]).upper() == str(mrz[key]).upper()
            out.append(
                check(
                    f"visual_vs_mrz:{key}",
                    PASS if ok else FAIL,
                    "zones agree" if ok else "visual zone and MRZ differ",
                )
            )
    if visual.get("document_number") and mrz.get("document_number"):
        # visual-zone OCR reads a proportional font: fold its 0/O, 1/I, 5/S, 8/B confusions
        ok = _fold_confusions(str(visual["document_number"])) == _fold_confusions(
            str(mrz["document_number"])
        )
        out.append(
            check(
                "visual_vs_mrz:document_number",
                PASS if ok else FAIL,
                "zones agree" if ok else "visual zone and MRZ differ",
            )
        )
    return out
