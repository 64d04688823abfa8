"""Image bytes to pixels, the way every vision check needs them.

Phone cameras store the sensor's pixels and record the rotation in EXIF instead of turning the
image; a detector fed the raw pixels sees a face lying on its side and finds nothing. Every image
therefore goes through `decode_image`, which applies the EXIF orientation before anything else.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gateway.errors import ValidationFailed

# MPO is a JPEG with extra pictures appended (some phone cameras write it); Pillow names it
# apart, but its first frame is an ordinary JPEG.
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})
# 40 megapixels: above any phone camera in use (a 200 MP sensor bins to 12-50 MP by default),
# far below what would exhaust a worker's memory, and far below what a hostile 10 MB PNG can claim
# (a solid-colour PNG of 10 MB decodes to billions of pixels). The one pixel limit: the upload
# gate (gateway.services.image_policy) refuses above it before storing, and decoding refuses
# above it again, so the worker never decodes more.
MAX_IMAGE_PIXELS = 40_000_000
DEFAULT_DETECTION_MAX_SIDE_PX = 640


def decode_image(
    image_bytes: bytes, *, field: str = "image", max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Decode JPEG/PNG/WebP bytes to an upright RGB uint8 array of shape (height, width, 3).

    `field` names the input in the error, so a caller that sends two images learns which one
    was wrong. Anything that is not one of the accepted formats, is truncated, or is larger than
    `max_pixels` raises `ValidationFailed`: the caller sent a bad image, the worker did not fail.
    """
    if not image_bytes:
        raise ValidationFailed(f"{field}: the image is empty", errors={field: "empty"})
    try:
        with warnings.catch_warnings():
            # Pillow warns (and our pytest settings turn warnings into errors) on huge images;
            # we apply our own, stricter, pixel limit below instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image_bytes)) as image:
                if image.format not in ACCEPTED_FORMATS:
                    raise ValidationFailed(
                        f"{field}: format {image.format or 'unknown'} is not accepted "
                        f"(use JPEG, PNG or WebP)",
                        errors={field: "unsupported_format"},
                    )
                width, height = image.size
                if width * height > max_pixels:
                    raise ValidationFailed(
                        f"{field}: {width}x{height} pixels is more than the {max_pixels} allowed",
                        errors={field: "too_many_pixels"},
                    )
                upright = ImageOps.exif_transpose(image)
                if upright.mode.startswith("I"):
                    # 16-bit greyscale PNG (scanners write it): Pillow's convert clips every
                    # value above 255 to white; scale the 16-bit range down instead.
                    levels = np.asarray(upright, dtype=np.float64) / 257.0
                    upright = Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8))
                rgb = upright.convert("RGB")
                rgb.load()
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise ValidationFailed(
            f"{field}: not a readable JPEG, PNG or WebP image", errors={field: "undecodable"}
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        # Truncated files and corrupt headers surface as OSError/SyntaxError from Pillow.
        raise ValidationFailed(
            f"{field}: the image data is corrupt or truncated", errors={field: "corrupt"}
        ) from error
    return np.asarray(rgb, dtype=np.uint8)


def load_image(path: str | Path, *, field: str = "image") -> np.ndarray:
    """Read and decode an image file (evaluation scripts and tests; the service gets bytes)."""
    return decode_image(Path(path).read_bytes(), field=field)


def downscale_to_max_side(
    rgb: np.ndarray, max_side_px: int = DEFAULT_DETECTION_MAX_SIDE_PX
) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most `max_side_px`; never enlarge.

    Returns the image and the factor that maps its coordinates back to the input
    (`original = small * scale_to_original`), 1.0 when the image was already small enough.
    Detection cost grows with the pixel count, so detectors run on this, not on a 12 MP photo.
    """
    if max_side_px <= 0:
        raise ValueError("max_side_px must be positive")
    height, width = rgb.shape[:2]
    longest_px = max(height, width)
    if longest_px <= max_side_px:
        return rgb, 1.0
    ratio = max_side_px / longest_px
    new_size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    resized = Image.fromarray(rgb).resize(new_size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    small = np.asarray(resized, dtype=np.uint8)
    return small, width / small.shape[1]
