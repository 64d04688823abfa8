"""Re-decide close cells with every cell's ink measured against its own ink and paper levels.

A whole-line band is normalised once (``mrz_band.scaled_band``: its darkest and lightest
pixel), so a stroke printed faint (the lower bar of an ``E`` at 40 % of its neighbours' ink, a
ribbon running dry) weighs less in the match than a full stroke, and the glyph without that stroke
(``F``) wins the cell by a few hundredths. Levelled to the ink and paper around it, a faint
stroke counts as a stroke. Only the glyphs that came close in the plain match are compared,
and only the cell's text changes: its scores stay those of the plain match, so a cell changed
here keeps its best plain glyph as the rival that ``mrz_certainty`` sees (never ``valid`` on a
margin it did not earn).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import cv2
import numpy as np

from gateway.verification.documents.mrz_ocr import LineRead
from gateway.verification.documents.mrz_templates import MRZ_ALPHABET, glyph_set

# A cell's ink is full ink at this share of the way from its paper to its darkest stroke.
# Measured on the real set upright (scored rows, plain + levelled rule, before the vertical
# phase): 0.4 read 27 of 31 exactly, 0.5 read 26 (43_pass-fra's E back to F); 0.6 was not
# enough to turn that E on the levelled match alone (E 0.821, F 0.823).
STROKE_SATURATION = 0.4
# Cells whose runner-up came within this of the best glyph are re-decided (the margin under
# which mrz_certainty doubts a character anyway).
LEVEL_CLOSE = 0.1
# Plain + levelled score by which another close glyph must lead the kept one to take the cell
# (not swept: 43_pass-fra's E led by 0.057, 100_id-che's O and D tied at 0.002).
LEVEL_LEAD = 0.02


def levelled_band(band: np.ndarray, pitch: int) -> np.ndarray:
    """The band with each column's ink scaled between the paper and the darkest stroke within
    about a cell of it (a floor of half the band's usual stroke contrast keeps blank stretches
    from being stretched into noise), strokes saturated at ``STROKE_SATURATION``."""
    width = pitch | 1
    kernel = np.ones((band.shape[0], width), np.uint8)
    stroke = cv2.blur(cv2.dilate(band, kernel), (width, 1))
    paper = cv2.blur(cv2.erode(band, kernel), (width, 1))
    contrast = stroke - paper
    floor = max(1.0, 0.5 * float(np.percentile(contrast, 90)))
    level = (band - paper) / np.maximum(contrast, floor)
    return (255 * np.clip(level / STROKE_SATURATION, 0, 1)).astype(np.float32)


@cache
def levelled_glyphs(factor: float, saturation: float) -> np.ndarray:
    """The templates through the same saturation as the band (their blurred edges thickened
    alike: a saturated band against crisp templates favours the glyphs with the most ink)."""
    glyphs = glyph_set(factor)
    peak = glyphs.max(axis=(1, 2), keepdims=True)
    return (255 * np.clip(glyphs / (saturation * peak), 0, 1)).astype(np.float32)


def settle_by_levels(read: LineRead) -> LineRead:
    """The line with each close cell given to the close glyph its plain and levelled matches
    together fit best (the sum: levelled alone, heavy glyphs took light ones, ``H`` read
    ``M`` and ``IN`` read ``AM`` on 24_pass-egy)."""
    if read.band is None or not read.text:
        return read
    glyphs = levelled_glyphs(read.factor, STROKE_SATURATION)
    cap, pitch = glyphs.shape[1:]
    levelled: np.ndarray | None = None
    chars = list(read.text)
    slack = max(1, round(0.1 * pitch))
    for column, char in enumerate(chars):
        scores = read.glyph_scores[column]
        best = float(scores.max())
        close = [i for i in np.argsort(-scores)[:3] if scores[i] >= best - LEVEL_CLOSE]
        if len(close) < 2:
            continue
        if levelled is None:
            levelled = levelled_band(read.band, pitch)
        x = read.cell_x[column]
        lo, hi = max(0, x - slack), min(levelled.shape[1], x + pitch + slack)
        strip = levelled[:, lo:hi]
        if strip.shape[1] < pitch or strip.shape[0] < cap:
            continue
        fits = {
            MRZ_ALPHABET[i]: float(scores[i])
            + float(cv2.matchTemplate(strip, glyphs[i], cv2.TM_CCOEFF_NORMED).max())
            for i in close
        }
        ranked = sorted(fits.items(), key=lambda item: -item[1])
        glyph, fit = ranked[0]
        if glyph != char and fit - fits.get(char, -1.0) >= LEVEL_LEAD:
            chars[column] = glyph
    return replace(read, text="".join(chars))
