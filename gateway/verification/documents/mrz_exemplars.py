"""Tell close glyphs apart by how this document prints them, not how the font does.

Issuers print OCR-B with their own printers and at their own sizes: on many real documents a
printed ``0`` is as wide as the font's ``O`` (the real set's Swiss, Egyptian and Luxembourg
pages), so the font templates score it ``O`` by a few hundredths. The document itself says
better: a cell whose field type allows digits only (a date, a check digit) and that leads every
other digit clearly is a sure exemplar of how *this* page prints that digit, and likewise for
letters in names. A cell that the templates cannot settle between two glyphs (in a document
number, optional data or a name) is then given to the glyph whose exemplars on the same page
it resembles, when it resembles them as much as they resemble each other.

Nothing here can make a read valid on its own: check-digit fields still have to satisfy their
digits, and ``mrz_certainty`` still grades every kept character against its runner-up.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from gateway.verification.documents.mrz_glyph_pairs import PATCH_BORDER_PX, cell_patch
from gateway.verification.documents.mrz_layout import character_value
from gateway.verification.documents.mrz_ocr import MRZ_ALPHABET, LineRead

# A cell is an exemplar of its glyph when that glyph leads every other glyph its position
# allows by this much (the real set's printed 0s in dates lead the other digits by 0.1-0.4
# while trailing the letter O by up to 0.09).
EXEMPLAR_LEAD = 0.1
# Cells whose allowed glyphs came within this of each other are re-decided on exemplars (the
# margin below which mrz_certainty doubts a character anyway).
CLOSE = 0.1
# A cell takes a glyph from its exemplars when it correlates with their mean nearly as well
# (within FLOOR_SLACK) as the weakest of them does (leave-one-out), and by at least
# MIN_EXEMPLAR_SIMILARITY in absolute terms. On the real set the exemplars of one glyph agree
# at 0.83-0.97 and a cell of another glyph scores 0.6-0.85 against them.
MIN_EXEMPLAR_SIMILARITY = 0.75
FLOOR_SLACK = 0.03
# With exemplars of two candidates, the closer one must lead by this much.
MIN_EXEMPLAR_LEAD = 0.03
DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


_POSITION = {glyph: index for index, glyph in enumerate(MRZ_ALPHABET)}


def _ordered(scores: np.ndarray, permitted: str) -> list[tuple[float, str]]:
    values = scores.tolist()  # plain floats: indexing numpy per glyph cost more than the sort
    return sorted(((values[_POSITION[c]], c) for c in permitted), reverse=True)


def _similarity(patch: np.ndarray, mean: np.ndarray) -> float:
    """Best normalised correlation of an exemplar mean (cell size) within a bordered patch."""
    if not patch.any() or np.ptp(mean) < 1:
        return -1.0
    return float(cv2.matchTemplate(patch, mean, cv2.TM_CCOEFF_NORMED).max())


def _digit_tells(kept: str, glyph: str, permitted: str) -> bool:
    """Whether a check digit covers the position (it holds letters and digits: a document
    number, optional data) and tells ``kept`` from ``glyph`` (``U`` and ``0`` are both worth 0
    modulo 10: a switch between them would pass unseen)."""
    if not (set(permitted) & set(DIGITS) and set(permitted) & set(LETTERS)):
        return False
    return character_value(kept) % 10 != character_value(glyph) % 10


def _inner(patch: np.ndarray) -> np.ndarray:
    border = PATCH_BORDER_PX
    return patch[border:-border, border:-border]


def settle_by_exemplars(
    reads: list[LineRead], allowed: dict[tuple[int, int], str]
) -> list[LineRead]:
    """The lines with each close cell re-decided on the document's own sure glyphs.

    ``allowed`` maps (line, column) to the glyphs the layout permits there.
    """
    if any(read.band is None or not read.text for read in reads):
        return reads
    exemplars: dict[str, list[np.ndarray]] = {}
    close_cells: list[tuple[int, int, list[str]]] = []
    for number, read in enumerate(reads):
        for column in range(len(read.text)):
            permitted = allowed.get((number, column), MRZ_ALPHABET)
            ranked = _ordered(read.glyph_scores[column], permitted)
            if len(ranked) < 2:
                continue
            (best_score, best), (second_score, _) = ranked[0], ranked[1]
            if best_score - second_score >= EXEMPLAR_LEAD and best != "<":
                exemplars.setdefault(best, []).append(
                    _inner(cell_patch(read.band, read.cell_x[column], best))
                )
            elif best_score - second_score < CLOSE:
                candidates = [c for score, c in ranked[:3] if score >= best_score - CLOSE]
                close_cells.append((number, column, candidates))
    if not close_cells or not exemplars:
        return reads
    means, floors = {}, {}
    for glyph, patches in exemplars.items():
        stack = np.stack(patches)
        means[glyph] = stack.mean(axis=0)
        if len(patches) >= 2:
            total = stack.sum(axis=0)
            floors[glyph] = min(
                _similarity(np.pad(p, PATCH_BORDER_PX), (total - p) / (len(patches) - 1))
                for p in patches
            )
    texts = [list(read.text) for read in reads]
    for number, column, candidates in close_cells:
        read = reads[number]
        known = [c for c in candidates if c in floors]
        if not known:
            continue
        similarity = {
            c: _similarity(cell_patch(read.band, read.cell_x[column], c), means[c]) for c in known
        }
        ranked = sorted(similarity.items(), key=lambda item: -item[1])
        glyph, best = ranked[0]
        if best < max(MIN_EXEMPLAR_SIMILARITY, floors[glyph] - FLOOR_SLACK):
            continue
        if len(ranked) > 1 and best - ranked[1][1] < MIN_EXEMPLAR_LEAD:
            continue
        kept = texts[number][column]
        if glyph == kept:
            continue
        if kept not in similarity and not _digit_tells(
            kept, glyph, allowed.get((number, column), "")
        ):
            continue  # the kept glyph unseen on the page, and no check digit to catch a switch
        texts[number][column] = glyph
    return [replace(read, text="".join(text)) for read, text in zip(reads, texts, strict=True)]
