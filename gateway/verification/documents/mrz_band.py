"""The band a line is matched on: its vertical scale and phase, and its blank cells.

A line's glyphs share one height against the font's and one vertical phase against the band's
pixel rows, and the match tries a few of each and keeps the best (``line_response``). Cells over
blank paper are then taken out of the grid's reach (``without_blank_cells``). Split from
``mrz_ocr`` (which reads the cells) so each module stays small; the numbers and their reasons
are unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

from gateway.verification.documents.mrz_match import glyph_response as _glyph_response
from gateway.verification.documents.mrz_templates import (
    MRZ_ALPHABET,
    PROBE_SCALE,
    SCALE_PROBE_GLYPHS,
    glyph_set,
    probe_glyphs,
)

VERTICAL_SCALES = (0.85, 0.93, 1.0, 1.08)
# Beyond those, a step of this ratio at a time while the edge scale fits best, within this reach
# (a glyph foreshortened to 0.6 of its height is too blurred to read anyway).
VERTICAL_STEP = 1.08
VERTICAL_REACH = (0.6, 1.7)
# The two best vertical scales fit within this of each other: the one between them is tried
# (on the real set 1.0 and 1.08 fitted 100_pass-isl within 0.002, and 1.04 fitted best).
VERTICAL_TIE = 0.005
# Every glyph of a line shares one vertical phase against the band's pixel grid, so a line
# whose glyph tops fall between two rows fits the templates worse in every cell at once (a
# half-pixel shift of 100_pass-isl's line read seven 0s as U). The band is also tried this
# many band pixels lower and the better fit kept.
VERTICAL_PHASE = 0.5
# Share of the line (from its start) the full-size vertical scales and phase are scored on:
# each full-size score costs as much template matching as its band is wide.
SELECTION_SHARE = 0.4
# A cell whose middle holds no pixel this share of the line's stroke level is blank paper
# (not swept: no exact read was lost on the real set or its faded, 40 %, keystoned copies).
BLANK_CELL_INK = 0.35


def scaled_band(band: np.ndarray, fx: float, fy: float) -> np.ndarray:
    interpolation = cv2.INTER_AREA if fx < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(band, None, fx=fx, fy=fy, interpolation=interpolation)
    return cv2.normalize(scaled, None, 0, 255, cv2.NORM_MINMAX)


def ranked_verticals(
    band: np.ndarray, scale: float, probe: np.ndarray
) -> list[tuple[float, float]]:
    """(half-size probe fit, vertical scale) of each vertical scale tried.

    ``VERTICAL_SCALES`` first; while the best of them is the tallest (or the flattest) one
    tried, the next step beyond it is tried too, up to ``VERTICAL_REACH``: a page photographed
    tilted back shows its glyphs squat (100_pass-lux: cells 1.3 times wider than tall against
    the font's 1.0), which no scale in 0.85-1.08 fits.
    """
    fits: dict[float, float] = {}

    def probe_at(vertical: float) -> None:
        small = scaled_band(band, PROBE_SCALE * scale, PROBE_SCALE * scale * vertical)
        if small.shape[0] < probe.shape[1] or small.shape[1] < probe.shape[2]:
            fits[vertical] = -1.0
            return
        response = _glyph_response(small, probe).max(axis=0)
        fits[vertical] = float(np.mean(np.sort(response)[-30:]))

    for vertical in VERTICAL_SCALES:
        probe_at(vertical)
    while True:
        best = max(fits, key=lambda v: fits[v])
        if best == max(fits) and best * VERTICAL_STEP <= VERTICAL_REACH[1]:
            probe_at(round(best * VERTICAL_STEP, 4))
        elif best == min(fits) and best / VERTICAL_STEP >= VERTICAL_REACH[0]:
            probe_at(round(best / VERTICAL_STEP, 4))
        else:
            break
    return [(fit, vertical) for vertical, fit in fits.items() if fit > -1.0]


def line_response(
    ink: np.ndarray, extent: tuple[int, int, int, int], scale: float, factor: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Every glyph's match response along the band, at the vertical scale the glyphs fit best.

    The vertical scale is the least certain (blur fattens the measured cap height, a tilted
    card changes the height/pitch ratio): a few are scored on a few telling glyphs, then all
    glyphs are matched at the chosen one only.
    """
    top, bottom, left, right = extent
    cap = bottom - top
    glyphs, probe = glyph_set(factor), probe_glyphs(factor)
    pitch = glyphs.shape[2]
    pad_y = max(2, cap // 3)
    band = ink[max(0, top - pad_y) : bottom + pad_y, max(0, left - cap) : right + cap]
    # half-size probes rank the scales; the two best are then scored at full size (half size
    # alone picked a scale that read wide 0s as U on 3 of 60 synthetic cards)
    ranked = ranked_verticals(band, scale, probe)
    if not ranked:
        return None
    probed = [MRZ_ALPHABET.index(c) for c in SCALE_PROBE_GLYPHS]
    tried: list[tuple[float, float, np.ndarray]] = []

    def try_vertical(vertical: float, phase: float = 0.0) -> None:
        source = band
        if phase:
            shift = np.float32([[1, 0, 0], [0, 1, phase / (scale * vertical)]])
            source = cv2.warpAffine(
                band,
                shift,
                (band.shape[1], band.shape[0]),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
        candidate = scaled_band(source, scale, scale * vertical)
        if candidate.shape[0] < glyphs.shape[1] or candidate.shape[1] < pitch:
            return
        # scored on the line's first SELECTION_SHARE only (the scale and phase are the
        # line's own); the chosen one is then matched whole
        part = candidate[:, : max(4 * pitch, round(SELECTION_SHARE * candidate.shape[1]))]
        response = _glyph_response(part, glyphs[probed])
        fit = float(np.mean(np.sort(response.max(axis=0))[-30:]))
        tried.append((fit, vertical, candidate))

    for _, vertical in sorted(ranked, reverse=True)[:2]:
        try_vertical(vertical)
    if len(tried) == 2 and abs(tried[0][0] - tried[1][0]) < VERTICAL_TIE:
        # two neighbouring scales fit alike: the glyphs' true height lies between them, and
        # which of the two wins is a coin toss that decides wide 0s against U (100_pass-isl)
        try_vertical((tried[0][1] + tried[1][1]) / 2)
    if not tried:
        return None
    # the same scale half a pixel lower (the line's vertical phase: see VERTICAL_PHASE)
    try_vertical(max(tried, key=lambda entry: entry[0])[1], VERTICAL_PHASE)
    band_scaled = max(tried, key=lambda entry: entry[0])[2]
    return band_scaled, _glyph_response(band_scaled, glyphs)


def without_blank_cells(band: np.ndarray, response: np.ndarray, pitch: int) -> np.ndarray:
    """The response with every placement whose cell holds no ink in its middle set to -1.

    Every MRZ cell holds a glyph (fillers too), and every glyph inks the middle of its cell;
    a normalised correlation over blank paper scores its noise, which can beat a real glyph
    with little ink (a 60 % copy of 100_pass-uto: the grid slid one cell past the last glyph
    and dropped its leading L). Ink is ``BLANK_CELL_INK`` of the line's strokes (the 90th
    percentile of its columns' darkest pixel).
    """
    strongest = band.max(axis=0)
    stroke = float(np.percentile(strongest, 90))
    if stroke <= 0:
        return response
    lo, hi = round(0.25 * pitch), max(round(0.75 * pitch), round(0.25 * pitch) + 1)
    # ink in columns lo..hi of a cell whose left edge is at x (a running max of that width)
    width = hi - lo
    middle = cv2.dilate(strongest[None, :].astype(np.float32), np.ones((1, width), np.uint8),
                        anchor=(0, 0))[0]  # fmt: skip
    ink = np.full(response.shape[1], 0.0, np.float32)
    end = min(response.shape[1], len(middle) - lo)
    ink[:end] = middle[lo : lo + end]
    blank = ink < BLANK_CELL_INK * stroke
    if not blank.any():
        return response
    out = response.copy()
    out[:, blank] = -1.0
    return out
