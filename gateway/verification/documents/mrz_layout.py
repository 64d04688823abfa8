"""ICAO 9303 MRZ layouts: the alphabet, the 7-3-1 check digit, and where each field sits.

TD1 (3x30, ID cards), TD2 (2x36) and TD3 (2x44, passports), parts 4-6 of the standard, and the
machine-readable visas of part 7: MRV-A (2x44) and MRV-B (2x36), told from TD3 and TD2 by their
document code (first character ``V``). A visa has no composite check digit and no check digit
over its optional data, which runs to the end of the second line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.errors import ValidationFailed

FILLER = "<"
MRZ_CHARACTERS = re.compile(r"^[A-Z0-9<]+$")
WEIGHTS = (7, 3, 1)

# Layout name -> (line count, line length), ICAO 9303 parts 4-7.
LAYOUTS: dict[str, tuple[int, int]] = {
    "TD1": (3, 30),
    "TD2": (2, 36),
    "TD3": (2, 44),
    "MRV-A": (2, 44),
    "MRV-B": (2, 36),
}
# The visa printed in the shape of a travel document layout (ICAO 9303-7).
_VISA_OF = {"TD3": "MRV-A", "TD2": "MRV-B"}


# What OCR engines mistake for what. Letters read where a digit must be, and the reverse.
def character_value(char: str) -> int:
    """ICAO value of one MRZ character: digits as themselves, A-Z as 10-35, the filler as 0."""
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == FILLER:
        return 0
    raise ValueError(f"not an MRZ character: {char!r}")


def check_digit(data: str) -> int:
    """The 7-3-1 weighted sum modulo 10 over ``data``."""
    return sum(character_value(c) * WEIGHTS[i % 3] for i, c in enumerate(data)) % 10


def digit_matches(data: str, check_char: str, *, filler_allowed: bool = False) -> bool:
    """Whether ``check_char`` is the check digit of ``data``.

    ``filler_allowed`` covers the optional fields whose check digit may be ``<`` when the field
    itself is all fillers (ICAO 9303-4, personal number).
    """
    if check_char == FILLER:
        return filler_allowed and set(data) <= {FILLER}
    return check_char.isdigit() and int(check_char) == check_digit(data)


def date_well_formed(field: str, value: str) -> bool:
    """Whether an MRZ date is YYMMDD digits, or fillers where ICAO 9303-3 allows them: the unknown
    parts of a date of birth (``9001<<``: day unknown; ``90<<<<``; ``<<<<<<``), and an expiry of
    fillers only (no expiry date stated). A letter, or half a pair, is no date."""
    pairs = [value[i : i + 2] for i in range(0, len(value), 2)]
    if len(value) != 6 or not all(pair.isdigit() or pair == FILLER * 2 for pair in pairs):
        return False
    return field == "birth_date" or value.isdigit() or set(value) == {FILLER}


@dataclass(frozen=True)
class Span:
    """A slice of one MRZ line with the kind of characters it may hold."""

    name: str
    line: int
    start: int
    end: int
    kind: str  # "numeric", "alpha", "alnum" or "check"


def _layout(*spans: tuple[str, int, int, int, str]) -> dict[str, Span]:
    """Spans by name, from ``(name, line, start, end, kind)`` rows."""
    return {name: Span(name, line, start, end, kind) for name, line, start, end, kind in spans}


def _two_line_layout(
    width: int, *, optional_data_check: bool, composite: bool = True
) -> dict[str, Span]:
    """TD3 (2x44), TD2 (2x36) and the visas MRV-A (2x44) and MRV-B (2x36) place the same fields:
    the name and the optional data run to the end of their line, only TD3 gives the optional data
    a check digit of its own, and only the travel documents end with a composite digit."""
    end = width - 1 if composite else width
    optional_data = [("optional_data", 1, 28, end, "alnum")]
    if optional_data_check:
        optional_data = [
            ("optional_data", 1, 28, end - 1, "alnum"),
            ("optional_data_check", 1, end - 1, end, "check"),
        ]
    composite_check = [("composite_check", 1, width - 1, width, "check")] if composite else []
    return _layout(
        ("document_code", 0, 0, 2, "alpha"),
        ("issuing_state", 0, 2, 5, "alpha"),
        ("name", 0, 5, width, "alpha"),
        ("document_number", 1, 0, 9, "alnum"),
        ("document_number_check", 1, 9, 10, "check"),
        ("nationality", 1, 10, 13, "alpha"),
        ("birth_date", 1, 13, 19, "numeric"),
        ("birth_date_check", 1, 19, 20, "check"),
        ("sex", 1, 20, 21, "alpha"),
        ("expiry_date", 1, 21, 27, "numeric"),
        ("expiry_date_check", 1, 27, 28, "check"),
        *optional_data,
        *composite_check,
    )


# Where each field sits, per layout (ICAO 9303 parts 4-6).
_TD3_SPANS = _two_line_layout(44, optional_data_check=True)
_TD2_SPANS = _two_line_layout(36, optional_data_check=False)
_TD1_SPANS = _layout(
    ("document_code", 0, 0, 2, "alpha"),
    ("issuing_state", 0, 2, 5, "alpha"),
    ("document_number", 0, 5, 14, "alnum"),
    ("document_number_check", 0, 14, 15, "check"),
    ("optional_data", 0, 15, 30, "alnum"),
    ("birth_date", 1, 0, 6, "numeric"),
    ("birth_date_check", 1, 6, 7, "check"),
    ("sex", 1, 7, 8, "alpha"),
    ("expiry_date", 1, 8, 14, "numeric"),
    ("expiry_date_check", 1, 14, 15, "check"),
    ("nationality", 1, 15, 18, "alpha"),
    ("optional_data_2", 1, 18, 29, "alnum"),
    ("composite_check", 1, 29, 30, "check"),
    ("name", 2, 0, 30, "alpha"),
)
SPANS = {
    "TD1": _TD1_SPANS,
    "TD2": _TD2_SPANS,
    "TD3": _TD3_SPANS,
    "MRV-A": _two_line_layout(44, optional_data_check=False, composite=False),
    "MRV-B": _two_line_layout(36, optional_data_check=False, composite=False),
}

# The fields each layout checks by their own digit: (field, its check, filler allowed: '<' may
# stand for the digit of a field of fillers alone, an unknown birth date or no expiry); the
# composite covers the listed spans in order.
_NUMBER_AND_DATE_CHECKS = [
    ("document_number", "document_number_check", False),
    ("birth_date", "birth_date_check", True),
    ("expiry_date", "expiry_date_check", True),
]
DIGIT_PAIRS = {
    "TD3": [*_NUMBER_AND_DATE_CHECKS, ("optional_data", "optional_data_check", True)],
    "TD2": list(_NUMBER_AND_DATE_CHECKS),
    "TD1": list(_NUMBER_AND_DATE_CHECKS),
    "MRV-A": list(_NUMBER_AND_DATE_CHECKS),
    "MRV-B": list(_NUMBER_AND_DATE_CHECKS),
}
# No entry: the layout has no composite digit (the visas).
COMPOSITE = {
    "TD3": [(1, 0, 10), (1, 13, 20), (1, 21, 43)],
    "TD2": [(1, 0, 10), (1, 13, 20), (1, 21, 35)],
    "TD1": [(0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)],
}


def split_mrz_text(text: str) -> list[str]:
    """Lines of a pasted MRZ: surrounding whitespace and blank lines dropped, nothing else."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def detect_layout(lines: list[str]) -> str:
    """The layout from line count and length, and for two lines the document code (a visa's
    starts with ``V``); malformed input raises ValidationFailed (a 422)."""
    for name, (count, length) in LAYOUTS.items():
        if name in _VISA_OF.values():
            continue
        if len(lines) == count and all(len(line) == length for line in lines):
            for number, line in enumerate(lines, start=1):
                if not MRZ_CHARACTERS.match(line):
                    bad = sorted({c for c in line if not re.match(r"[A-Z0-9<]", c)})
                    raise ValidationFailed(
                        f"MRZ line {number} holds characters outside A-Z, 0-9 and '<': {bad}",
                        errors={"mrz": {"code": "illegal_characters", "message": str(bad)}},
                    )
            return _VISA_OF[name] if name in _VISA_OF and lines[0][0] == "V" else name
    shape = f"{len(lines)} line(s) of length {[len(line) for line in lines]}"
    raise ValidationFailed(
        f"MRZ must be 3x30 (TD1), 2x36 (TD2) or 2x44 (TD3) characters; got {shape}",
        errors={"mrz": {"code": "bad_layout", "message": shape}},
    )


def get_span(lines: list[str], span: Span) -> str:
    return lines[span.line][span.start : span.end]


def composite_data(lines: list[str], layout: str) -> str:
    return "".join(lines[line][a:b] for line, a, b in COMPOSITE[layout])


# Layouts whose document number may run past 9 characters into the optional data: TD1 (ICAO
# 9303-5) and TD2 (9303-6). '<' stands in the number's check position, and the optional data
# starts with the rest of the number, its check digit and a filler.
LONG_NUMBER_LAYOUTS = ("TD1", "TD2")


def long_document_number(lines: list[str], layout: str) -> tuple[str, str, int] | None:
    """A number over 9 characters: (the whole number, its check digit, how many characters of
    the optional data the rest of the number and its digit take); None for a short number."""
    if layout not in LONG_NUMBER_LAYOUTS:
        return None
    spans = SPANS[layout]
    if get_span(lines, spans["document_number_check"]) != FILLER:
        return None
    overflow = get_span(lines, spans["optional_data"]).split(FILLER, 1)[0]
    if len(overflow) < 2:
        return None
    return get_span(lines, spans["document_number"]) + overflow[:-1], overflow[-1], len(overflow)
