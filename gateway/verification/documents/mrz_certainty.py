"""Per-field verdicts of a read MRZ: ``valid``, ``uncertain`` or ``invalid``.

A check digit catches one wrong character, not every wrong reading: ``U``, ``K``, ``A`` and ``0``
are all worth 0 modulo 10 under the 7-3-1 weights in some positions, so ``AAUUUUUUU0`` passes
where ``AA00000000`` was printed; names, nationality and sex have no check digit at all. So a
field is ``valid`` only when its check digits agree *and* every character in it was read with a
clear lead over the next glyph its position allows (its *margin*); otherwise it is
``uncertain`` (a human must look), or ``invalid`` when its own check digit disagrees.

Where a check digit covers a field, closeness alone is not enough to doubt it: ``O`` and ``0``
are often close, but they differ modulo 10 at every weight, so the digit tells them apart. The
field is ``uncertain`` when some other plausible reading (each character or one of its close
rivals) also satisfies the field's own digit and the composite: the digits cannot choose. A
field with no digit (names, nationality, sex, codes) is ``uncertain`` when any of its characters
had a close rival. The thresholds are measured: eval/document_real_eval.py prints the margins
of right and wrong characters in reads whose check digits all agreed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.verification.documents.mrz_glyph_pairs import cell_patch, pair_margin
from gateway.verification.documents.mrz_layout import SPANS, long_document_number
from gateway.verification.documents.mrz_ocr import LineRead

VALID, UNCERTAIN, INVALID = "valid", "uncertain", "invalid"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Lead (template-match score, 0-1) a character of a field without a check digit needs over
# every other glyph its position allows. Measured on the real shared set, both ways up, reads
# whose check digits all agreed: wrong letters led by at most 0.046 (E read F, P read Z);
# 1.9 % of right letters led by less than 0.08.
SAFE_MARGIN_UNCHECKED = 0.08
# Glyphs within this of the kept one are its rivals in a check-digit field. Wrong characters
# led by up to 0.072 in the final run (0.085 in an earlier one: 0 read O at low resolution).
SAFE_MARGIN_CHECKED = 0.1
# Lead, compared only where the two glyphs differ, that rules a close glyph out as a rival.
# Measured on the real set, every quarter turn, reads whose digits all agreed: 2.4 % of right
# characters kept a rival at 0.3, 76 of 88 wrong ones did (the other 12 were caught by the
# digits or the whole-glyph margin: no field was flagged valid wrongly; docs/documents.md).
SAFE_PAIR_MARGIN = 0.3
# Close glyphs compared per character, best first (a fourth never came within the margin of
# a right character in the real set).
MAX_RIVALS = 3
# More alternative readings than this and the field is uncertain without trying them all.
MAX_ALTERNATIVES = 4096
_KINDS = {"numeric": DIGITS, "check": DIGITS + "<", "alpha": LETTERS + "<"}

# Field names as reported -> the spans whose characters they rest on (the name span feeds both
# surname and given names) and the check digit that covers them (None: none of their own).
_REPORTED = {
    "document_code": (("document_code",), None),
    "issuing_state": (("issuing_state",), None),
    "document_number": (("document_number", "document_number_check"), "document_number"),
    "birth_date": (("birth_date", "birth_date_check"), "birth_date"),
    "sex": (("sex",), None),
    "expiry_date": (("expiry_date", "expiry_date_check"), "expiry_date"),
    "nationality": (("nationality",), None),
    "surname": (("name",), None),
    "given_names": (("name",), None),
    "optional_data": (("optional_data", "optional_data_check"), "optional_data"),
    "optional_data_2": (("optional_data_2",), None),
}


def allowed_characters(layout: str) -> dict[tuple[int, int], str]:
    """What each (line, column) of a layout may hold, from its field's type."""
    allowed = {}
    for span in SPANS[layout].values():
        for column in range(span.start, span.end):
            allowed[(span.line, column)] = _KINDS.get(span.kind, ALPHABET)
    return allowed


@dataclass(frozen=True)
class CharacterEvidence:
    """How the matcher saw each kept character: its lead over the best other glyph its position
    allows (negative when it was not the first choice, or when a glyph its position forbids
    scored higher: a digit printed in a name), the close glyphs that the telling strokes did not
    rule out (its rivals), and the smallest telling-stroke lead over a close glyph."""

    margins: list[list[float]]
    rivals: list[list[str]]
    pair_margins: list[list[float]]


