"""Glyph templates matched along a text band: OpenCV's normalised correlation, many at once.

``glyph_response`` gives the very numbers of OpenCV's ``TM_CCOEFF_NORMED`` glyph by glyph, at a
fraction of the cost: the band's window sums, which every glyph shares, are taken once (OpenCV
takes them per call). It is the MRZ reader's widest step (every glyph along a whole line);
docs/documents.md, "Fourth pass: speed", has the measurements.
"""

from __future__ import annotations

import cv2
import numpy as np

# A band window whose variation is within this share of its sum of squares is flat: OpenCV's
# template matching (4.14) calls it so (10 float32 epsilons), and ``glyph_response`` agrees.
FLAT_WINDOW = 10 * float(np.finfo(np.float32).eps)


def glyph_response(band: np.ndarray, glyphs: np.ndarray) -> np.ndarray:
    """response[c, x]: glyph c's best vertical placement with its left edge at column x.

    The same values as OpenCV's ``TM_CCOEFF_NORMED`` glyph by glyph (bit for bit: its
    correlation, then its normalisation in double precision), but the band's window sums,
    which every glyph shares, are computed once: OpenCV recomputes them per call, and that was
    two thirds of each call's time (the templates all have one size).
    """
    count, height, width = glyphs.shape
    band = np.ascontiguousarray(band, np.float32)
    inv_area = 1.0 / (height * width)
    sums, squares = cv2.integral2(band, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    window_sum = _window_totals(sums, height, width)
    window_squares = _window_totals(squares, height, width)
    variation = np.maximum(window_squares - window_sum * window_sum * inv_area, 0)
    spread = np.sqrt(variation)
    # a window flat to within rounding (OpenCV's cut) fits no glyph: its response is 0
    flat = variation <= np.minimum(0.5, FLAT_WINDOW * window_squares)
    spread[flat] = 0.0
    any_flat = bool(flat.any())
    response = np.empty((count, window_sum.shape[1]), np.float32)

    numerator, denominator, ratio = (np.empty_like(window_sum) for _ in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):
        for index, glyph in enumerate(glyphs):
            mean, deviation = cv2.meanStdDev(glyph)
            variance = float(deviation[0, 0]) ** 2
            if variance < np.finfo(np.float64).eps:
                response[index] = 1.0  # a blank template fits anything (OpenCV's convention)
                continue
            np.multiply(window_sum, float(mean[0, 0]), out=ratio)
            np.subtract(cv2.matchTemplate(band, glyph, cv2.TM_CCORR), ratio, out=numerator)
            np.multiply(spread, np.sqrt(variance) / np.sqrt(inv_area), out=denominator)
            np.divide(numerator, denominator, out=ratio)
            if any_flat:
                ratio[flat] = 0.0
            best = ratio.max(axis=0)
            # a ratio inside (-1, 1) is OpenCV's value as it stands; past it (rounding), the
            # exact rule: within 1/8 it is +-1, beyond it 0
            if not (best.max() < 1 and ratio.min() > -1):
                odd = ~(np.abs(numerator) < denominator)
                near = np.abs(numerator[odd]) < denominator[odd] * 1.125
                ratio[odd] = np.where(near, np.sign(numerator[odd]), 0.0)
                best = ratio.max(axis=0)
            # float32 rounding keeps order: rounding the column maxima rounds the maximum
            response[index] = best
    return np.nan_to_num(response, nan=-1.0)


def _window_totals(integral: np.ndarray, height: int, width: int) -> np.ndarray:
    """Each ``height`` x ``width`` window's total from an integral image, summed in the order
    OpenCV's template matching sums it (so the results agree to the bit)."""
    return (
        integral[:-height, :-width]
        - integral[:-height, width:]
        - integral[height:, :-width]
        + integral[height:, width:]
    )
