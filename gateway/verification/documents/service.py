"""The document factor's entry points: analyse a photo, validate an MRZ, validate given fields.

Results share one shape, ``{document_valid, checks, confidence, ...}``; every check is its own
``{name, status, detail}``. ``document_valid`` is true only when no check failed and the checks
that define a readable, genuine-looking document (check digits or NIK structure, expiry) passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np

from gateway.errors import ValidationFailed
from gateway.verification.documents import checks as document_checks
from gateway.verification.documents import normalize
from gateway.verification.documents.geometry import order_corners
from gateway.verification.documents.ktp import check_nik, parse_nik, read_ktp
from gateway.verification.documents.mrz import MrzReading, parse_mrz
from gateway.verification.documents.mrz_layout import FILLER
from gateway.verification.documents.mrz_repair import DOCUMENT_KINDS
from gateway.verification.documents.quality import (
    QualityReport,
    assess_quality,
    check_face_on_document,
)
from gateway.verification.documents.reader import MrzOcrResult, read_mrz
from gateway.verification.documents.visual_zone import read_visual_zone as read_labelled_fields

# What a read document may be for each declared kind. Card-sized permits and identity cards share
# the TD1 format and issuers code them either way (I, A, C, IR, AR...), so they count as one.
_MATCHING_TYPES = {
    "passport": frozenset({"passport"}),
    "id_card": frozenset({"id_card", "residence_permit"}),
    "residence_permit": frozenset({"residence_permit", "id_card"}),
    "driver_license": frozenset({"driver_license"}),
}
# Checks that must pass (not merely not fail) for a document to count as valid. A visa
# (MRV-A, MRV-B) has no composite digit: its own digits, which must not fail, stand for it.
_REQUIRED_MRZ = ("mrz_check_digit:composite", "expiry")
_REQUIRED_VISA = ("expiry",)
_REQUIRED_KTP = ("nik_structure",)


def field_status_list(field_status: Mapping[str, str]) -> list[dict[str, str]]:
    """Per-field verdicts as ``[{field, status}]``: field names stay values, never keys, so the
    stored scores' masking (which hides the values of keys such as ``document_number``) leaves
    the verdicts readable to a reviewer."""
    return [{"field": name, "status": status} for name, status in field_status.items()]


def mrz_fields(reading: MrzReading, today: dt.date) -> dict[str, Any]:
    """Normalised fields of a parsed MRZ (ISO dates, ISO 3166 countries, document type)."""
    raw = reading.fields
    issuing = normalize.normalize_country(raw["issuing_state"])
    nationality = normalize.normalize_country(raw["nationality"])
    birth = normalize.birth_date(raw["birth_date"], today)
    expiry = normalize.expiry_date(raw["expiry_date"], today)
    name_line = reading.lines[2] if reading.layout == "TD1" else reading.lines[0]
    return {
        "mrz_layout": reading.layout,
        "document_code": raw["document_code"],
        "document_type": normalize.document_type(raw["document_code"]),
        "issuing_state": issuing.alpha3 if issuing and issuing.alpha3 else raw["issuing_state"],
        "issuing_state_code": raw["issuing_state"].replace("<", ""),
        "nationality": nationality.alpha3 if nationality and nationality.alpha3 else None,
        "nationality_code": raw["nationality"].replace("<", ""),
        "document_number": raw["document_number"],
        "surname": raw["surname"],
        "given_names": raw["given_names"],
        "birth_date": normalize.iso_date(birth),
        "expiry_date": normalize.iso_date(expiry),
        "sex": normalize.normalize_sex(raw["sex"]),
        "optional_data": raw["optional_data"].replace("<", "") or None,
        # a name field with no filler left was cut by the issuer: names compare as prefixes
        "names_truncated": not name_line.endswith("<"),
    }


def _country_checks(reading: MrzReading) -> list[dict[str, str]]:
    out = []
    for key in ("issuing_state", "nationality"):
        code = reading.fields[key]
        found = normalize.normalize_country(code)
        name = f"mrz_country:{key}"
        if found is None:
            out.append(
                document_checks.check(
                    name, document_checks.FAIL, "not an ISO 3166 or ICAO 9303 code"
                )
            )
        elif key == "issuing_state" and found.code in normalize.NATIONALITY_ONLY:
            why = "a nationality code (stateless, refugee or unspecified), not an issuer"
            out.append(document_checks.check(name, document_checks.FAIL, why))
        else:
            kind = "ISO 3166-1" if found.is_iso else "ICAO 9303"
            out.append(document_checks.check(name, document_checks.PASS, f"known {kind} code"))
    return out


# ICAO 9303-3/4: the sex is M, F or '<' (unspecified); X, which some issuers print, reads as
# unspecified too.
_SEXES = ("M", "F", "<", "X")


def _code_checks(reading: MrzReading) -> list[dict[str, str]]:
    """The document code (first letter P, I, A, C or V: ICAO 9303 parts 4-7) and the sex. A
    value outside them fails, unless the reader was unsure of the field: then a person looks."""
    first, sex = reading.lines[0][0], reading.fields["sex"]  # the code as printed: '<P' is none
    found = [
        ("mrz_document_code", first in DOCUMENT_KINDS, "document_code"),
        ("mrz_sex", sex in _SEXES, "sex"),
    ]
    out = []
    for name, ok, field in found:
        if ok:
            out.append(document_checks.check(name, document_checks.PASS, "an ICAO 9303 value"))
        elif reading.field_status.get(field) == "uncertain":
            why = "not an ICAO 9303 value, and read unsurely: a person must confirm"
            out.append(document_checks.check(name, document_checks.UNCERTAIN, why))
        else:
            out.append(document_checks.check(name, document_checks.FAIL, "not an ICAO 9303 value"))
    return out


def _date_checks(
    fields: Mapping[str, Any],
    today: dt.date,
    min_age: int,
    reading: MrzReading | None = None,
) -> list[dict]:
    """``expiry``, ``birth_before_expiry`` and ``minimum_age``; with the MRZ ``reading``, what
    ICAO 9303 lets an MRZ leave out (an expiry of fillers, unknown parts of a birth date) is
    said so, and a birth date known to the month or year still decides what it can."""
    birth = dt.date.fromisoformat(fields["birth_date"]) if fields.get("birth_date") else None
    expiry = dt.date.fromisoformat(fields["expiry_date"]) if fields.get("expiry_date") else None
    if reading is not None and expiry is None and set(reading.fields["expiry_date"]) == {FILLER}:
        expiry_check = document_checks.check(
            "expiry", document_checks.NOT_CHECKED, "the document states no expiry date"
        )
    else:
        expiry_check = document_checks.check_expiry(expiry, today)
    birth_range = None
    if reading is not None and birth is None:
        birth_range = normalize.birth_date_range(reading.fields["birth_date"], today)
    if birth_range is not None:
        return [
            expiry_check,
            *document_checks.check_birth_range(*birth_range, expiry, today, min_age),
        ]
    return [
        expiry_check,
        document_checks.check_birth_before_expiry(birth, expiry),
        document_checks.check_minimum_age(birth, today, min_age),
    ]


def _mrz_sides(
    document_hint: str, front_rgb: np.ndarray, back_rgb: np.ndarray | None
) -> list[tuple[str, np.ndarray]]:
    """The sides to look for an MRZ on, most likely first: a TD1 card prints it on the back, a
    passport on its data page (the front). Saves a failed read (~100-300 ms) on cards."""
    sides = [("front", front_rgb), ("back", back_rgb)]
    if document_hint in ("id_card", "residence_permit"):
        sides.reverse()
    return [(side, image) for side, image in sides if image is not None]


def upright_quarter_turns(result: MrzOcrResult | None, side: str | None) -> int:
    """Counter-clockwise quarter turns that stand the front photo the way its MRZ reads (0: as
    given). The face detector finds upright faces only, so a page photographed sideways or
    upside down had no portrait (a new photo was asked for) or a head-down one (compared, and
    failed). The zone is printed the portrait's way up, and the reader's read comes from the way
    up it ranks best (check digits agreeing, then the glyphs' fit to OCR-B), a check digit
    failing or not: on the real specimen pages at four turns every read named the turn that
    stands its page upright, the three that read with a failing digit included, and so did ten
    synthetic passports with a wrong digit turned over (eval/document_orientation_eval.py).
    The detector's own score cannot tell: turned copies of two upright pages showed it false
    faces (docs/face-match.md). An MRZ read from the back says nothing of the front: as given.
    """
    if result is None or side != "front":
        return 0
    return result.quarter_turns % 4


def _type_check(document_hint: str, read_type: str) -> list[dict[str, str]]:
    """Whether the document read is the kind the applicant (or caller) said it is; nothing to
    check for ``auto``. A passport offered as an identity card is worth a reviewer's look."""
    if document_hint == "auto":
        return []
    if read_type in _MATCHING_TYPES[document_hint]:
        return [
            document_checks.check(
                "document_type", document_checks.PASS, f"a {read_type}, as declared"
            )
        ]
    shown = read_type.replace("_", " ")
    declared = document_hint.replace("_", " ")
    why = f"declared {declared}, but the document read is a {shown}"
    return [document_checks.check("document_type", document_checks.FAIL, why)]


def _required_mrz(reading: MrzReading) -> tuple[str, ...]:
    has_composite = any(c.name == "composite" for c in reading.check_digits)
    return _REQUIRED_MRZ if has_composite else _REQUIRED_VISA


def _verdict(checks: list[dict[str, str]], required: tuple[str, ...]) -> tuple[bool, float]:
    """Valid when nothing failed or is uncertain and the required checks passed; confidence =
    share passed."""
    by_name = {c["name"]: c["status"] for c in checks}
    failed = any(c["status"] in (document_checks.FAIL, document_checks.UNCERTAIN) for c in checks)
    required_ok = all(by_name.get(name) == document_checks.PASS for name in required)
    decided = [c for c in checks if c["status"] != document_checks.NOT_CHECKED]
    share = (
        sum(c["status"] == document_checks.PASS for c in decided) / len(decided) if decided else 0.0
    )
    return (not failed and required_ok), round(share, 3)


def _mrz_checks(
    reading: MrzReading,
    fields: Mapping[str, Any],
    *,
    applicant: Mapping[str, Any] | None,
    min_age: int,
    today: dt.date,
) -> list[dict[str, str]]:
    out = document_checks.check_digits(reading.check_digits)
    out.append(document_checks.mrz_field_certainty(reading.field_status))
    out += _code_checks(reading)
    out += _country_checks(reading)
    out += _date_checks(fields, today, min_age, reading)
    out += document_checks.compare_with_applicant(
        fields, applicant, names_truncated=bool(fields.get("names_truncated"))
    )
    return out


def validate_mrz(
    text: str,
    *,
    applicant: Mapping[str, Any] | None = None,
    min_age: int = 18,
    today: dt.date | None = None,
    repair: bool = False,
) -> dict[str, Any]:
    """Validate MRZ text (lines joined by newlines) as a partner sent it.

    No OCR repair by default: typed text is taken as given, so any wrong check digit fails.
    Malformed text (shape, alphabet) raises ValidationFailed.
    """
    today = today or dt.date.today()
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("mrz is empty", errors={"mrz": {"code": "empty"}})
    reading = parse_mrz(text, repair=repair)
    fields = mrz_fields(reading, today)
    found = _mrz_checks(reading, fields, applicant=applicant, min_age=min_age, today=today)
    valid, confidence = _verdict(found, _required_mrz(reading))
    return {
        "document_valid": valid,
        "checks": found,
        "confidence": confidence,
        "fields": fields,
        "field_status": field_status_list(reading.field_status),
        "repairs": [r.as_dict() for r in reading.repairs],
    }


def validate_fields(
    fields: Mapping[str, Any],
    *,
    applicant: Mapping[str, Any] | None = None,
    min_age: int = 18,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Validate already-extracted fields: dates (ISO 8601), NIK when given, country codes."""
    today = today or dt.date.today()
    if not isinstance(fields, Mapping) or not fields:
        raise ValidationFailed("fields must be a non-empty object", errors={"fields": {}})
    for key in ("birth_date", "expiry_date"):
        value = fields.get(key)
        if value is not None:
            try:
                dt.date.fromisoformat(str(value))
            except ValueError as exc:
                raise ValidationFailed(
                    f"{key} must be an ISO 8601 date (YYYY-MM-DD)",
                    errors={key: {"code": "bad_date", "message": str(value)}},
                ) from exc
    found: list[dict[str, str]] = []
    required: tuple[str, ...] = ("expiry",)
    if fields.get("nik"):
        found += check_nik({k: str(v) for k, v in fields.items()}, today)
        required = _REQUIRED_KTP
    for key in ("issuing_state", "nationality"):
        if fields.get(key):
            country = normalize.normalize_country(str(fields[key]))
            if country is None:
                status, why = document_checks.FAIL, "not an ISO 3166 or ICAO 9303 code"
            elif key == "issuing_state" and country.code in normalize.NATIONALITY_ONLY:
                status, why = document_checks.FAIL, "a nationality code, not an issuer"
            else:
                status, why = document_checks.PASS, "known code"
            found.append(document_checks.check(f"country:{key}", status, why))
    found += _date_checks(fields, today, min_age)
    found += document_checks.compare_with_applicant(fields, applicant)
    valid, confidence = _verdict(found, required)
    return {"document_valid": valid, "checks": found, "confidence": confidence}


def _read_ktp_upright(
    rgb: np.ndarray, quality: QualityReport, today: dt.date
) -> tuple[dict[str, str], int]:
    """A KTP's fields, read the way up its NIK parses, and that turn (counter-clockwise quarter
    turns; 0 when no turn reads one: the read as given).

    Tesseract reads upright text only, and the card is warped flat as its outline lies, so a
    card photographed sideways or upside down read nothing and its portrait was looked for
    sideways. A turn is tried only when the photo as given gives no NIK that parses (16 digits,
    region codes, a birth date: what garbage read off a turned card does not make), and only
    the turns the outline allows: a card is landscape, so an outline standing upright is a
    quarter turn away, a lying one upside down (or simply not a KTP). No outline, no turn.
    """
    fields, _ = read_ktp(rgb, quality.card_corners)
    if quality.card_corners is None or parse_nik(fields.get("nik") or "", today)[0] is not None:
        return fields, 0
    top_left, top_right, _, bottom_left = order_corners(quality.card_corners)
    standing = np.linalg.norm(bottom_left - top_left) > np.linalg.norm(top_right - top_left)
    for turns in (1, 3) if standing else (2,):
        turned = np.ascontiguousarray(np.rot90(rgb, turns))
        corners = turned_points(quality.card_corners, rgb.shape[:2], turns)
        turned_fields, _ = read_ktp(turned, corners)
        if parse_nik(turned_fields.get("nik") or "", today)[0] is not None:
            return turned_fields, turns
    return fields, 0


def turned_points(points: np.ndarray, shape: tuple[int, ...], turns: int) -> np.ndarray:
    """`points` (x, y) of an image of `shape` (height, width), where they fall once the image
    is turned `turns` quarter turns counter-clockwise (np.rot90): the outline already found is
    carried over, not looked for again (a turned sliver found none, and its whole photo was
    read: seconds)."""
    height, width = shape[:2]
    x, y = points[:, 0], points[:, 1]
    for _ in range(turns % 4):
        x, y = y, (width - 1) - x
        height, width = width, height
    return np.stack([x, y], axis=1).astype(np.float32)


def _analyze_ktp(fields, applicant, min_age, today) -> dict[str, Any]:
    found = check_nik(fields, today)
    found.append(_ktp_minimum_age(fields, today, min_age))
    if applicant:
        full_name = applicant.get("full_name") or " ".join(
            str(applicant.get(key) or "") for key in ("first_name", "given_names", "last_name")
        )
        expected = {
            "full_name": full_name.strip(),
            "date_of_birth": applicant.get("date_of_birth") or applicant.get("birth_date"),
            "document_number": applicant.get("document_number"),
        }
        read = {
            "surname": fields.get("name", ""),
            "given_names": "",
            "birth_date": fields.get("birth_date"),
            "document_number": fields.get("nik", ""),
        }
        found += document_checks.compare_with_applicant(
            read, {k: v for k, v in expected.items() if v}
        )
    read_ok = bool(fields.get("nik"))
    detected = {"type": "id_card", "country": "IDN", "confidence": 0.9 if read_ok else 0.0}
    # Issued by Indonesia: what the partner's country list and the KYA country check compare.
    fields = {**fields, "document_type": "id_card", "issuing_state": "IDN"}
    return {"detected": detected, "fields": fields, "checks": found}


def _ktp_minimum_age(fields: Mapping[str, Any], today: dt.date, min_age: int) -> dict[str, str]:
    """The minimum age on the printed birth date, else on the one the NIK encodes (the NIK's
    structure is checked, and against the printed date when both were read): an unread line
    must not leave the partner's minimum age unchecked."""
    if fields.get("birth_date"):
        return document_checks.check_minimum_age(
            dt.date.fromisoformat(fields["birth_date"]), today, min_age
        )
    nik, _ = parse_nik(str(fields.get("nik") or ""), today)
    found = document_checks.check_minimum_age(nik.birth_date if nik else None, today, min_age)
    if nik is not None:
        found["detail"] += " (birth date from the NIK)"
    return found


def _visual_zone(image: np.ndarray, card_corners: np.ndarray | None, lines: int) -> dict:
    """Labelled fields of the side that carries the MRZ, where its outline was found."""
    if card_corners is None:
        return {}
    return read_labelled_fields(image, card_corners, lines)


def analyze_document(
    front_rgb: np.ndarray,
    back_rgb: np.ndarray | None = None,
    *,
    document_hint: str = "auto",
    country_hint: str = "auto",
    applicant: Mapping[str, Any] | None = None,
    min_age: int = 18,
    today: dt.date | None = None,
    detect_face: bool = True,
    read_visual_zone: bool = True,
) -> dict[str, Any]:
    """Read and check a document photo (and its back, where TD1 cards print the MRZ).

    Returns ``{detected, fields, field_status, checks, document_valid, confidence, quality,
    mrz, visual_zone, front_quarter_turns}``; the last is how far the front must be turned
    (counter-clockwise quarters) to stand the way its MRZ or NIK reads. ``detect_face`` adds the
    portrait check on the front so turned (dlib, ~100-300 ms);
    ``read_visual_zone`` reads the labelled fields to compare with the MRZ (tesseract,
    ~300-700 ms), on the side the MRZ was read from.
    """
    if document_hint not in normalize.DOCUMENT_HINTS:
        raise ValidationFailed(
            f"document_hint must be one of {', '.join(normalize.DOCUMENT_HINTS)}"
        )
    if not isinstance(front_rgb, np.ndarray) or front_rgb.ndim != 3 or front_rgb.shape[2] != 3:
        raise ValidationFailed("front image must be an RGB image")
    today = today or dt.date.today()
    quality = assess_quality(front_rgb)
    found: list[dict[str, str]] = []
    result = None
    mrz_side = None
    for side, image in _mrz_sides(document_hint, front_rgb, back_rgb):
        if (result := read_mrz(image)) is not None:
            mrz_side = side
            break
    front_turns = upright_quarter_turns(result, mrz_side)
    ktp = None
    # A KTP is an identity card without an MRZ: not what a passport or a licence looks like.
    if result is None and country_hint in ("IDN", "auto") and document_hint in ("auto", "id_card"):
        ktp_fields, ktp_turns = _read_ktp_upright(front_rgb, quality, today)
        if ktp_fields.get("nik"):
            ktp, front_turns = _analyze_ktp(ktp_fields, applicant, min_age, today), ktp_turns
    if detect_face:
        check_face_on_document(quality, np.ascontiguousarray(np.rot90(front_rgb, front_turns)))
    if quality.metrics.get("face_on_document") is not None:
        present = bool(quality.metrics["face_on_document"])
        status = document_checks.PASS if present else document_checks.FAIL
        why = "portrait found" if present else "no face found on the document"
        found.append(document_checks.check("face_on_document", status, why))
    if ktp is not None:
        checks_all = found + ktp["checks"] + _type_check(document_hint, "id_card")
        valid, confidence = _verdict(checks_all, _REQUIRED_KTP)
        return {
            **ktp,
            "checks": checks_all,
            "document_valid": valid,
            "confidence": confidence,
            "quality": quality.as_dict(),
            "mrz": None,
            "visual_zone": ktp["fields"],
            "front_quarter_turns": front_turns,
        }
    if result is None:
        found.append(
            document_checks.check(
                "mrz_read", document_checks.FAIL, "no machine-readable zone found"
            )
        )
        return {
            "detected": {"type": "unknown", "country": None, "confidence": 0.0},
            "fields": {},
            "field_status": [],
            "checks": found,
            "document_valid": False,
            "confidence": 0.0,
            "quality": quality.as_dict(),
            "mrz": None,
            "visual_zone": {},
            "front_quarter_turns": 0,
        }
    reading = result.reading
    fields = mrz_fields(reading, today)
    found.append(
        document_checks.check(
            "mrz_read", document_checks.PASS, f"{reading.layout} read from the {mrz_side}"
        )
    )
    found += _type_check(document_hint, fields["document_type"])
    found += _mrz_checks(reading, fields, applicant=applicant, min_age=min_age, today=today)
    visual: dict[str, str] = {}
    if read_visual_zone:
        side_rgb = front_rgb if mrz_side == "front" else back_rgb
        corners = quality.card_corners if mrz_side == "front" else None
        if result.quarter_turns or corners is None:  # read upright, find the outline again
            side_rgb = np.ascontiguousarray(np.rot90(side_rgb, result.quarter_turns))
            corners = assess_quality(side_rgb).card_corners
        visual = _visual_zone(side_rgb, corners, len(reading.lines))
        comparable = {**fields, "nationality": fields["nationality_code"]}
        found += document_checks.compare_visual_with_mrz(
            visual, comparable, names_truncated=bool(fields.get("names_truncated"))
        )
    valid, confidence = _verdict(found, _required_mrz(reading))
    detected_confidence = round(
        max(0.0, min(1.0, result.mean_match_score))
        * (1.0 if reading.all_check_digits_valid else 0.5),
        3,
    )
    return {
        "detected": {
            "type": fields["document_type"],
            "country": fields["issuing_state"],
            "confidence": detected_confidence,
        },
        "fields": fields,
        # per field: valid / uncertain (a person must confirm) / invalid (its digit disagrees)
        "field_status": field_status_list(reading.field_status),
        "checks": found,
        "document_valid": valid,
        "confidence": confidence,
        "quality": quality.as_dict(),
        "mrz": {
            "lines": list(reading.lines),
            "read_lines": list(reading.read_lines),
            "repairs": [r.as_dict() for r in reading.repairs],
            "elapsed_ms": round(result.elapsed_ms, 1),
            "side": mrz_side,
            "quarter_turns": result.quarter_turns,
        },
        "visual_zone": visual,
        "front_quarter_turns": front_turns,
    }
