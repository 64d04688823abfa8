"""Read one MRZ line by matching OCR-B glyphs cell by cell.

ICAO 9303 prints every MRZ in OCR-B at a fixed pitch with a known character count (30, 36 or
44 per line) from a 37-symbol alphabet. That makes the line a row of cells, and each cell a choice
among 37 templates rendered from the OCR-B font (Debian ``fonts-ocr-b``). The general OCR engines
measured beside it (tesseract ``eng``, PP-OCR via rapidocr) lose or invent ``<`` fillers; the
cell count here is fixed, so they cannot. See docs/documents.md for the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

MRZ_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
TEMPLATE_CAP_PX = 30
FINE_SLACK_PITCH = 0.1
VERTICAL_SCALES = (0.85, 0.93, 1.0, 1.08)
SCALE_PROBE_GLYPHS = "<0OUDMIA58E"
OCRB_PATHS = [
    "/usr/share/fonts/opentype/ocr-b/OCRB.otf",
    "/usr/share/fonts/truetype/ocr-b/OCRB.ttf",
]


class OcrbFontMissing(RuntimeError):
    """The OCR-B font is not installed (Debian package fonts-ocr-b)."""


@cache
def _font_at(size: int) -> ImageFont.FreeTypeFont:
    for path in OCRB_PATHS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    raise OcrbFontMissing("OCR-B font not found: install the Debian package fonts-ocr-b")


@cache
def templates() -> tuple[np.ndarray, float]:
    """Glyph templates (37 x cap height x pitch, float32, ink high) and the pitch/cap ratio."""
    probe = _font_at(200)
    top, bottom = probe.getbbox("H")[1], probe.getbbox("H")[3]
    size = round(200 * TEMPLATE_CAP_PX / (bottom - top))
    font = _font_at(size)
    pitch = round(font.getlength("<"))
    cap_top, cap_bottom = font.getbbox("H")[1], font.getbbox("H")[3]
    glyphs = []
    for char in MRZ_ALPHABET:
        canvas = Image.new("L", (pitch, cap_bottom + 10), 0)
        ImageDraw.Draw(canvas).text((0, 0), char, font=font, fill=255)
        cell = np.asarray(canvas, np.float32)[cap_top:cap_bottom]
        glyphs.append(cv2.GaussianBlur(cell, (0, 0), 0.8))
    return np.stack(glyphs), pitch / (cap_bottom - cap_top)


def _ink_extent(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """Rows and columns of the text band in a line crop (ink is high).

    Rows: the band around the fullest row (a neighbouring line's edge is cut away). Columns: the
    widest run of ink whose gaps stay under one cap height (a card edge or a shadow caught in
    the margin is a separate run and is dropped).
    """
    _, binary = cv2.threshold(ink.astype(np.uint8), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
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


def _scaled_band(band: np.ndarray, fx: float, fy: float) -> np.ndarray:
    interpolation = cv2.INTER_AREA if fx < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(band, None, fx=fx, fy=fy, interpolation=interpolation)
    return cv2.normalize(scaled, None, 0, 255, cv2.NORM_MINMAX)


def _glyph_response(band: np.ndarray, glyphs: np.ndarray) -> np.ndarray:
    """response[c, x]: glyph c's best vertical placement with its left edge at column x."""
    response = np.stack(
        [cv2.matchTemplate(band, glyph, cv2.TM_CCOEFF_NORMED).max(axis=0) for glyph in glyphs]
    )
    return np.nan_to_num(response, nan=-1.0)


def read_line(line_gray: np.ndarray, char_count: int) -> LineRead:
    """The line as ``char_count`` MRZ characters, with each cell's match score (0-1).

    The crop is scaled so the ink spans ``char_count`` template pitches; cell centres are
    predicted from the ink extent and each cell may slide a third of a pitch, which absorbs mild
    perspective.
    """
    glyphs, _ = templates()
    ink = 255 - line_gray.astype(np.float32)
    extent = _ink_extent(ink)
    if extent is None:
        return LineRead("")
    top, bottom, left, right = extent
    cap = bottom - top
    pitch = glyphs.shape[2]
    # N cells span the ink less about a third of a cell of side bearings
    measured_pitch = (right - left) / max(char_count - 0.3, 1)
    scale = pitch / measured_pitch
    pad_y = max(2, cap // 3)
    x0 = max(0, left - cap)
    band = ink[max(0, top - pad_y) : bottom + pad_y, x0 : right + cap]
    # The vertical scale is the least certain (blur fattens the measured cap height, a tilted
    # card changes the height/pitch ratio): try a few and keep the one the glyphs fit best.
    # (scored on a few telling glyphs, then matched in full at the chosen scale only)
    probe = glyphs[[MRZ_ALPHABET.index(c) for c in SCALE_PROBE_GLYPHS]]
    chosen, best_fit = None, -np.inf
    for vertical in VERTICAL_SCALES:
        band_scaled = _scaled_band(band, scale, scale * vertical)
        if band_scaled.shape[0] < glyphs.shape[1] or band_scaled.shape[1] < pitch:
            continue
        fit = float(np.mean(np.sort(_glyph_response(band_scaled, probe).max(axis=0))[-char_count:]))
        if fit > best_fit:
            chosen, best_fit = band_scaled, fit
    if chosen is None:
        return LineRead("")
    response = _glyph_response(chosen, glyphs)
    step = float(pitch)
    slack = max(2, round(0.33 * step))
    text_left = (left - x0) * scale
    text_width = (right - left) * scale
    # pass 1: walk the cells, each free to slide, to learn where the glyphs really sit
    expected = text_left + (text_width - step * char_count) / 2
    found_at = []
    for _ in range(char_count):
        lo = max(0, round(expected) - slack)
        hi = min(response.shape[1], round(expected) + slack + 1)
        if lo < hi:
            window = response[:, lo:hi]
            found = lo + int(np.unravel_index(int(np.argmax(window)), window.shape)[1])
        else:
            found = round(expected)
        found_at.append(found)
        expected = 0.5 * (found + step) + 0.5 * (expected + step)
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
    chars, scores, runners_up, margins = [], [], [], []
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
            continue
        per_glyph = response[:, lo:hi].max(axis=1)
        char_index = int(np.argmax(per_glyph))
        chars.append(MRZ_ALPHABET[char_index])
        scores.append(float(per_glyph[char_index]))
        glyph_scores.append(per_glyph.copy())
        per_glyph[char_index] = -2.0
        second = int(np.argmax(per_glyph))
        runners_up.append(MRZ_ALPHABET[second])
        margins.append(scores[-1] - float(per_glyph[second]))
    return LineRead("".join(chars), scores, "".join(runners_up), margins, glyph_scores)
