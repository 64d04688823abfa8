"""Image decoding: formats, EXIF orientation, refusals, downscaling."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.errors import ValidationFailed
from gateway.verification.images import decode_image, downscale_to_max_side, load_image

EXIF_ORIENTATION = 0x0112


def two_colour_image(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue: the halves' positions reveal any rotation."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(pixels)


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("image_format", ["PNG", "WEBP", "JPEG"])
def test_accepted_formats_decode_to_rgb_uint8(image_format: str) -> None:
    options = {"lossless": True} if image_format == "WEBP" else {"quality": 95}
    rgb = decode_image(encode(two_colour_image(), image_format, **options))
    assert rgb.shape == (20, 40, 3)
    assert rgb.dtype == np.uint8
    assert rgb[10, 5, 0] > 200 and rgb[10, 5, 2] < 50  # red on the left
    assert rgb[10, 35, 2] > 200 and rgb[10, 35, 0] < 50  # blue on the right


def test_multi_picture_jpeg_from_phone_cameras_decodes_its_first_picture() -> None:
    first, second = two_colour_image(), Image.new("RGB", (40, 20), (0, 255, 0))
    data = encode(first, "MPO", save_all=True, append_images=[second], quality=95)
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == "MPO"
    rgb = decode_image(data)
    assert rgb.shape == (20, 40, 3)
    assert rgb[10, 5, 0] > 200 and rgb[10, 5, 1] < 50  # the first picture, not the green one


def test_greyscale_and_alpha_images_become_rgb() -> None:
    grey = Image.new("L", (8, 6), 128)
    rgba = Image.new("RGBA", (8, 6), (10, 20, 30, 128))
    assert decode_image(encode(grey, "PNG")).shape == (6, 8, 3)
    assert decode_image(encode(rgba, "PNG"))[0, 0].tolist() == [10, 20, 30]


def test_a_16_bit_greyscale_png_keeps_its_tones() -> None:
    """Scanners write 16-bit greyscale PNGs; Pillow's own conversion clipped every value above
    255 to white, so a scanned document decoded as a blank page (no face, no text)."""
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (8, 1))
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, "PNG")
    assert Image.open(io.BytesIO(buffer.getvalue())).mode.startswith("I")
    rgb = decode_image(buffer.getvalue())
    assert rgb.shape == (8, 256, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    row = rgb[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row) >= 0) and abs(int(row[128]) - 128) <= 1


def test_exif_orientation_is_applied() -> None:
    """Orientation 6 means 'rotate 90 degrees clockwise to view': red must end up on top."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    data = encode(two_colour_image(), "JPEG", quality=95, exif=exif.tobytes())
    rgb = decode_image(data)
    assert rgb.shape == (40, 20, 3)
    assert rgb[5, 10, 0] > 200 and rgb[5, 10, 2] < 50  # red now at the top
    assert rgb[35, 10, 2] > 200 and rgb[35, 10, 0] < 50  # blue at the bottom


def test_shared_liveness_still_is_turned_upright(datasets_dir: Path) -> None:
    path = datasets_dir / "liveness" / "still_real_T1.jpg"
    with Image.open(path) as raw:
        assert raw.getexif().get(EXIF_ORIENTATION) == 6
        raw_width, raw_height = raw.size
    rgb = load_image(path)
    assert rgb.shape[:2] == (raw_width, raw_height)  # width and height swapped: rotated


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"not an image at all", "undecodable"),
        (encode(Image.new("RGB", (4, 4)), "GIF"), "unsupported_format"),
        (encode(Image.new("RGB", (64, 64), "white"), "JPEG")[:200], "corrupt"),
    ],
    ids=["empty", "garbage", "gif", "truncated-jpeg"],
)
def test_bad_images_raise_validation_failed(data: bytes, code: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        decode_image(data, field="document_front")
    assert raised.value.errors == {"document_front": code}
    assert raised.value.detail.startswith("document_front:")


def test_too_many_pixels_is_refused_before_decoding() -> None:
    data = encode(Image.new("RGB", (300, 200)), "PNG")
    with pytest.raises(ValidationFailed) as raised:
        decode_image(data, max_pixels=300 * 200 - 1)
    assert raised.value.errors == {"image": "too_many_pixels"}
    assert decode_image(data, max_pixels=300 * 200).shape == (200, 300, 3)


def test_downscale_keeps_aspect_and_returns_the_scale_back() -> None:
    rgb = np.zeros((960, 1280, 3), dtype=np.uint8)
    small, scale = downscale_to_max_side(rgb, 640)
    assert small.shape == (480, 640, 3)
    assert scale == pytest.approx(2.0)


def test_downscale_never_enlarges() -> None:
    rgb = np.zeros((300, 200, 3), dtype=np.uint8)
    small, scale = downscale_to_max_side(rgb, 640)
    assert small is rgb
    assert scale == 1.0
    with pytest.raises(ValueError):
        downscale_to_max_side(rgb, 0)
