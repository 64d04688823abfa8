"""Synthetic identity documents: TD3 passports, TD1 ID cards and Indonesian KTP-like cards.

No real document images with ground truth exist offline, so the reader is measured on these. The
MRZ is set in OCR-B (Debian ``fonts-ocr-b``) at the ICAO pitch; the card sits on a textured
background like a phone photo of a document on a desk. Every image comes with its ground truth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gateway.synthetic.identities import Identity, random_identity, td1_lines, td3_lines

OCRB_PATHS = [
    Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf"),
    Path("/usr/share/fonts/truetype/ocr-b/OCRB.ttf"),
]
SANS_PATHS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
]
SANS_BOLD_PATHS = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"), *SANS_PATHS]
COUNTRY_NAMES = {
    "UTO": "UTOPIA", "D": "BUNDESREPUBLIK DEUTSCHLAND", "FRA": "RÉPUBLIQUE FRANÇAISE",
    "IDN": "REPUBLIK INDONESIA", "NLD": "KONINKRIJK DER NEDERLANDEN", "GBR": "UNITED KINGDOM",
    "ITA": "REPUBBLICA ITALIANA", "ESP": "REINO DE ESPAÑA", "SWE": "SVERIGE",
    "POL": "RZECZPOSPOLITA POLSKA", "JPN": "JAPAN", "GBD": "UNITED KINGDOM",
}  # fmt: skip


# A photo printed on a card spans ink black to paper white: 15..232 of 255.
PRINT_GAIN, PRINT_BLACK = 0.85, 15.0


@dataclass
class SyntheticDocument:
    """A rendered document photo and its ground truth.

    ``card_corners`` are the card's four corners in image pixels (top-left, top-right,
    bottom-right, bottom-left), kept up to date by every degradation.
    """

    image_rgb: np.ndarray
    kind: str
    mrz_lines: tuple[str, ...]
    fields: dict[str, str]
    card_corners: np.ndarray
    degradations: list[str] = field(default_factory=list)


@cache
def _font(kind: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    paths = {"ocrb": OCRB_PATHS, "sans": SANS_PATHS, "bold": SANS_BOLD_PATHS}[kind]
    for path in paths:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    if kind == "ocrb":
        raise FileNotFoundError("OCR-B font not found: install the Debian package fonts-ocr-b")
    return ImageFont.load_default(size=size)


def _ocrb_for_pitch(pitch_px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """OCR-B at the size whose character advance is ``pitch_px`` (ICAO: 2.54 mm per char)."""
    probe = _font("ocrb", 100)
    advance_at_100 = probe.getlength("<" * 10) / 10
    return _font("ocrb", max(8, round(100 * pitch_px / advance_at_100)))


def load_face(face: np.ndarray | str | Path | None) -> np.ndarray | None:
    if face is None or isinstance(face, np.ndarray):
        return face
    bgr = cv2.imread(str(face), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read face image {face}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _portrait(face_rgb: np.ndarray | None, size: tuple[int, int]) -> Image.Image:
    """The photo box: the face cropped to portrait aspect, or a grey silhouette without one."""
    width, height = size
    if face_rgb is None:
        img = Image.new("RGB", size, (222, 224, 228))
        draw = ImageDraw.Draw(img)
        cx = width // 2
        draw.ellipse(
            [cx - width * 0.22, height * 0.16, cx + width * 0.22, height * 0.58],
            fill=(150, 152, 158),
        )
        draw.ellipse(
            [cx - width * 0.45, height * 0.62, cx + width * 0.45, height * 1.3],
            fill=(150, 152, 158),
        )
        return img
    h, w = face_rgb.shape[:2]
    target = width / height
    if w / h > target:
        new_w = int(h * target)
        x0 = (w - new_w) // 2
        crop = face_rgb[:, x0 : x0 + new_w]
    else:
        new_h = int(w / target)
        crop = face_rgb[: max(new_h, 1)]
    # printed on the card: ink cannot be brighter than the card stock, so no pure white
    printed = (np.ascontiguousarray(crop).astype(np.float32) * PRINT_GAIN + PRINT_BLACK).astype(
        np.uint8
    )
    return Image.fromarray(printed).resize(size, Image.Resampling.LANCZOS)


def _background(
    rng: np.random.Generator, size: tuple[int, int], tint: tuple[int, int, int]
) -> Image.Image:
    """A pale card stock with a faint guilloche, so the card is not a flat colour."""
    width, height = size
    base = np.ones((height, width, 3), np.float32) * np.array(tint, np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = float(rng.uniform(0, 6.28))
    wave = np.sin(xs / 23.0 + 3 * np.sin(ys / 41.0 + phase)) * 6
    base += wave[..., None] * np.array([0.4, 0.8, 1.0], np.float32)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def _label_value(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], label: str, value: str, px_per_mm: float
) -> None:
    x, y = xy
    draw.text((x, y), label, font=_font("sans", round(1.7 * px_per_mm)), fill=(70, 70, 110))
    draw.text(
        (x, y + 2.3 * px_per_mm),
        value,
        font=_font("bold", round(2.9 * px_per_mm)),
        fill=(20, 20, 25),
    )


def _draw_mrz(
    card: Image.Image, lines: tuple[str, ...], px_per_mm: float, bottom_mm: float
) -> None:
    """MRZ lines in OCR-B, 2.54 mm pitch, ~4.2 mm line spacing, bottom line ``bottom_mm`` up."""
    draw = ImageDraw.Draw(card)
    font = _ocrb_for_pitch(2.54 * px_per_mm)
    line_pitch = 4.23 * px_per_mm
    x = (card.width - font.getlength(lines[0])) / 2
    y_last = card.height - bottom_mm * px_per_mm - line_pitch
    for i, line in enumerate(lines):
        y = y_last - (len(lines) - 1 - i) * line_pitch
        draw.text((x, y), line, font=font, fill=(15, 15, 20))


def _date_text(value: dt.date) -> str:
    return value.strftime("%d.%m.%Y")


def _viz_fields(identity: Identity, kind: str) -> dict[str, str]:
    return {
        "surname": identity.surname,
        "given_names": identity.given_names,
        "document_number": identity.document_number,
        "birth_date": identity.birth_date.isoformat(),
        "expiry_date": identity.expiry_date.isoformat(),
        "sex": identity.sex,
        "nationality": identity.nationality,
        "issuing_state": identity.issuing_state,
        "document_type": "passport" if kind == "TD3" else "id_card",
    }


def _render_card(
    identity: Identity,
    kind: str,
    face_rgb: np.ndarray | None,
    rng: np.random.Generator,
    mrz: tuple[str, ...],
) -> Image.Image:
    if kind == "TD3":
        size_mm, px_per_mm, tint = (125.0, 88.0), 10.4, (236, 228, 238)
    else:
        size_mm, px_per_mm, tint = (85.6, 54.0), 14.0, (226, 236, 240)
    size = (round(size_mm[0] * px_per_mm), round(size_mm[1] * px_per_mm))
    card = _background(rng, size, tint)
    draw = ImageDraw.Draw(card)
    title = "PASSPORT / PASSEPORT" if kind == "TD3" else "IDENTITY CARD / CARTE D'IDENTITÉ"
    draw.text(
        (4 * px_per_mm, 2.5 * px_per_mm),
        COUNTRY_NAMES.get(identity.issuing_state, "UTOPIA"),
        font=_font("bold", round(3.0 * px_per_mm)),
        fill=(60, 40, 90),
    )
    draw.text(
        (4 * px_per_mm, 6.5 * px_per_mm),
        title,
        font=_font("sans", round(2.2 * px_per_mm)),
        fill=(60, 40, 90),
    )
    mrz_height_mm = (len(mrz) * 4.23) + 4
    photo_top = 11 * px_per_mm
    photo_h = size[1] - photo_top - (mrz_height_mm + 3) * px_per_mm
    photo_w = photo_h * 0.78
    card.paste(
        _portrait(face_rgb, (int(photo_w), int(photo_h))), (int(4 * px_per_mm), int(photo_top))
    )
    x = 4 * px_per_mm + photo_w + 5 * px_per_mm
    step = (5.6 if kind == "TD3" else 5.4) * px_per_mm
    rows = [
        ("Surname / Nom", identity.surname),
        ("Given names / Prénoms", identity.given_names),
        ("Nationality / Nationalité", identity.nationality.replace("<", "")),
        ("Date of birth / Date de naissance", _date_text(identity.birth_date)),
        ("Sex / Sexe", identity.sex),
        ("Document No. / No. du document", identity.document_number),
        ("Date of expiry / Date d'expiration", _date_text(identity.expiry_date)),
    ]
    if kind == "TD1":  # the card is short: two columns for the last rows
        rows = rows[:4]
        x2 = size[0] - 28 * px_per_mm
        _label_value(draw, (x2, photo_top), "Sex / Sexe", identity.sex, px_per_mm)
        _label_value(
            draw, (x2, photo_top + step), "Document No.", identity.document_number, px_per_mm
        )
        _label_value(
            draw,
            (x2, photo_top + 2 * step),
            "Expiry / Expiration",
            _date_text(identity.expiry_date),
            px_per_mm,
        )
    for i, (label, value) in enumerate(rows):
        _label_value(draw, (x, photo_top + i * step), label, value, px_per_mm)
    mrz_top = size[1] - mrz_height_mm * px_per_mm
    draw.rectangle([0, mrz_top, size[0], size[1]], fill=tuple(min(255, c + 12) for c in tint))
    _draw_mrz(card, mrz, px_per_mm, bottom_mm=1.5)
    return card


def _rounded_mask(size: tuple[int, int], radius: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        [0, 0, size[0] - 1, size[1] - 1], radius=radius, fill=255
    )
    return mask


def place_on_scene(
    card: Image.Image, rng: np.random.Generator, scene_width: int = 1600, fill: float = 0.8
) -> tuple[np.ndarray, np.ndarray]:
    """The card on a desk-like background at ``fill`` of the scene width; image and corners."""
    scale = scene_width * fill / card.width
    card = card.resize(
        (round(card.width * scale), round(card.height * scale)), Image.Resampling.LANCZOS
    )
    scene_height = round(card.height / fill * 1.0)
    scene_height = max(scene_height, card.height + 2 * round(scene_width * (1 - fill) / 2))
    colour = rng.integers(40, 120, size=3).astype(np.float32)
    noise = rng.normal(0, 6, size=(scene_height // 8 + 1, scene_width // 8 + 1, 1)).astype(
        np.float32
    )
    noise = cv2.resize(noise, (scene_width, scene_height), interpolation=cv2.INTER_CUBIC)[..., None]
    scene = Image.fromarray(np.clip(colour + noise, 0, 255).astype(np.uint8))
    x0 = (scene_width - card.width) // 2
    y0 = (scene_height - card.height) // 2
    scene.paste(card, (x0, y0), _rounded_mask(card.size, radius=max(4, card.width // 40)))
    corners = np.array(
        [
            [x0, y0],
            [x0 + card.width, y0],
            [x0 + card.width, y0 + card.height],
            [x0, y0 + card.height],
        ],
        dtype=np.float32,
    )
    return np.asarray(scene), corners


def _make_mrz_document(
    kind: str,
    rng: np.random.Generator,
    face_rgb: np.ndarray | str | Path | None = None,
    *,
    today: dt.date | None = None,
    identity: Identity | None = None,
    mrz_lines: tuple[str, ...] | None = None,
) -> SyntheticDocument:
    """A ``kind`` (TD3 or TD1) document photographed on a desk (no degradation; see ``degrade``).

    ``mrz_lines`` prints other lines than the identity's own (e.g. a corrupted check digit).
    """
    identity = identity or random_identity(rng, today)
    face = load_face(face_rgb)
    if kind == "TD3":
        mrz = td3_lines(identity)
    else:
        mrz = td1_lines(identity, document_code=str(rng.choice(["I<", "ID"])))
    mrz = tuple(mrz_lines) if mrz_lines else mrz
    card = _render_card(identity, kind, face, rng, mrz)
    image, corners = place_on_scene(card, rng)
    fields = _viz_fields(identity, kind)
    fields["document_code"] = mrz[0][:2].replace("<", "")
    return SyntheticDocument(image, kind, mrz, fields, corners)


def make_passport(
    rng: np.random.Generator, face_rgb: np.ndarray | str | Path | None = None, **options: Any
) -> SyntheticDocument:
    """A TD3 passport data page; the keyword options (``today``, ``identity``, ``mrz_lines``)
    are ``_make_mrz_document``'s."""
    return _make_mrz_document("TD3", rng, face_rgb, **options)


def make_id_card(
    rng: np.random.Generator, face_rgb: np.ndarray | str | Path | None = None, **options: Any
) -> SyntheticDocument:
    """The front of a TD1 ID card with its MRZ (real TD1 cards print it on the back); the
    keyword options are ``_make_mrz_document``'s."""
    return _make_mrz_document("TD1", rng, face_rgb, **options)
