"""ICAO 9303 machine-readable zones: check digits, the three layouts, and guarded OCR repair.

OCR of an MRZ confuses a handful of glyph pairs (``0/O``, ``1/I``, ``5/S``, ``8/B``, ``2/Z``...).
A field's type settles some of them (a date holds only digits), but a repair is only kept where
the check digits agree afterwards, so a repair can never turn a forged or misread number into a
"valid" one silently: every repair is listed with the check digit that vouches for it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from gateway.errors import ValidationFailed

FILLER = "<"
MRZ_CHARACTERS = re.compile(r"^[A-Z0-9<]+$")
WEIGHTS = (7, 3, 1)

# Layout name -> (line count, line length), ICAO 9303 parts 4-6.
LAYOUTS: dict[str, tuple[int, int]] = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44)}

# What OCR engines mistake for what. Letters read where a digit must be, and the reverse.
LETTER_TO_DIGIT = {
    "O": "0",
    "Q": "0",
    "D": "0",
    "U": "0",
    "I": "1",
    "L": "1",
    "T": "1",
    "Z": "2",
    "S": "5",
    "B": "8",
    "G": "6",
    "A": "4",
}
DIGIT_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T"}
# For alphanumeric fields (document number, optional data) either reading may be the true one.
AMBIGUOUS = {
    "0": "OD",
    "O": "0",
    "D": "0",
    "Q": "0",
    "1": "I",
    "I": "1",
    "2": "Z",
    "Z": "2",
    "5": "S",
    "S": "5",
    "8": "B",
    "B": "8",
    "6": "G",
    "G": "6",
}


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


@dataclass(frozen=True)
class Repair:
    """One character changed by the OCR repair, and the check digit that agreed afterwards."""

    field: str
    line: int
    column: int
    read: str
    repaired: str
    verified_by: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "field": self.field,
            "line": self.line,
            "column": self.column,
            "read": self.read,
            "repaired": self.repaired,
            "verified_by": self.verified_by,
        }


@dataclass(frozen=True)
class CheckDigit:
    """The outcome of one ICAO check digit."""

    name: str
    valid: bool
    expected: str
    computed: int


@dataclass
class MrzReading:
    """A parsed MRZ: raw field values as printed (before normalisation) and every check digit."""

    layout: str
    lines: tuple[str, ...]
    read_lines: tuple[str, ...]
    fields: dict[str, str]
    check_digits: list[CheckDigit]
    repairs: list[Repair] = field(default_factory=list)

    @property
    def all_check_digits_valid(self) -> bool:
        return all(c.valid for c in self.check_digits)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class _Span:
    """A slice of one MRZ line with the kind of characters it may hold."""

    name: str
    line: int
    start: int
    end: int
    kind: str  # "numeric", "alpha", "alnum" or "check"


# Each layout: the spans checked by their own digit as (value span, check span, filler_allowed),
# the composite (spans concatenated, check span), and the other spans worth typing.
_TD3_SPANS = {
    "document_code": _Span("document_code", 0, 0, 2, "alpha"),
    "issuing_state": _Span("issuing_state", 0, 2, 5, "alpha"),
    "name": _Span("name", 0, 5, 44, "alpha"),
    "document_number": _Span("document_number", 1, 0, 9, "alnum"),
    "document_number_check": _Span("document_number_check", 1, 9, 10, "check"),
    "nationality": _Span("nationality", 1, 10, 13, "alpha"),
    "birth_date": _Span("birth_date", 1, 13, 19, "numeric"),
    "birth_date_check": _Span("birth_date_check", 1, 19, 20, "check"),
    "sex": _Span("sex", 1, 20, 21, "alpha"),
    "expiry_date": _Span("expiry_date", 1, 21, 27, "numeric"),
    "expiry_date_check": _Span("expiry_date_check", 1, 27, 28, "check"),
    "optional_data": _Span("optional_data", 1, 28, 42, "alnum"),
    "optional_data_check": _Span("optional_data_check", 1, 42, 43, "check"),
    "composite_check": _Span("composite_check", 1, 43, 44, "check"),
}
_TD2_SPANS = {
    "document_code": _Span("document_code", 0, 0, 2, "alpha"),
    "issuing_state": _Span("issuing_state", 0, 2, 5, "alpha"),
    "name": _Span("name", 0, 5, 36, "alpha"),
    "document_number": _Span("document_number", 1, 0, 9, "alnum"),
    "document_number_check": _Span("document_number_check", 1, 9, 10, "check"),
    "nationality": _Span("nationality", 1, 10, 13, "alpha"),
    "birth_date": _Span("birth_date", 1, 13, 19, "numeric"),
    "birth_date_check": _Span("birth_date_check", 1, 19, 20, "check"),
    "sex": _Span("sex", 1, 20, 21, "alpha"),
    "expiry_date": _Span("expiry_date", 1, 21, 27, "numeric"),
    "expiry_date_check": _Span("expiry_date_check", 1, 27, 28, "check"),
    "optional_data": _Span("optional_data", 1, 28, 35, "alnum"),
    "composite_check": _Span("composite_check", 1, 35, 36, "check"),
}
_TD1_SPANS = {
    "document_code": _Span("document_code", 0, 0, 2, "alpha"),
    "issuing_state": _Span("issuing_state", 0, 2, 5, "alpha"),
    "document_number": _Span("document_number", 0, 5, 14, "alnum"),
    "document_number_check": _Span("document_number_check", 0, 14, 15, "check"),
    "optional_data": _Span("optional_data", 0, 15, 30, "alnum"),
    "birth_date": _Span("birth_date", 1, 0, 6, "numeric"),
    "birth_date_check": _Span("birth_date_check", 1, 6, 7, "check"),
    "sex": _Span("sex", 1, 7, 8, "alpha"),
    "expiry_date": _Span("expiry_date", 1, 8, 14, "numeric"),
    "expiry_date_check": _Span("expiry_date_check", 1, 14, 15, "check"),
    "nationality": _Span("nationality", 1, 15, 18, "alpha"),
    "optional_data_2": _Span("optional_data_2", 1, 18, 29, "alnum"),
    "composite_check": _Span("composite_check", 1, 29, 30, "check"),
    "name": _Span("name", 2, 0, 30, "alpha"),
}
SPANS = {"TD1": _TD1_SPANS, "TD2": _TD2_SPANS, "TD3": _TD3_SPANS}

# (field, its check, filler allowed) per layout; the composite covers the listed spans in order.
_DIGIT_PAIRS = {
    "TD3": [
        ("document_number", "document_number_check", False),
        ("birth_date", "birth_date_check", False),
        ("expiry_date", "expiry_date_check", False),
        ("optional_data", "optional_data_check", True),
    ],
    "TD2": [
        ("document_number", "document_number_check", False),
        ("birth_date", "birth_date_check", False),
        ("expiry_date", "expiry_date_check", False),
    ],
    "TD1": [
        ("document_number", "document_number_check", False),
        ("birth_date", "birth_date_check", False),
        ("expiry_date", "expiry_date_check", False),
    ],
}
_COMPOSITE = {
    "TD3": [(1, 0, 10), (1, 13, 20), (1, 21, 43)],
    "TD2": [(1, 0, 10), (1, 13, 20), (1, 21, 35)],
    "TD1": [(0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)],
}


def split_mrz_text(text: str) -> list[str]:
    """Lines of a pasted MRZ: surrounding whitespace and blank lines dropped, nothing else."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def detect_layout(lines: list[str]) -> str:
    """The layout from line count and length; malformed input raises ValidationFailed (a 422)."""
    for name, (count, length) in LAYOUTS.items():
        if len(lines) == count and all(len(line) == length for line in lines):
            for number, line in enumerate(lines, start=1):
                if not MRZ_CHARACTERS.match(line):
                    bad = sorted({c for c in line if not re.match(r"[A-Z0-9<]", c)})
                    raise ValidationFailed(
                        f"MRZ line {number} holds characters outside A-Z, 0-9 and '<': {bad}",
                        errors={"mrz": {"code": "illegal_characters", "message": str(bad)}},
                    )
            return name
    shape = f"{len(lines)} line(s) of length {[len(line) for line in lines]}"
    raise ValidationFailed(
        f"MRZ must be 3x30 (TD1), 2x36 (TD2) or 2x44 (TD3) characters; got {shape}",
        errors={"mrz": {"code": "bad_layout", "message": shape}},
    )


