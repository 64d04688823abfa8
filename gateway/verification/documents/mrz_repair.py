"""OCR confusion repair for MRZs, kept only where the check digits then agree.

A field's type settles some confusions (a date holds only digits); for the others the OCR's
own hesitation (its runner-up glyph) or, for typed text, the usual pairs are tried, and a change
survives only when the field's digit and the composite agree afterwards. Every change is
returned as a ``Repair`` naming the digit that vouches for it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from gateway.verification.documents.mrz_layout import (
    DIGIT_PAIRS,
    FILLER,
    Span,
    composite_data,
    digit_matches,
    get_span,
    long_document_number,
)
from gateway.verification.documents.normalize import normalize_country

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


def typed_repairs(
    lines: list[str],
    layout: str,
    spans: dict[str, Span],
    alternatives: dict[tuple[int, int], str] | None,
) -> list[Repair]:
    """Digits read in alpha-only fields become letters, where the OCR offered one.

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
            if alternatives is None:  # typed text: the usual confusion
                replacement = DIGIT_TO_LETTER.get(line[column])
            else:  # OCR: only a letter it hesitated with (a clearly read digit stays)
                offered = [c for c in alternatives.get((span.line, column), "") if c.isalpha()]
                replacement = offered[0] if offered else None
            if replacement:
                repairs.append(
                    Repair(span.name, span.line, column, line[column], replacement, None)
                )
                line[column] = replacement
        lines[span.line] = "".join(line)
    return repairs


# The first letter of the document code, ICAO 9303 parts 4-7: P (passport), I, A or C (cards
# and other official travel documents), V (visa).
DOCUMENT_KINDS = "ACIPV"


def document_kind_repairs(
    lines: list[str], spans: dict[str, Span], alternatives: dict[tuple[int, int], str]
) -> list[Repair]:
    """A document code whose first letter names no document kind takes the first glyph the OCR
    offered there that does (``verified_by`` ``document_kind``: not verified, so the field
    stays short of ``valid``); with none offered it stays as read."""
    span = spans["document_code"]
    line = lines[span.line]
    if line[span.start] in DOCUMENT_KINDS:
        return []
    offered = [c for c in alternatives.get((span.line, span.start), "") if c in DOCUMENT_KINDS]
    if not offered:
        return []
    lines[span.line] = line[: span.start] + offered[0] + line[span.start + 1 :]
    return [Repair(span.name, span.line, span.start, line[span.start], offered[0], "document_kind")]


# Country-code spans: no check digit covers them, but a code must be one ICAO 9303 knows.
CODE_SPANS = ("issuing_state", "nationality")
# With several known codes in reach of a read that is no code, the likeliest is read when its
# glyphs trail the kept ones by this much less (summed match score) than the next code's.
CODE_LEAD = 0.02


def code_repairs(
    lines: list[str],
    spans: dict[str, Span],
    alternatives: dict[tuple[int, int], str],
    lags: dict[tuple[int, int], dict[str, float]] | None = None,
) -> list[Repair]:
    """A country code that is no code becomes the code its cells' close glyphs spell best.

    At 5-8 px per character ``O``, ``Q``, ``G`` and ``D`` blur into each other (``UTQ`` for
    ``UTO``, ``QBR`` for ``GBR``); a code is one of a few hundred (ICAO 9303 Part 3), so a
    read that is none of them is decoded over that closed vocabulary: the one code its close
    glyphs reach, or, with the match scores (``lags``: how far each offered glyph scored
    behind the kept one), the reachable code whose glyphs trail least in sum, when it leads
    the next such code by ``CODE_LEAD``. Otherwise nothing changes. ``verified_by`` is
    ``country_code``; the field stays short of ``valid`` (its kept glyph was not the best
    one), so a person confirms it.
    """
    repairs = []
    for name in CODE_SPANS:
        span = spans.get(name)
        if span is None:
            continue
        line = lines[span.line]
        code = line[span.start : span.end]
        if normalize_country(code) is not None:
            continue
        options = [
            code[i] + alternatives.get((span.line, column), "")
            for i, column in enumerate(range(span.start, span.end))
        ]
        known = {
            "".join(c)
            for c in itertools.product(*options)
            if "".join(c) != code and normalize_country("".join(c)) is not None
        }
        repaired = _likeliest_code(known, code, span, lags)
        if repaired is None:
            continue
        for i, column in enumerate(range(span.start, span.end)):
            if repaired[i] != code[i]:
                repairs.append(
                    Repair(span.name, span.line, column, code[i], repaired[i], "country_code")
                )
        lines[span.line] = line[: span.start] + repaired + line[span.end :]
    return repairs


