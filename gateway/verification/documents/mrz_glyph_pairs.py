"""Tell two close OCR-B glyphs apart by the strokes where they differ.

A whole-cell template match scores ``U`` and ``0``, ``E`` and ``F``, ``O`` and ``0`` within a few
hundredths of each other, because most of their ink is shared; the check digit cannot help
with ``U`` and ``0`` either (both are worth 0 modulo 10). Compared only where the two templates
differ (the top bar of ``0``, the lower arm of ``E``), the same cell gives a clear answer or
shows that it really is ambiguous. Each cell is kept with a small border, so either template
may settle a pixel or two away from where the whole-cell match put it.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import cv2
import numpy as np

from gateway.verification.documents.mrz_ocr import MRZ_ALPHABET, LineRead, templates

PATCH_BORDER_PX = 2
# Template levels (0-255 ink, blurred): a glyph's stroke, and where it is surely blank.
INK_LEVEL = 128.0
BLANK_LEVEL = 20.0


def cell_patch(band: np.ndarray, x: int, char: str) -> np.ndarray:
    """The cell whose glyph's left edge is at column ``x`` of the scaled ink band, at the height
    where ``char``'s template fits it best, with ``PATCH_BORDER_PX`` around it."""
    glyphs, _ = templates()
    glyph = glyphs[MRZ_ALPHABET.index(char)]
    cap, pitch = glyph.shape
    border = PATCH_BORDER_PX
    height, width = band.shape
    if x + pitch > width + border or height + 2 * border < cap:
        return np.zeros((cap + 2 * border, pitch + 2 * border), np.float32)
    # the band's columns x - border .. x + pitch + border, zero beyond its edges (padding only
    # these: the whole band padded was copied once per cell)
    padded = np.zeros((height + 2 * border, pitch + 2 * border), band.dtype)
    lo, hi = max(0, x - border), min(width, x + pitch + border)
    if lo < hi:
        padded[border : border + height, lo - x + border : hi - x + border] = band[:, lo:hi]
    strip = padded[:, border : border + pitch]
    y = int(np.argmax(cv2.matchTemplate(strip, glyph, cv2.TM_CCOEFF_NORMED)[:, 0]))
    patch = padded[y : y + cap + 2 * border]
    out = np.zeros((cap + 2 * border, pitch + 2 * border), np.float32)
    out[: patch.shape[0], : patch.shape[1]] = patch
    return out


def _best_alignment(patch: np.ndarray, template: np.ndarray) -> tuple[int, int]:
    """The shift (dy, dx) within the border where the whole template fits the patch best."""
    fit = cv2.matchTemplate(patch, template, cv2.TM_CCOEFF_NORMED)
    dy, dx = np.unravel_index(int(np.argmax(fit)), fit.shape)
    return int(dy), int(dx)


@cache
def _blank_where_other_inks(glyph: str, other: str) -> np.ndarray:
    """Pixels that must be blank for ``glyph`` but carry ``other``'s ink."""
    glyphs, _ = templates()
    mine = glyphs[MRZ_ALPHABET.index(glyph)]
    theirs = glyphs[MRZ_ALPHABET.index(other)]
    return (mine < BLANK_LEVEL) & (theirs > INK_LEVEL)


def _percentiles(values: np.ndarray, quantiles: tuple[float, ...]) -> list[float]:
    """``np.percentile`` (linear) of a small array by partial sorting: the same values at a
    fraction of its overhead, which dominated telling a close cell apart."""
    flat = values.ravel()
    last = flat.size - 1
    positions = [q * last for q in quantiles]
    needed = sorted({int(p) for p in positions} | {min(int(p) + 1, last) for p in positions})
    ordered = np.partition(flat, needed)
    out = []
    for position in positions:
        low = int(position)
        high = min(low + 1, last)
        out.append(float(ordered[low] + (ordered[high] - ordered[low]) * (position - low)))
    return out


def contradiction(patch: np.ndarray, glyph: str, other: str) -> float:
    """How much ink the cell holds (0-1) where ``glyph`` must be blank and ``other`` inks,
    with ``glyph`` placed where it fits best: near 1 rules ``glyph`` out."""
    region = _blank_where_other_inks(glyph, other)
    if not region.any():
        return 0.0  # ``other`` adds no stroke to ``glyph`` (F against E): nothing to see
    glyphs, _ = templates()
    template = glyphs[MRZ_ALPHABET.index(glyph)]
    dy, dx = _best_alignment(patch, template)
    cell = patch[dy : dy + template.shape[0], dx : dx + template.shape[1]]
    background, stroke = _percentiles(patch, (0.1, 0.9))
    if stroke - background < 1:
        return 0.0
    level = np.clip((cell - background) / (stroke - background), 0, 1)
    return float(level[region].mean())


def pair_margin(patch: np.ndarray, kept: str, rival: str) -> float:
    """How much more the cell contradicts ``rival`` than ``kept`` (-1..1): the cell's ink where
    the rival must be blank, less its ink where the kept glyph must be blank. A true ``0`` read
    beside ``U`` inks the top bar a ``U`` lacks; an ``F`` that is really an ``E`` shows no
    stroke against ``E`` at all, so the rival stands."""
    if kept == rival:
        return 1.0
    return contradiction(patch, rival, kept) - contradiction(patch, kept, rival)


def settle_close_cells(read: LineRead, closeness: float, overturn: float) -> LineRead:
    """The line with each cell whose runner-up came within ``closeness`` of the best glyph
    re-decided on the telling strokes: the runner-up takes the cell when it leads there by
    ``overturn``. Whole-cell matching favours the glyph with more ink in common (``F`` over
    ``E``, ``U`` over a wide ``0``), which the check digit cannot always catch.

    Not on a small zone (glyphs under 8 px, read on sampled templates): the strokes are
    compared on the crisp templates, and there they overturned more right cells than wrong
    ones (94 small-zone line crops of the real set and its 60 % / 40 % / keystoned copies:
    100 wrong characters on the plain read, 133 after this step alone, 72 after the levelled
    step alone and 106 after both; see docs/documents.md)."""
    if read.band is None or not read.text or read.small_zone:
        return read
    chars = list(read.text)
    for column, char in enumerate(chars):
        scores = read.glyph_scores[column]
        kept = float(scores[MRZ_ALPHABET.index(char)])
        close = [MRZ_ALPHABET[i] for i in np.argsort(-scores)[1:4] if scores[i] >= kept - closeness]
        if not close:
            continue
        patch = cell_patch(read.band, read.cell_x[column], char)
        leads = {rival: -pair_margin(patch, char, rival) for rival in close}
        rival, lead = max(leads.items(), key=lambda item: item[1])
        if lead >= overturn:
            chars[column] = rival
    return replace(read, text="".join(chars))
