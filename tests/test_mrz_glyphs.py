"""One MRZ line read from a crop whose glyphs are not the font's shape: squat, leaning, or
beside blank paper (the line reader alone; the page-level tests are in
test_document_reader.py)."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from gateway.verification.documents.mrz_band import without_blank_cells
from gateway.verification.documents.mrz_ocr import read_line
from gateway.verification.documents.mrz_slant import estimate_slant, sheared
from gateway.verification.documents.mrz_templates import _font_at

LINE = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
NAMES = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"


def _crop(text: str, squash: float = 1.0, lean: float = 0.0, tail_px: int = 0) -> np.ndarray:
    """The line as the locator cuts it: dark OCR-B on light paper, about 44 px of text, with
    its height scaled by ``squash``, its glyphs leaning by ``lean`` (pixels across per pixel
    up) and ``tail_px`` of blank paper after it."""
    font = _font_at(52)
    width = round(font.getlength(text)) + 80 + tail_px
    canvas = Image.new("L", (width, 100), 235)
    ImageDraw.Draw(canvas).text((40, 20), text, font=font, fill=30)
    gray = np.asarray(canvas, np.float32)
    if squash != 1.0:
        gray = cv2.resize(gray, (width, round(100 * squash)), interpolation=cv2.INTER_AREA)
    if lean:
        gray = sheared(gray, lean)
    gray = cv2.GaussianBlur(gray, (0, 0), 1.0)
    return np.clip(gray, 0, 255).astype(np.uint8)


def test_squat_glyphs_of_a_page_tilted_back_are_read_at_their_own_height():
    # cells 1.4 times wider than tall: beyond the 0.85-1.08 vertical scales tried first
    read = read_line(_crop(LINE, squash=0.7), 44)
    assert read.text == LINE
    assert np.mean(read.scores) > 0.9


def test_the_slant_of_a_line_is_measured_from_its_own_vertical_strokes():
    for lean in (-0.2, 0.15):
        crop = _crop(NAMES, lean=lean)
        ink = 255 - crop.astype(np.float32)
        rows = (15, 85)
        assert abs(estimate_slant(ink, rows) + lean) <= 0.05
    assert estimate_slant(255 - _crop(NAMES).astype(np.float32), (15, 85)) == 0.0


def test_leaning_glyphs_are_stood_up_before_they_are_read():
    read = read_line(_crop(LINE, lean=0.25), 44)
    assert read.text == LINE
    assert np.mean(read.scores) > 0.9


def test_placements_over_blank_paper_score_nothing_and_every_glyph_keeps_its_own():
    read = read_line(_crop(LINE, tail_px=120), 44)
    assert read.text == LINE
    pitch = 30  # the templates' pitch, which the band is scaled to
    response = np.zeros((1, read.band.shape[1] - pitch + 1), np.float32)
    kept = without_blank_cells(read.band, response, pitch)[0]
    assert (kept[read.cell_x] == 0).all()  # every cell of the line inks its middle
    after = kept[read.cell_x[-1] + round(0.8 * pitch) :]
    assert len(after) and (after == -1).all()  # the paper after the line is no cell