def _likeliest_code(
    known: set[str],
    code: str,
    span: Span,
    lags: dict[tuple[int, int], dict[str, float]] | None,
) -> str | None:
    """The code to read among the known ones in reach: the only one, or the one whose glyphs
    trail the kept ones least in sum by ``CODE_LEAD`` over the next (with scores)."""
    if len(known) == 1:
        return next(iter(known))
    if not known or lags is None:
        return None

    def trail(candidate: str) -> float:
        total = 0.0
        for i, column in enumerate(range(span.start, span.end)):
            if candidate[i] != code[i]:
                total += lags.get((span.line, column), {}).get(candidate[i], 1.0)
        return total

    ranked = sorted((trail(candidate), candidate) for candidate in known)
    if ranked[1][0] - ranked[0][0] < CODE_LEAD:
        return None
    return ranked[0][1]


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
        # (a pair of fillers can: an unknown day, month or year of birth)
        unknown = {i for i in range(len(value)) if value[i - i % 2 : i - i % 2 + 2] == FILLER * 2}
        value = "".join(
            c
            if c.isdigit() or i in unknown
            else _digit_for(c, (value_alternatives or {}).get(i, ""))
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


def _apply(lines: list[str], span: Span, text: str, verified_by: str, out: list[Repair]) -> None:
    line = list(lines[span.line])
    for offset, new in enumerate(text):
        column = span.start + offset
        if line[column] != new:
            out.append(Repair(span.name, span.line, column, line[column], new, verified_by))
            line[column] = new
    lines[span.line] = "".join(line)


def digit_repairs(
    lines: list[str],
    layout: str,
    spans: dict[str, Span],
    alternatives: dict[tuple[int, int], str] | None,
) -> list[Repair]:
    """Fix check-digit-covered fields, keeping a change only when the digits then agree.

    Each field keeps the readings its own digit accepts; the composite digit then picks among the
    combinations. A field is only changed when exactly one reading survives both.
    """
    pairs = DIGIT_PAIRS[layout]
    if long_document_number(lines, layout):
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
            get_span(lines, value_span),
            get_span(lines, check_span),
            value_span.kind,
            filler_allowed,
            value_alternatives,
            check_alternative,
        )
        options.append(found or [(get_span(lines, value_span), get_span(lines, check_span))])
    if "composite_check" not in spans:  # a visa: each field has only its own digit to go on
        return _owndigit_repairs(lines, pairs, spans, options)
    composite_span = spans["composite_check"]
    composite_read = get_span(lines, composite_span)
    composite_options = [composite_read]
    if composite_read in LETTER_TO_DIGIT:
        composite_options.append(LETTER_TO_DIGIT[composite_read])

    survivors = []
    for combination in itertools.product(*options):
        trial = list(lines)
        for (value_name, check_name, _), (value, check) in zip(pairs, combination, strict=True):
            _apply(trial, spans[value_name], value, "", [])
            _apply(trial, spans[check_name], check, "", [])
        data = composite_data(trial, layout)
        for composite in composite_options:
            if digit_matches(data, composite):
                survivors.append((combination, composite))
    if len(survivors) != 1:
        return _owndigit_repairs(lines, pairs, spans, options)
    combination, composite = survivors[0]
    repairs: list[Repair] = []
    for (value_name, check_name, filler_allowed), (value, check) in zip(
        pairs, combination, strict=True
    ):
        own_ok = digit_matches(value, check, filler_allowed=filler_allowed)
        verified_by = f"{check_name}+composite_check" if own_ok else "composite_check"
        _apply(lines, spans[value_name], value, verified_by, repairs)
        _apply(lines, spans[check_name], check, verified_by, repairs)
    _apply(lines, composite_span, composite, "composite_check", repairs)
    return repairs


def _owndigit_repairs(lines, pairs, spans, options) -> list[Repair]:
    """With the composite unsettled, still fix numeric fields (dates) whose own check digit
    accepts exactly one reading: the composite then fails on whatever else is wrong."""
    repairs: list[Repair] = []
    for (value_name, check_name, filler_allowed), found in zip(pairs, options, strict=True):
        if spans[value_name].kind != "numeric" or len(found) != 1:
            continue
        value, check = found[0]
        if digit_matches(value, check, filler_allowed=filler_allowed):
            _apply(lines, spans[value_name], value, check_name, repairs)
            _apply(lines, spans[check_name], check, check_name, repairs)
    return repairs
