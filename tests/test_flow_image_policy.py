"""The upload policy on its own: what is accepted, what is stored instead, what is refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gateway.errors import ImageRefused, ImageTooLarge, ImageTypeRefused
from gateway.services.image_policy import MAX_STORED_BYTES, clean_image


def encoded(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def gradient(width: int = 320, height: int = 200) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    y = np.linspace(0, 255, height, dtype=np.uint8)
    rgb = np.stack(np.broadcast_arrays(x[None, :], y[:, None], np.full((1, 1), 90, np.uint8)), -1)
    return Image.fromarray(np.ascontiguousarray(rgb))


@pytest.mark.parametrize(("fmt", "source_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                                  ("WEBP", "image/webp")])  # fmt: skip
def test_jpeg_png_and_webp_become_a_clean_jpeg(fmt: str, source_type: str) -> None:
    clean = clean_image(encoded(gradient(), fmt))
    assert clean.source_type == source_type
    assert clean.content.startswith(b"\xff\xd8\xff")
    assert (clean.width_px, clean.height_px) == (320, 200)
    assert clean.rgb.shape == (200, 320, 3)


def test_metadata_is_dropped_and_orientation_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90 counter-clockwise to display
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}
    source = encoded(
        gradient(), "JPEG", exif=exif, comment=b"secret note", icc_profile=b"icc-marker-bytes"
    )
    assert "icc_profile" in Image.open(io.BytesIO(source)).info
    clean = clean_image(source)
    stored = Image.open(io.BytesIO(clean.content))
    assert stored.size == (200, 320)
    assert not stored.getexif()
    assert b"secret note" not in clean.content and b"PhoneMaker" not in clean.content
    assert "comment" not in stored.info and "icc_profile" not in stored.info
    assert b"icc-marker-bytes" not in clean.content


def test_transparent_png_is_flattened_on_white() -> None:
    rgba = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    clean = clean_image(encoded(rgba, "PNG"))
    assert clean.rgb.min() >= 250


def test_large_photos_are_scaled_to_the_stored_maximum() -> None:
    clean = clean_image(encoded(gradient(5000, 1000), "JPEG"), max_side_px=4096)
    assert (clean.width_px, clean.height_px) == (4096, 819)


def grainy_photo_jpeg() -> bytes:
    """5.8 MB, within the upload limit: 4096 x 4096 px of sensor-like noise at quality 40,
    which re-encoded at the stored quality (92) came out at 13.7 MB."""
    noise = np.random.default_rng(0).integers(0, 256, (4096, 4096, 3), dtype=np.uint8)
    return encoded(Image.fromarray(noise), "JPEG", quality=40)


def test_the_clean_copy_of_a_grainy_photo_still_fits_in_the_store() -> None:
    """PocketBase refuses a file over 10 MB: the upload was accepted, then storing it failed
    with a 500 (and a server-side verification left its profile half-written)."""
    upload = grainy_photo_jpeg()
    assert len(upload) < 10 * 1024 * 1024
    clean = clean_image(upload)
    assert len(clean.content) <= MAX_STORED_BYTES
    assert (clean.width_px, clean.height_px) == (4096, 4096)


def test_refusals() -> None:
    with pytest.raises(ImageTooLarge) as too_large:
        clean_image(b"\xff\xd8\xff" + b"\0" * 2000, max_bytes=1000)
    assert too_large.value.status == 413
    with pytest.raises(ImageTypeRefused) as wrong_type:
        clean_image(b"GIF89a" + b"\0" * 100)
    assert wrong_type.value.status == 415
    with pytest.raises(ImageRefused) as broken:
        clean_image(encoded(gradient(), "PNG")[:200])
    assert broken.value.errors == {"file": ["undecodable"]}
    with pytest.raises(ImageRefused) as bomb:
        clean_image(encoded(gradient(400, 300), "PNG"), max_pixels=100_000)
    assert bomb.value.errors == {"file": ["too_many_pixels"]}


def test_pillows_own_bomb_warning_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above Pillow's MAX_IMAGE_PIXELS it only warns; the policy makes that a refusal even when
    its own limit is set higher."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    with pytest.raises(ImageRefused) as refused:
        clean_image(encoded(gradient(400, 200), "PNG"), max_pixels=10_000_000)
    assert refused.value.errors == {"file": ["too_many_pixels"]}
