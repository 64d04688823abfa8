"""Stand leaning MRZ glyphs up: the slant of a line, from its glyphs' own vertical strokes.

A page photographed at an angle leans its glyphs (a keystone turns verticals into slanted
lines), and the templates, upright, fit a leaning glyph worse in every cell: on keystoned
copies of the real pages ``N`` read ``V``, ``V`` read ``Y``, ``0`` read ``D``. The zone's own
homography stands them up only when its line ends are found well. Every OCR-B line is rich in
vertical strokes (``1``, ``I``, ``H``, ``N``, the sides of ``0``, ``U``, ``D``), so the shear
that makes the line's column ink profile sharpest is the one that stands them up.
"""

from __future__ import annotations

import cv2
import numpy as np

# Shears tried (horizontal pixels per pixel of height): a lean of up to ~17 degrees.
SLANTS = tuple(float(s) for s in np.round(np.arange(-0.3, 0.31, 0.05), 2))
# The profile is measured on the text rows at this share of the crop's size (the sharpest
# shear is the same, at a quarter of the pixels).
WORK_SCALE = 0.5


def sheared(image: np.ndarray, slant: float) -> np.ndarray:
    """The image with each row moved ``slant`` pixels per row from its middle row (a slant of
    s stands up strokes that lean by -s), paper repeated at the ends."""
    height, width = image.shape[:2]
    matrix = np.float32([[1, slant, -slant * (height - 1) / 2], [0, 1, 0]])
    return cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def estimate_slant(ink: np.ndarray, rows: tuple[int, int]) -> float:
    """The shear (one of ``SLANTS``) under which the text rows' column ink profile is
    sharpest (its sum of squares is largest): vertical strokes then fall in single columns.
    ``ink`` is high on strokes; ``rows`` the text band (top, bottom)."""
    top, bottom = rows
    band = ink[top:bottom]
    if band.size == 0:
        return 0.0
    band = cv2.resize(band, None, fx=WORK_SCALE, fy=WORK_SCALE, interpolation=cv2.INTER_AREA)
    band = np.clip(band - float(np.median(band)), 0, None)
    sharpness = [float(np.square(sheared(band, slant).sum(axis=0)).sum()) for slant in SLANTS]
    return SLANTS[int(np.argmax(sharpness))]