def character_evidence(
    lines: Sequence[str], layout: str, reads: Sequence[LineRead], *, compare_strokes: bool = True
) -> CharacterEvidence:
    """Margins and rivals of every character kept, from each line's cells.

    ``compare_strokes`` False keeps every close glyph as a rival (cheaper, and all a read whose
    composite digit failed needs: none of its fields can be valid then).
    """
    allowed = allowed_characters(layout)
    margins, rivals, pair_margins = [], [], []
    for line_number, line in enumerate(lines):
        read = reads[line_number]
        margin_row, rival_row, pair_row = [], [], []
        for column, char in enumerate(line):
            # plain floats by glyph: numpy indexing per glyph cost more than the decisions
            score = dict(zip(ALPHABET, read.glyph_scores[column].tolist(), strict=True))
            kept = score[char]
            permitted = allowed.get((line_number, column), ALPHABET)
            others = [score[c] for c in permitted if c != char]
            margin = kept - max(others) if others else 1.0
            best = max(score.values())
            if kept < best:
                margin = min(margin, kept - best)
            if char not in permitted:
                margin = -1.0  # a digit kept in a name (read clearly): never sure of the field
            close = sorted(
                (c for c in permitted if c != char and score[c] >= kept - SAFE_MARGIN_CHECKED),
                key=lambda c: -score[c],
            )[:MAX_RIVALS]
            patch = None
            if close and read.band is not None and compare_strokes:
                patch = cell_patch(read.band, read.cell_x[column], char)
            leads = {c: pair_margin(patch, char, c) if patch is not None else 0.0 for c in close}
            margin_row.append(margin)
            rival_row.append("".join(c for c, lead in leads.items() if lead < SAFE_PAIR_MARGIN))
            pair_row.append(min(leads.values(), default=2.0))
        margins.append(margin_row)
        rivals.append(rival_row)
        pair_margins.append(pair_row)
    return CharacterEvidence(margins, rivals, pair_margins)


def _positions(field: str, layout: str, lines: Sequence[str]) -> list[tuple[int, int]]:
    spans = SPANS[layout]
    names = list(_REPORTED[field][0])
    if field == "document_number" and long_document_number(list(lines), layout):
        names.append("optional_data")  # the long number runs on into optional data
    return [
        (spans[name].line, column)
        for name in names
        if name in spans
        for column in range(spans[name].start, spans[name].end)
    ]


def _digits_cannot_choose(
    lines: Sequence[str],
    positions: list[tuple[int, int]],
    rivals: list[list[str]],
    digit: str,
    checker: Callable[[list[str]], dict[str, bool]],
) -> bool:
    """Whether another reading from the close rivals also satisfies ``digit`` and the
    composite (the check digits then cannot tell the kept reading from it)."""
    options = [(pos, rivals[pos[0]][pos[1]]) for pos in positions if rivals[pos[0]][pos[1]]]
    if not options:
        return False
    count = 1
    for _, alternatives in options:
        count *= len(alternatives) + 1
    if count > MAX_ALTERNATIVES:
        return True
    choices = [lines[line][column] + alternatives for (line, column), alternatives in options]
    for combination in itertools.product(*choices):
        trial = [list(line) for line in lines]
        changed = False
        for ((line, column), _), char in zip(options, combination, strict=True):
            changed |= trial[line][column] != char
            trial[line][column] = char
        if not changed:
            continue
        results = checker(["".join(line) for line in trial])
        if results.get(digit, True) and results.get("composite", True):
            return True
    return False


def field_statuses(
    lines: Sequence[str],
    layout: str,
    check_digits: Sequence[object],
    evidence: CharacterEvidence | None,
    checker: Callable[[list[str]], dict[str, bool]] | None = None,
) -> dict[str, str]:
    """``valid`` / ``uncertain`` / ``invalid`` for each reported field of a parsed MRZ.

    ``evidence`` None means typed text (no OCR): characters are taken as given and only the
    check digits decide. ``checker`` recomputes every check digit of trial lines.
    """
    digits = {c.name: c.valid for c in check_digits}
    composite_ok = digits.get("composite", True)
    statuses: dict[str, str] = {}
    for field, (_, digit) in _REPORTED.items():
        positions = _positions(field, layout, lines)
        if not positions:
            continue
        if digit is not None and digit in digits and not digits[digit]:
            statuses[field] = INVALID
            continue
        covered = digit is not None and digit in digits
        composite_covered = (
            covered or field == "optional_data_2" or (field == "optional_data" and layout == "TD1")
        )
        if composite_covered and not composite_ok:
            statuses[field] = UNCERTAIN
        elif evidence is None:
            statuses[field] = VALID
        elif composite_covered and checker is not None:
            doubtful = _digits_cannot_choose(
                lines, positions, evidence.rivals, digit or "composite", checker
            )
            statuses[field] = UNCERTAIN if doubtful else VALID
        else:
            # a field no digit covers is only as good as the read: if any digit failed, the
            # line may be shifted or misread throughout
            sure = all(digits.values()) and all(
                evidence.margins[line][column] >= SAFE_MARGIN_UNCHECKED
                or (evidence.margins[line][column] >= 0 and not evidence.rivals[line][column])
                for line, column in positions
            )
            statuses[field] = VALID if sure else UNCERTAIN
    return statuses


def fields_needing_review(statuses: dict[str, str]) -> list[str]:
    """The fields a human must check, in layout order."""
    return [name for name, status in statuses.items() if status != VALID]
