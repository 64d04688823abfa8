"""Read one MRZ line by matching OCR-B glyphs cell by cell.

ICAO 9303 prints every MRZ in OCR-B at a fixed pitch with a known character count (30, 36 or
44 per line) from a 37-symbol alphabet. That makes the line a row of cells, and each cell a choice
among 37 templates rendered from the OCR-B font (Debian ``fonts-ocr-b``). The general OCR engines
measured beside it (tesseract ``eng``, PP-OCR via rapidocr) lose or invent ``<`` fillers; the
cell count here is fixed, so they cannot. See docs/documents.md for the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from gateway.verification.documents.mrz_band import line_response, scaled_band, without_blank_cells
from gateway.verification.documents.mrz_match import glyph_response as _glyph_response
from gateway.verification.documents.mrz_pitch import measured_pitch
from gateway.verification.documents.mrz_slant import estimate_slant, sheared
from gateway.verification.documents.mrz_templates import (
    MRZ_ALPHABET,
    PROBE_SCALE,
    glyph_set,
    probe_glyphs,
    template_factor,
    templates,
)

FINE_SLACK_PITCH = 0.1
# A line is read stood up (``mrz_slant``) when its probe fit gains this much. Measured on line
# crops of the real set and its keystoned copies: leaning lines gained 0.015-0.10 (wrong
# characters 34 -> 22 over 131 lines); no real line gained as much (see docs/documents.md).
MIN_SLANT_GAIN = 0.015


def _ink_extent(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """Rows and columns of the text band in a line crop (ink is high).

    Rows: the band around the fullest row (a neighbouring line's edge is cut away). Columns: the
    widest run of ink whose gaps stay under one cap height (a card edge or a shadow caught in
    the margin is a separate run and is dropped).
    """
    _, binary = cv2.threshold(ink.astype(np.uint8), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    # a ruled line or a box drawn round the zone is one long run on a row: not text, and it
    # would otherwise be the fullest row
    rule_px = 2 * ink.shape[0]
    rules = cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (rule_px, 1))
    )
    rules |= cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, ink.shape[0] // 2))
    )
    binary = cv2.subtract(binary, cv2.dilate(rules, np.ones((3, 3), np.uint8)))
    rows = binary.mean(axis=1) / 255
    if rows.max() <= 0:
        return None
    peak = int(np.argmax(rows))
    top, bottom = peak, peak
    while top > 0 and rows[top - 1] > 0.12 * rows.max():
        top -= 1
    while bottom < len(rows) - 1 and rows[bottom + 1] > 0.12 * rows.max():
        bottom += 1
    bottom += 1
    cap = bottom - top
    if cap < 3:
        return None
    cols = binary[top:bottom].mean(axis=0) / 255
    inked = np.where(cols > 0.04)[0]
    if len(inked) < 3:
        return None
    runs, start, previous = [], inked[0], inked[0]
    for column in inked[1:]:
        if column - previous > cap:
            runs.append((start, previous + 1))
            start = column
        previous = column
    runs.append((start, previous + 1))
    left, right = max(runs, key=lambda run: run[1] - run[0])
    return top, bottom, int(left), int(right)


def estimate_char_count(line_gray: np.ndarray) -> float | None:
    """How many OCR-B cells fit the line's ink width at its measured cap height."""
    ink = 255 - line_gray.astype(np.float32)
    extent = _ink_extent(ink)
    if extent is None:
        return None
    top, bottom, left, right = extent
    _, pitch_ratio = templates()
    return (right - left) / ((bottom - top) * pitch_ratio)


@dataclass
class LineRead:
    """A line read cell by cell: the best glyph per cell, its score, and the runner-up glyph
    with how far behind it scored (a small ``margins`` value marks an ambiguous cell)."""

    text: str
    scores: list[float] = field(default_factory=list)
    runners_up: str = ""
    margins: list[float] = field(default_factory=list)
    glyph_scores: list[np.ndarray] = field(default_factory=list)  # per cell, one per glyph
    # the scaled ink band and each cell's left edge in it (for telling close glyphs apart)
    band: np.ndarray | None = None
    cell_x: list[int] = field(default_factory=list)
    # matched against sampled templates (a small zone): the safe margins were not measured there
    small_zone: bool = False
    factor: float = 0.0  # the template set matched (``glyph_set``)


def _grid_start(
    response: np.ndarray, step: float, char_count: int, slack: int
) -> tuple[float, float]:
    """Where the first of ``char_count`` cells ``step`` apart fits the glyphs best.

    Each cell scores the best glyph's response near its predicted left edge; the grid is slid
    along the whole line (and its pitch nudged by up to 3 %), so the cells land on the glyphs
    found, not on the ink's first and last columns.
    """
    best_per_column = response.max(axis=0)
    width = len(best_per_column)
    kernel = np.ones((1, 2 * slack + 1), np.uint8)
    tolerant = cv2.dilate(best_per_column[None, :].astype(np.float32), kernel)[0]
    best_score, best_start, best_step = -np.inf, 0.0, step
    for factor in (0.97, 0.98, 0.99, 1.0, 1.01, 1.02, 1.03):
        pitch = step * factor
        span = pitch * (char_count - 1)
        starts = np.arange(0, max(1.0, width - span), 1.0)
        cells = np.round(starts[:, None] + pitch * np.arange(char_count)[None, :]).astype(int)
        scores = np.where(cells < width, tolerant[np.minimum(cells, width - 1)], -1.0).sum(axis=1)
        index = int(np.argmax(scores))
        if scores[index] > best_score:
            best_score, best_start, best_step = float(scores[index]), float(starts[index]), pitch
    return best_start, best_step


class _Columns:
    """Each column's best response over the glyphs and the first glyph to reach it, as plain
    lists: a walk asks for the best cell in a small window 44 times a line and 7 times a read,
    and numpy's per-call overhead on such windows cost more than the search itself."""

    def __init__(self, response: np.ndarray) -> None:
        self.width = response.shape[1]
        self.best: list[float] = response.max(axis=0).tolist()
        self.first: list[int] = response.argmax(axis=0).tolist()

    def peak(self, lo: int, hi: int) -> tuple[int, float]:
        """The column and value of the best response in columns ``lo:hi``, the tie broken as
        ``np.argmax`` over ``response[:, lo:hi]`` breaks it (lowest glyph, then column)."""
        best = self.best[lo:hi]
        top = max(best)
        if best.count(top) == 1:
            return lo + best.index(top), top
        ties = [lo + i for i, value in enumerate(best) if value == top]
        glyph = min(self.first[column] for column in ties)
        return next(column for column in ties if self.first[column] == glyph), top


def _walk(
    columns: _Columns, start: float, step: float, char_count: int, slack: int
) -> tuple[list[int], float]:
    """Cell positions found walking from ``start``, each cell free to slide by ``slack``, and
    the summed best response of those cells."""
    expected = start
    found_at, total = [], 0.0
    for _ in range(char_count):
        lo = max(0, round(expected) - slack)
        hi = min(columns.width, round(expected) + slack + 1)
        if lo < hi:
            found, value = columns.peak(lo, hi)
            total += value
        else:
            found = round(expected)
            total -= 1.0
        found_at.append(found)
        expected = 0.5 * (found + step) + 0.5 * (expected + step)
    return found_at, total


def probe_fit(line_gray: np.ndarray, char_count: int, upscale: float = 1.0) -> float:
    """How well a few telling OCR-B glyphs fit the line (mean of the best cells, 0-1): a cheap
    test of a candidate line, and of which way up it is, before reading it in full.
    ``upscale``: crop pixels per photo pixel (how much the line was enlarged when cut out)."""
    ink = 255 - line_gray.astype(np.float32)
    extent = _ink_extent(ink)
    if extent is None:
        return 0.0
    top, bottom, left, right = extent
    measured = measured_pitch(ink, extent, char_count)
    if measured is None:
        return 0.0
    factor = template_factor(measured / upscale)
    pitch = glyph_set(factor).shape[2]
    scale = pitch / measured
    pad_y = max(2, (bottom - top) // 3)
    band = ink[max(0, top - pad_y) : bottom + pad_y, max(0, left - (bottom - top)) : right + 1]
    probe = probe_glyphs(factor)
    band = scaled_band(band, PROBE_SCALE * scale, PROBE_SCALE * scale)
    if band.shape[0] < probe.shape[1] or band.shape[1] < probe.shape[2]:
        return 0.0
    best = _glyph_response(band, probe).max(axis=0)
    return float(np.mean(np.sort(best)[-min(char_count, len(best)) :]))


def _upright(
    line_gray: np.ndarray, char_count: int, upscale: float, cache: dict | None
) -> np.ndarray:
    """The line crop with its glyphs stood up (``mrz_slant``), when that makes a few telling
    OCR-B glyphs fit it by ``MIN_SLANT_GAIN`` more; else the crop as it is. Kept in ``cache``
    (one per crop), so every layout tried reads the same crop."""
    if cache is not None and "upright" in cache:
        return cache["upright"]
    upright = line_gray
    ink = 255 - line_gray.astype(np.float32)
    extent = _ink_extent(ink)
    if extent is not None and (slant := estimate_slant(ink, extent[:2])):
        candidate = sheared(line_gray, slant)
        gain = probe_fit(candidate, char_count, upscale) - probe_fit(line_gray, char_count, upscale)
        if gain >= MIN_SLANT_GAIN:
            upright = candidate
    if cache is not None:
        cache["upright"] = upright
    return upright


def read_line(
    line_gray: np.ndarray, char_count: int, cache: dict | None = None, upscale: float = 1.0
) -> LineRead:
    """The line as ``char_count`` MRZ characters, with each cell's match score (0-1).

    The pitch comes from the period of the glyphs (the ink extent only when that period cannot
    be measured), the crop is scaled so it matches the templates' pitch, and the grid is placed
    where the cells fit the glyphs best; each cell may then slide a third of a pitch, which
    absorbs mild perspective. ``cache`` (one dict per crop) keeps the glyph responses, which do
    not depend on the cell count, for a second layout tried on the same line. ``upscale``: crop
    pixels per photo pixel; glyphs that were small in the photo meet templates of their size.
    """
    line_gray = _upright(line_gray, char_count, upscale, cache)
    ink = 255 - line_gray.astype(np.float32)
    extent = _ink_extent(ink)
    if extent is None:
        return LineRead("")
    measured = measured_pitch(ink, extent, char_count)
    if measured is None:
        return LineRead("")
    factor = template_factor(measured / upscale)
    glyphs = glyph_set(factor)
    pitch = glyphs.shape[2]
    scale = pitch / measured
    key = (round(scale, 4), factor)
    if cache is not None and key in cache:
        band, response = cache[key]
    else:
        computed = line_response(ink, extent, scale, factor)
        if computed is None:
            return LineRead("")
        band, response = computed
        if cache is not None:
            cache[key] = computed
    response = without_blank_cells(band, response, pitch)
    slack = max(2, round(0.33 * pitch))
    start, step = _grid_start(response, float(pitch), char_count, max(1, round(0.1 * pitch)))
    # pass 1: walk the cells, each free to slide, to learn where the glyphs really sit; the
    # walk adapts to perspective (a pitch that grows along the line), which a straight grid
    # does not, so it is also tried up to three cells either side of the grid start; the walk
    # whose cells fit best is kept
    best_walk: tuple[float, list[int]] = (-np.inf, [])
    columns = _Columns(response)
    for shift in (-3, -2, -1, 0, 1, 2, 3):
        found_at, total = _walk(columns, start + shift * step, step, char_count, slack)
        if total > best_walk[0]:
            best_walk = (total, found_at)
    found_at = best_walk[1]
    # pass 2: a smooth pitch (quadratic: perspective foreshortens a line) fitted to those
    # positions, outliers dropped, then a small slack only, so a wide glyph cannot win a cell by
    # sliding half a pitch (O against 0, U, D)
    index = np.arange(char_count)
    positions = np.array(found_at, np.float64)
    keep = np.ones(char_count, bool)
    fit = np.polyfit(index, positions, 2)
    for _ in range(2):
        residual = np.abs(positions - np.polyval(fit, index))
        keep = residual < max(2.0, 0.15 * step)
        if keep.sum() < char_count // 2:
            break
        fit = np.polyfit(index[keep], positions[keep], 2)
    fine_slack = max(1, round(FINE_SLACK_PITCH * step))
    chars, scores, runners_up, margins, cell_x = [], [], [], [], []
    glyph_scores: list[np.ndarray] = []
    for i in range(char_count):
        centre = round(float(np.polyval(fit, i)))
        lo = max(0, centre - fine_slack)
        hi = min(response.shape[1], centre + fine_slack + 1)
        if lo >= hi:
            chars.append("<")
            scores.append(0.0)
            runners_up.append("<")
            margins.append(0.0)
            glyph_scores.append(np.zeros(len(MRZ_ALPHABET), np.float32))
            cell_x.append(max(0, min(centre, response.shape[1] - 1)))
            continue
        per_glyph = response[:, lo:hi].max(axis=1)
        char_index = int(np.argmax(per_glyph))
        cell_x.append(lo + int(np.argmax(response[char_index, lo:hi])))
        chars.append(MRZ_ALPHABET[char_index])
        scores.append(float(per_glyph[char_index]))
        glyph_scores.append(per_glyph.copy())
        per_glyph[char_index] = -2.0
        second = int(np.argmax(per_glyph))
        runners_up.append(MRZ_ALPHABET[second])
        margins.append(scores[-1] - float(per_glyph[second]))
    return LineRead(
        "".join(chars),
        scores,
        "".join(runners_up),
        margins,
        glyph_scores,
        band,
        cell_x,
        small_zone=bool(factor),
        factor=factor,
    )