def _get(lines: list[str], span: _Span) -> str:
    return lines[span.line][span.start : span.end]


def _composite_data(lines: list[str], layout: str) -> str:
    return "".join(lines[line][a:b] for line, a, b in _COMPOSITE[layout])


def _td1_long_document_number(lines: list[str]) -> tuple[str, str] | None:
    """TD1 numbers over 9 characters: '<' in the check position, the rest in optional data."""
    if lines[0][14] != FILLER:
        return None
    overflow = lines[0][15:30].split(FILLER, 1)[0]
    if len(overflow) < 2:
        return None
    return lines[0][5:14] + overflow[:-1], overflow[-1]


def _typed_repairs(
    lines: list[str],
    layout: str,
    spans: dict[str, _Span],
    alternatives: dict[tuple[int, int], str] | None,
) -> list[Repair]:
    """Digits read in alpha-only fields become letters: nothing else is possible there.

    These fields (codes, names, sex) carry no check digit, so the repair is typed, not verified;
    ``verified_by`` is None to say so.
    """
    repairs = []
    for span in spans.values():
        if span.kind != "alpha":
            continue
        line = list(lines[span.line])
        for column in range(span.start, span.end):
            if not line[column].isdigit():
                continue
            offered = [c for c in (alternatives or {}).get((span.line, column), "") if c.isalpha()]
            replacement = offered[0] if offered else DIGIT_TO_LETTER.get(line[column])
            if replacement:
                repairs.append(
                    Repair(span.name, span.line, column, line[column], replacement, None)
                )
                line[column] = replacement
        lines[span.line] = "".join(line)
    return repairs


