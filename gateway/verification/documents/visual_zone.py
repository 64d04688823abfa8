"""The visual inspection zone of MRZ documents: labelled fields, where the layout is known.

Passports and ID cards print each field under a bilingual label ("Surname / Nom"). The card is
warped flat, the area above the MRZ read by tesseract with automatic page segmentation (labels
sit in one or two columns), and each value taken from the line under its label. Only layouts
like that are understood; any other card yields no fields, so no visual-vs-MRZ check runs.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

from gateway.verification.documents import tesseract
from gateway.verification.documents.geometry import warp_card
from gateway.verification.documents.normalize import normalize_sex, parse_visual_date

PSM_AUTO = 3
# first words of each label (English part) -> field
LABELS = (
    ("surname", "surname"),
    ("givennames", "given_names"),
    ("nationality", "nationality"),
    ("dateofbirth", "birth_date"),
    ("sex", "sex"),
    ("documentno", "document_number"),
    ("dateofexpiry", "expiry_date"),
    ("expiry", "expiry_date"),
)


def _key(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def parse_labelled_text(text: str) -> dict[str, str]:
    """Fields from OCR text where each value is on the line after its label."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fields: dict[str, str] = {}
    for index, line in enumerate(lines[:-1]):
        key = _key(line.split("/")[0])
        field = next((name for prefix, name in LABELS if key.startswith(prefix)), None)
        if field is None or field in fields:
            continue
        value = lines[index + 1].strip()
        if _key(value.split("/")[0]) and any(
            _key(value.split("/")[0]).startswith(prefix) for prefix, _ in LABELS
        ):
            continue  # the next line is another label: this value was not read
        if field in ("birth_date", "expiry_date"):
            parsed = parse_visual_date(value)
            if parsed:
                fields[field] = parsed.isoformat()
        elif field == "sex":
            sex = normalize_sex(value[:1])
            if sex:
                fields[field] = sex
        elif field == "document_number":
            fields[field] = re.sub(r"[^A-Z0-9]", "", value.upper())
        else:
            fields[field] = re.sub(r"\s+", " ", value).strip().upper()
    return fields


def read_visual_zone(
    rgb: np.ndarray, card_corners: np.ndarray, mrz_line_count: int
) -> dict[str, str]:
    """Labelled fields above the MRZ of a card whose outline is known."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    card = warp_card(gray, card_corners, width_px=1100)
    # the MRZ band takes ~4.2 mm per line plus margins: keep what is above it
    height_mm = 88.0 if card.shape[1] / card.shape[0] < 1.52 else 54.0
    mrz_mm = 4.23 * mrz_line_count + 5
    visual = card[: int(card.shape[0] * (1 - mrz_mm / height_mm))]
    text, _ = tesseract.engine("visual_zone", psm=PSM_AUTO).read(visual)
    return parse_labelled_text(text)
