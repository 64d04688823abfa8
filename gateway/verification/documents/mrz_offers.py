"""What the OCR offers ``parse_mrz`` besides its best glyph in each cell of a read MRZ.

The repairs (``mrz_repair``) may only change a cell to a glyph offered here: the best glyph the
field type allows where the overall best is of the wrong type, a close runner-up, and in a
country code every close letter (a code is checked against the list of codes instead of a
check digit). A glyph the OCR did not hesitate over is never offered.
"""

from __future__ import annotations

import numpy as np

from gateway.verification.documents.mrz import LAYOUTS, SPANS
from gateway.verification.documents.mrz_ocr import MRZ_ALPHABET, LineRead
from gateway.verification.documents.mrz_repair import CODE_SPANS, DOCUMENT_KINDS

DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# A cell whose runner-up glyph scored within this of the best is open to repair (if the check
# digits then agree); clear cells never change.
AMBIGUOUS_MARGIN = 0.12
# The best glyph a field's type allows is offered in place of a forbidden one only when it
# scored within this of it: a digit read clearly in a letter field is what is printed there
# (Romanian cards put digits where ICAO puts the nationality; US cards print the code "C1"),
# and stays, to be reported uncertain, rather than be turned into the nearest letter.
TYPED_OFFER_MARGIN = 0.12


def allowed_by_position(length: int, line_count: int) -> dict[tuple[int, int], str]:
    """What each MRZ position may hold, from its field type in the layout."""
    layout = {30: "TD1", 36: "TD2", 44: "TD3"}[length]
    if LAYOUTS[layout][0] != line_count:
        return {}
    allowed = {}
    kinds = {"numeric": DIGITS, "check": DIGITS + "<", "alpha": LETTERS + "<"}
    for span in SPANS[layout].values():
        for column in range(span.start, span.end):
            allowed[(span.line, column)] = kinds.get(span.kind, MRZ_ALPHABET)
    first = SPANS[layout]["document_code"]
    allowed[(first.line, first.start)] = DOCUMENT_KINDS  # P, I, A, C or V (ICAO 9303)
    return allowed


def _code_positions(length: int, line_count: int) -> set[tuple[int, int]]:
    layout = {30: "TD1", 36: "TD2", 44: "TD3"}[length]
    if LAYOUTS[layout][0] != line_count:
        return set()
    spans = [SPANS[layout][name] for name in CODE_SPANS if name in SPANS[layout]]
    return {(span.line, column) for span in spans for column in range(span.start, span.end)}


def offered_glyphs(read: LineRead, line_number: int, length: int, line_count: int) -> dict:
    """Per cell, the glyphs the OCR would also accept: the best one the field type allows
    (when the overall best is of the wrong type), and a close runner-up of the right type."""
    allowed = allowed_by_position(length, line_count)
    codes = _code_positions(length, line_count)
    out = {}
    for column, scores in enumerate(read.glyph_scores):
        permitted = allowed.get((line_number, column), MRZ_ALPHABET)
        order = [MRZ_ALPHABET[i] for i in np.argsort(-scores)]
        best_typed = next((c for c in order if c in permitted), read.text[column])
        options = ""
        typed_lag = float(scores.max() - scores[MRZ_ALPHABET.index(best_typed)])
        clear_digit = (
            permitted == LETTERS + "<"
            and read.text[column] in DIGITS
            and typed_lag > TYPED_OFFER_MARGIN
        )
        if best_typed != read.text[column] and not clear_digit:
            options += best_typed
        if read.margins[column] < AMBIGUOUS_MARGIN and read.runners_up[column] in permitted:
            options += read.runners_up[column]
        if (line_number, column) in codes:  # a country code: every close letter (code_repairs)
            options += "".join(
                c for c in order[1:4]
                if c in LETTERS and c not in options
                and scores[MRZ_ALPHABET.index(c)] >= scores.max() - AMBIGUOUS_MARGIN
            )  # fmt: skip
        if options:
            out[(line_number, column)] = options
    return out


def code_lags(
    read: LineRead, line_number: int, length: int, line_count: int
) -> dict[tuple[int, int], dict[str, float]]:
    """In each country-code cell of the line, how far each letter scored behind the cell's best
    letter: the evidence ``code_repairs`` weighs known codes by."""
    out = {}
    for line, column in _code_positions(length, line_count):
        if line != line_number or column >= len(read.glyph_scores):
            continue
        scores = read.glyph_scores[column]
        best = max(float(scores[MRZ_ALPHABET.index(c)]) for c in LETTERS)
        out[(line, column)] = {c: best - float(scores[MRZ_ALPHABET.index(c)]) for c in LETTERS}
    return out