def _candidates(
    value: str,
    check: str,
    kind: str,
    filler_allowed: bool,
    value_alternatives: dict[int, str] | None,
    check_alternative: str,
) -> list[tuple[str, str]]:
    """Readings of (value, check) that satisfy the check digit, fewest changes first.

    ``value_alternatives`` maps positions the OCR found ambiguous to the glyphs it hesitated
    with; only those positions may change. None (text without OCR evidence) allows the usual
    confusion pairs at every position.
    """
    if kind == "numeric":  # letters cannot stand in a date: replace them before checking
        value = "".join(
            c if c.isdigit() else _digit_for(c, (value_alternatives or {}).get(i, ""))
            for i, c in enumerate(value)
        )
    if not check.isdigit() and check != FILLER:
        check = _digit_for(check, check_alternative)
    if digit_matches(value, check, filler_allowed=filler_allowed):
        return [(value, check)]
    check_options = [check]
    for option in (LETTER_TO_DIGIT.get(check, ""), check_alternative):
        if option and option.isdigit() and option not in check_options:
            check_options.append(option)
    if value_alternatives is None:
        position_options = {
            i: AMBIGUOUS[c] for i, c in enumerate(value) if c in AMBIGUOUS and kind != "numeric"
        }
    else:
        position_options = {}
        for i, alternatives in value_alternatives.items():
            if i >= len(value):
                continue
            table = AMBIGUOUS.get(value[i], "") if kind != "numeric" else ""
            options = [c for c in dict.fromkeys(alternatives + table) if c != value[i]]
            if kind == "numeric":
                options = [c for c in options if c.isdigit()]
            if options:
                position_options[i] = "".join(options)
    found = [
        (value, c) for c in check_options if digit_matches(value, c, filler_allowed=filler_allowed)
    ]
    if found:
        return found
    for changes in (1, 2):
        for chosen in itertools.combinations(sorted(position_options), changes):
            for replacement in itertools.product(*(position_options[i] for i in chosen)):
                chars = list(value)
                for i, r in zip(chosen, replacement, strict=True):
                    chars[i] = r
                candidate = "".join(chars)
                found += [
                    (candidate, c)
                    for c in check_options
                    if digit_matches(candidate, c, filler_allowed=filler_allowed)
                ]
        if found:
            break
    return found


