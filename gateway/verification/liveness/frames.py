"""Frames in, decoded and checked; plus the checks that need no face at all.

A frame arrives as decoded pixels (``rgb``) or as image bytes (``image`` / ``image_bytes``),
with the prompt it was captured under and a capture time in milliseconds. Cheap checks run
first (count, time gaps, duplicates) so an obviously bad sequence costs no model time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from gateway.errors import ValidationFailed
from gateway.verification.images import MAX_IMAGE_PIXELS, decode_image

NEUTRAL_PROMPT = "neutral"
THUMBNAIL_SIDE_PX = 32
# A second face at least this fraction of the main face's width means someone else is in view.
SECOND_FACE_WIDTH_RATIO = 0.6


@dataclass(frozen=True)
class Frame:
    """One captured frame: upright RGB pixels, the prompt it answers, the capture time."""

    rgb: np.ndarray
    prompt: str
    t_ms: float
    sha256: str = ""


def parse_frames(frames: Sequence[Mapping[str, Any]]) -> list[Frame]:
    """Accept ``{rgb | image | image_bytes, prompt, t_ms}`` mappings; decode bytes upright.

    A caller that already decoded the bytes passes both: the pixels are used, the bytes only
    hashed (the copy check), so no frame is decoded twice.

    Malformed input (no pixels, no prompt, no time) is the caller's error and raises
    `ValidationFailed`, naming the frame by index.
    """
    parsed = []
    for index, item in enumerate(frames):
        name = f"frames[{index}]"
        prompt = item.get("prompt")
        t_ms = item.get("t_ms")
        if not isinstance(prompt, str) or not prompt:
            raise ValidationFailed(f"{name}: prompt is missing", errors={name: "prompt"})
        if isinstance(t_ms, bool) or not isinstance(t_ms, int | float) or not np.isfinite(t_ms):
            raise ValidationFailed(f"{name}: t_ms must be a number", errors={name: "t_ms"})
        rgb = item.get("rgb")
        image_bytes = item.get("image") or item.get("image_bytes")
        digest = ""
        if isinstance(image_bytes, bytes | bytearray):
            digest = hashlib.sha256(image_bytes).hexdigest()
        if rgb is None:
            if not digest:
                raise ValidationFailed(f"{name}: no image", errors={name: "image"})
            rgb = _decode(bytes(image_bytes), name)
        rgb = np.ascontiguousarray(rgb)  # OpenCV refuses views such as a flipped frame
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValidationFailed(f"{name}: expected HxWx3 uint8 RGB", errors={name: "rgb"})
        parsed.append(Frame(rgb=rgb, prompt=prompt, t_ms=float(t_ms), sha256=digest))
    return parsed


def _decode(image_bytes: bytes, field: str) -> np.ndarray:
    """Decode a frame; a JPEG without EXIF (what a browser canvas makes) takes OpenCV's path.

    A burst holds ~100 frames: OpenCV decodes a 480 px JPEG in about half of Pillow's time with
    the EXIF transpose. Without an EXIF block there is no orientation to apply, so the result is
    the same; anything else (EXIF, PNG, WebP, damaged bytes) goes through `decode_image`.
    """
    if image_bytes[:2] == b"\xff\xd8" and b"Exif\x00\x00" not in image_bytes[:65536]:
        bgr = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_COLOR)
        if bgr is not None and bgr.shape[0] * bgr.shape[1] <= MAX_IMAGE_PIXELS:
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return decode_image(image_bytes, field=field)


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """32x32 grey thumbnail: what the duplicate check compares (cheap, noise-averaging)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(
        gray, (THUMBNAIL_SIDE_PX, THUMBNAIL_SIDE_PX), interpolation=cv2.INTER_AREA
    ).astype(np.float32)
