"""The MRZ matcher's shortcuts give the very numbers of the plain computations they replace.

Each one was made for speed only (docs/documents.md, "Fourth pass: speed"): a read must not
change because a sum was taken once instead of 37 times, so each is compared here, bit for bit,
with the straightforward version on bands that hit its edge cases (flat windows, ties).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gateway.verification.documents.mrz_glyph_pairs import PATCH_BORDER_PX, cell_patch
from gateway.verification.documents.mrz_match import glyph_response as _glyph_response
from gateway.verification.documents.mrz_ocr import MRZ_ALPHABET, _Columns, _walk
from gateway.verification.documents.mrz_templates import glyph_set, probe_glyphs, templates


def _opencv_response(band: np.ndarray, glyphs: np.ndarray) -> np.ndarray:
    """OpenCV's normalised correlation glyph by glyph: what ``_glyph_response`` must equal."""
    rows = [cv2.matchTemplate(band, g, cv2.TM_CCOEFF_NORMED).max(axis=0) for g in glyphs]
    return np.nan_to_num(np.stack(rows), nan=-1.0)


def _band(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Ink-like noise with a blank paper run and a flat dark run (windows with no variation)."""
    band = cv2.GaussianBlur((rng.random((height, width)) * 255).astype(np.float32), (0, 0), 1.5)
    band[:, : width // 4] = 3.25
    band[: height // 3, width // 2 : width // 2 + 40] = 0.0
    return cv2.normalize(band, None, 0, 255, cv2.NORM_MINMAX)


@pytest.mark.parametrize("factor", [0.0, 2.0])
def test_the_glyph_response_is_opencvs_to_the_bit(factor):
    rng = np.random.default_rng(11)
    glyphs = glyph_set(factor)
    for height, width in ((50, 700), (31, 90), (44, 31)):
        band = _band(rng, height, width)
        assert np.array_equal(_glyph_response(band, glyphs), _opencv_response(band, glyphs))
    small = _band(rng, 24, 300)
    assert np.array_equal(
        _glyph_response(small, probe_glyphs(factor)), _opencv_response(small, probe_glyphs(factor))
    )


def _plain_walk(response, start, step, char_count, slack):
    """The walk over numpy windows (the code the cached columns replaced)."""
    expected, found_at, total = start, [], 0.0
    for _ in range(char_count):
        lo = max(0, round(expected) - slack)
        hi = min(response.shape[1], round(expected) + slack + 1)
        if lo < hi:
            window = response[:, lo:hi]
            flat = int(np.argmax(window))
            found = lo + int(np.unravel_index(flat, window.shape)[1])
            total += float(window.flat[flat])
        else:
            found = round(expected)
            total -= 1.0
        found_at.append(found)
        expected = 0.5 * (found + step) + 0.5 * (expected + step)
    return found_at, total


def test_the_walk_breaks_ties_as_argmax_does():
    rng = np.random.default_rng(5)
    for _ in range(400):
        glyphs, width = int(rng.integers(1, 38)), int(rng.integers(1, 160))
        # quarter steps: many exact ties between glyphs and between columns
        response = (rng.integers(-4, 5, size=(glyphs, width)) / 4).astype(np.float32)
        start, step = float(rng.uniform(-10, width)), float(rng.uniform(1, 30))
        count, slack = int(rng.integers(1, 45)), int(rng.integers(1, 11))
        assert _walk(_Columns(response), start, step, count, slack) == _plain_walk(
            response, start, step, count, slack
        )


def _plain_cell_patch(band: np.ndarray, x: int, char: str) -> np.ndarray:
    """The cell cut from the whole band padded (the code the local padding replaced)."""
    glyph = templates()[0][MRZ_ALPHABET.index(char)]
    cap, pitch = glyph.shape
    border = PATCH_BORDER_PX
    padded = cv2.copyMakeBorder(band, border, border, border, border, cv2.BORDER_CONSTANT, value=0)
    strip = padded[:, x + border : x + border + pitch]
    out = np.zeros((cap + 2 * border, pitch + 2 * border), np.float32)
    if strip.shape[1] < pitch or strip.shape[0] < cap:
        return out
    y = int(np.argmax(cv2.matchTemplate(strip, glyph, cv2.TM_CCOEFF_NORMED)[:, 0]))
    patch = padded[y : y + cap + 2 * border, x : x + pitch + 2 * border]
    out[: patch.shape[0], : patch.shape[1]] = patch
    return out


def test_a_cell_is_cut_as_from_the_whole_band_padded():
    rng = np.random.default_rng(8)
    band = _band(rng, 48, 200)
    for x in [0, 1, 2, 57, 168, 169, 170, 171, 172, 199, 203]:  # both ends, past the right one
        for char in "0OE<":
            assert np.array_equal(cell_patch(band, x, char), _plain_cell_patch(band, x, char))
    assert np.array_equal(cell_patch(band[:25], 3, "A"), _plain_cell_patch(band[:25], 3, "A"))