def _digit_for(char: str, alternatives: str) -> str:
    """The digit a letter read in a numeric field stands for: the OCR's own runner-up when it
    is a digit, else the usual confusion."""
    for option in alternatives:
        if option.isdigit():
            return option
    return LETTER_TO_DIGIT.get(char, char)


def _apply(lines: list[str], span: _Span, text: str, verified_by: str, out: list[Repair]) -> None:
    line = list(lines[span.line])
    for offset, new in enumerate(text):
        column = span.start + offset
        if line[column] != new:
            out.append(Repair(span.name, span.line, column, line[column], new, verified_by))
            line[column] = new
    lines[span.line] = "".join(line)


def _digit_repairs(
    lines: list[str],
    layout: str,
    spans: dict[str, _Span],
    alternatives: dict[tuple[int, int], str] | None,
) -> list[Repair]:
    """Fix check-digit-covered fields, keeping a change only when the digits then agree.

    Each field keeps the readings its own digit accepts; the composite digit then picks among the
    combinations. A field is only changed when exactly one reading survives both.
    """
    pairs = _DIGIT_PAIRS[layout]
    if layout == "TD1" and _td1_long_document_number(lines):
        pairs = pairs[1:]  # the long number's digit sits in optional data: leave it as read
    options = []
    for value_name, check_name, filler_allowed in pairs:
        value_span, check_span = spans[value_name], spans[check_name]
        value_alternatives = None
        if alternatives is not None:
            value_alternatives = {
                column - value_span.start: options
                for (line, column), options in alternatives.items()
                if line == value_span.line and value_span.start <= column < value_span.end
            }
        check_alternative = (alternatives or {}).get((check_span.line, check_span.start), "")
        found = _candidates(
            _get(lines, value_span),
            _get(lines, check_span),
            value_span.kind,
            filler_allowed,
            value_alternatives,
            check_alternative,
        )
        options.append(found or [(_get(lines, value_span), _get(lines, check_span))])
    composite_span = spans["composite_check"]
    composite_read = _get(lines, composite_span)
    composite_options = [composite_read]
    if composite_read in LETTER_TO_DIGIT:
        composite_options.append(LETTER_TO_DIGIT[composite_read])

    survivors = []
    for combination in itertools.product(*options):
        trial = list(lines)
        for (value_name, check_name, _), (value, check) in zip(pairs, combination, strict=True):
            _apply(trial, spans[value_name], value, "", [])
            _apply(trial, spans[check_name], check, "", [])
        data = _composite_data(trial, layout)
        for composite in composite_options:
            if digit_matches(data, composite):
                survivors.append((combination, composite))
    if len(survivors) != 1:
        return _own_digit_repairs(lines, pairs, spans, options)
    combination, composite = survivors[0]
    repairs: list[Repair] = []
    for (value_name, check_name, _), (value, check) in zip(pairs, combination, strict=True):
        own_ok = digit_matches(value, check, filler_allowed=check_name == "optional_data_check")
        verified_by = f"{check_name}+composite_check" if own_ok else "composite_check"
        _apply(lines, spans[value_name], value, verified_by, repairs)
        _apply(lines, spans[check_name], check, verified_by, repairs)
    _apply(lines, composite_span, composite, "composite_check", repairs)
    return repairs


