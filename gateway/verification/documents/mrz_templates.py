"""The OCR-B glyph templates the MRZ matcher compares cells with, crisp or sampled to a size.

Rendered once from Debian's ``fonts-ocr-b`` (37 glyphs at a 30 px cap height). A zone printed
small in the photo reached template size through a resampling that blurred it; ``glyph_set``
gives templates that went through the same, so the match measures the glyph, not the blur.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

MRZ_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
TEMPLATE_CAP_PX = 30
SCALE_PROBE_GLYPHS = "<0OUDMIA58E"
# Probes (which way up, which vertical scale) run at half size: a quarter of the pixels in both
# band and template.
PROBE_SCALE = 0.5
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


# A zone whose glyphs are this many times narrower in the photo than the templates' pitch (30 px)
# is matched against templates sampled down and back up (``glyph_set``): a 5-6 px thumbnail
# glyph upscaled to the template size is a blur the crisp templates fit at 0.75, under the
# OCR-B gate. The templates are taken down by SMALL_ZONE_SHARPNESS of the zone's factor (the
# photo's own sharpening and JPEG keep more than a plain box filter would); a factor over
# SMALL_ZONE_MAX is a glyph under 4 px, not legible, and a "pitch" that small is the spacing
# of strokes in a pattern (sampled that far, the templates are blobs that fit any texture).
# Measured on the real set and pages derived from it: see docs/documents.md.
SMALL_ZONE_FACTOR = 3.75
SMALL_ZONE_MAX = 7.5
SMALL_ZONE_SHARPNESS = 0.6
SMALL_ZONE_STEP = 0.5  # sampled template sets are kept per half step of that factor


def template_factor(native_pitch_px: float | None) -> float:
    """How far the templates are sampled down and back up for glyphs ``native_pitch_px`` wide in
    the photo, in half steps; 0.0 when they were large enough for the crisp templates."""
    if not native_pitch_px:
        return 0.0
    factor = TEMPLATE_CAP_PX / native_pitch_px  # the templates' pitch equals their cap height
    if not SMALL_ZONE_FACTOR <= factor <= SMALL_ZONE_MAX:
        return 0.0
    return max(1.5, round(SMALL_ZONE_SHARPNESS * factor / SMALL_ZONE_STEP) * SMALL_ZONE_STEP)


@cache
def glyph_set(factor: float = 0.0) -> np.ndarray:
    """The glyph templates as a photo with glyphs ``factor`` times narrower shows them once
    scaled to the templates' size: the crisp ones (``factor`` 0), or the crisp ones taken down
    to that size and back up, which is what the zone went through."""
    glyphs, _ = templates()
    if not factor:
        return glyphs
    height, width = glyphs.shape[1:]
    small_size = (max(2, round(width / factor)), max(2, round(height / factor)))
    return np.stack(
        [cv2.resize(cv2.resize(g, small_size, interpolation=cv2.INTER_AREA), (width, height),
                    interpolation=cv2.INTER_CUBIC)
         for g in glyphs]
    ).astype(np.float32)  # fmt: skip


@cache
def probe_glyphs(factor: float = 0.0) -> np.ndarray:
    """The telling glyphs at ``PROBE_SCALE``: probing costs a sixteenth of full-size matching."""
    glyphs = glyph_set(factor)
    chosen = glyphs[[MRZ_ALPHABET.index(c) for c in SCALE_PROBE_GLYPHS]]
    return np.stack(
        [cv2.resize(g, None, fx=PROBE_SCALE, fy=PROBE_SCALE, interpolation=cv2.INTER_AREA)
         for g in chosen]
    )  # fmt: skip
