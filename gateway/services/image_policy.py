"""What the gateway accepts as an applicant's image, and the clean copy it stores instead.

Every upload from the hosted flow passes through ``clean_image`` before anything is written:
the type is judged by the bytes (never by the name or the Content-Type header), the size and the
pixel count are bounded before any pixel is decoded, and what gets stored is a fresh JPEG with
the EXIF orientation applied and every metadata block (EXIF GPS, XMP, ICC, comments) left behind.
A refused upload raises before the caller can store anything, so no orphan file is ever kept.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gateway.errors import (
    ImageRefused,
    ImageTooLarge,
    ImageTypeRefused,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from gateway.services.file_types import sniff_image_type
from gateway.verification.images import MAX_IMAGE_PIXELS

MAX_IMAGE_BYTES = 10 * 1024 * 1024
# The stored copy's longest side; leaves ~10 px per MRZ character on a passport filling the frame.
MAX_STORED_SIDE_PX = 4096
# PocketBase's limit on one stored file (the profiles' file fields, TEN_MB in pb_migrations): a
# clean copy over it is refused by the store after the request was accepted.
MAX_STORED_BYTES = 10 * 1024 * 1024
JPEG_QUALITY = 92
# Tried in turn while the copy is over MAX_STORED_BYTES. Re-encoding at 92 can triple a grainy
# photo: a 5.8 MB JPEG of 4096 x 4096 px of noise (quality 40) came out at 13.7 MB; pure noise
# at that size is 15.5 MB at 92, 12.1 MB at 85, 9.6 MB at 75 and 7.6 MB at 60 (measured).
FALLBACK_QUALITIES = (85, 75, 60)
EXIF_ORIENTATION = 0x0112
PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class CleanImage:
    """The stored form of an upload: re-encoded JPEG bytes plus the upright pixels."""

    content: bytes
    rgb: np.ndarray
    width_px: int
    height_px: int
    source_type: str
    mime_type: str = "image/jpeg"
    extension: str = "jpg"


def check_image_bytes(content: bytes, *, max_bytes: int, field: str) -> str:
    """The gate for an image that is analysed but not stored (the /v1 checks): size, then type by
    content, before any pixel is decoded. Returns the MIME type; decoding then applies the pixel
    limit (``gateway.verification.images.decode_image``)."""
    if not content:
        raise ValidationFailed(f"{field}: the image is empty", errors={field: "empty"})
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"{field}: the image is larger than {max_bytes} bytes")
    source_type = sniff_image_type(content)
    if source_type is None:
        raise UnsupportedMediaType(f"{field}: the content is not a JPEG, PNG or WebP image")
    return source_type


def clean_image(
    content: bytes,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_side_px: int = MAX_STORED_SIDE_PX,
    field: str = "file",
) -> CleanImage:
    """Check ``content`` against the upload policy and return the copy that may be stored.

    ``field`` names the upload in the problem's ``errors`` (the flow sends one ``file``; the
    reviewer route several named fields).

    Raises ``ImageTooLarge`` (413) over ``max_bytes``, ``ImageTypeRefused`` (415) for anything
    that is not JPEG, PNG or WebP by content, ``ImageRefused`` (422) for a pixel bomb or a file
    that does not decode.
    """
    if len(content) > max_bytes:
        raise ImageTooLarge(
            f"The image is {len(content)} bytes; at most {max_bytes} are accepted",
            errors={field: ["too_large"]},
        )
    source_type = sniff_image_type(content)
    if source_type is None:
        raise ImageTypeRefused(
            "The file is not a JPEG, PNG or WebP image", errors={field: ["unsupported content"]}
        )
    try:
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; the warning is turned into
        # an error here and the explicit header check below refuses before decoding either way.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=[PIL_FORMATS[source_type]]) as image:
                width_px, height_px = image.size
                if width_px * height_px > max_pixels:
                    raise ImageRefused(
                        f"The image claims {width_px}x{height_px} pixels; at most "
                        f"{max_pixels} pixels are accepted",
                        errors={field: ["too_many_pixels"]},
                    )
                image.load()
                # exif_transpose copies even when there is nothing to turn: skip it then.
                if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
                    upright = ImageOps.exif_transpose(image)
                else:
                    upright = image
                # Encoded while the source is still open: ``upright`` may be the opened image.
                clean = _encode(_to_rgb(upright), max_side_px, source_type, field)
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(
            "The image has too many pixels", errors={field: ["too_many_pixels"]}
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRefused(
            "The image is damaged or incomplete", errors={field: ["undecodable"]}
        ) from exc
    return clean


def _encode(rgb_image: Image.Image, max_side_px: int, source_type: str, field: str) -> CleanImage:
    """The stored copy: bounded size, a fresh JPEG with pixels only, small enough to store."""
    if max(rgb_image.size) > max_side_px:
        rgb_image = rgb_image.copy()
        rgb_image.thumbnail((max_side_px, max_side_px), Image.Resampling.LANCZOS)
    content = _jpeg(rgb_image, JPEG_QUALITY)
    for quality in FALLBACK_QUALITIES:
        if len(content) <= MAX_STORED_BYTES:
            break
        content = _jpeg(rgb_image, quality)
    if len(content) > MAX_STORED_BYTES:
        raise ImageTooLarge(
            f"The image does not fit in {MAX_STORED_BYTES} bytes once re-encoded",
            errors={field: ["too_large"]},
        )
    return CleanImage(
        content=content,
        rgb=np.asarray(rgb_image),
        width_px=rgb_image.width,
        height_px=rgb_image.height,
        source_type=source_type,
    )


def _jpeg(rgb_image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    # Pillow's JPEG writer reuses what is in ``info`` (comment, ICC profile, dpi) when it is not
    # given: pass empty ones explicitly (and no exif=) so the new file carries pixels only.
    rgb_image.save(buffer, format="JPEG", quality=quality, comment=b"", icc_profile=None)
    return buffer.getvalue()


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white (a transparent PNG would otherwise turn black)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")