def _own_digit_repairs(lines, pairs, spans, options) -> list[Repair]:
    """With the composite unsettled, still fix numeric fields (dates) whose own check digit
    accepts exactly one reading: the composite then fails on whatever else is wrong."""
    repairs: list[Repair] = []
    for (value_name, check_name, _), found in zip(pairs, options, strict=True):
        if spans[value_name].kind != "numeric" or len(found) != 1:
            continue
        value, check = found[0]
        if digit_matches(value, check):
            _apply(lines, spans[value_name], value, check_name, repairs)
            _apply(lines, spans[check_name], check, check_name, repairs)
    return repairs


def _split_name(name_field: str) -> tuple[str, str]:
    primary, _, secondary = name_field.partition(FILLER * 2)
    surname = primary.replace(FILLER, " ").strip()
    given = re.sub(r" +", " ", secondary.replace(FILLER, " ")).strip()
    return surname, given


def _check_all(lines: list[str], layout: str, spans: dict[str, _Span]) -> list[CheckDigit]:
    results = []
    long_number = _td1_long_document_number(lines) if layout == "TD1" else None
    for value_name, check_name, filler_allowed in _DIGIT_PAIRS[layout]:
        value, check = _get(lines, spans[value_name]), _get(lines, spans[check_name])
        if value_name == "document_number" and long_number:
            value, check = long_number
        # A, K and U weigh the same as 0 modulo 10: a date holding them is wrong whatever the sum
        well_formed = spans[value_name].kind != "numeric" or value.isdigit()
        results.append(
            CheckDigit(
                check_name.removesuffix("_check"),
                well_formed and digit_matches(value, check, filler_allowed=filler_allowed),
                check,
                check_digit(value),
            )
        )
    data = _composite_data(lines, layout)
    composite = _get(lines, spans["composite_check"])
    results.append(
        CheckDigit("composite", digit_matches(data, composite), composite, check_digit(data))
    )
    return results


def parse_mrz(
    lines: list[str] | str,
    *,
    repair: bool = True,
    alternatives: dict[tuple[int, int], str] | None = None,
) -> MrzReading:
    """Parse an MRZ (lines or text); check digits are reported, never raised.

    Malformed input (wrong shape, characters outside the MRZ alphabet) raises ValidationFailed.
    With ``repair`` the OCR confusions are fixed as the module docstring explains.
    ``alternatives`` ({(line, column): glyphs}) is the OCR's evidence: when given, check-digit
    fields only change where the OCR hesitated, so a misprinted (or forged) check digit is not
    "repaired" by bending the number to fit it.
    """
    line_list = split_mrz_text(lines) if isinstance(lines, str) else [x.strip() for x in lines]
    layout = detect_layout(line_list)
    spans = SPANS[layout]
    read_lines = tuple(line_list)
    work = list(line_list)
    repairs: list[Repair] = []
    if repair:
        repairs += _typed_repairs(work, layout, spans, alternatives)
        repairs += _digit_repairs(work, layout, spans, alternatives)
    fields = {name: _get(work, span) for name, span in spans.items() if span.kind != "check"}
    if layout == "TD1" and (long_number := _td1_long_document_number(work)):
        fields["document_number"] = long_number[0]
    fields["document_number"] = fields["document_number"].replace(FILLER, "")
    fields["document_code"] = fields["document_code"].replace(FILLER, "")
    surname, given_names = _split_name(fields.pop("name"))
    fields["surname"], fields["given_names"] = surname, given_names
    return MrzReading(
        layout=layout,
        lines=tuple(work),
        read_lines=read_lines,
        fields=fields,
        check_digits=_check_all(work, layout, spans),
        repairs=repairs,
    )
