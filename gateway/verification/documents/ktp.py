"""Indonesian KTP (Kartu Tanda Penduduk): no MRZ, so the visual zone is read and the NIK checked.

The 16-digit NIK (Nomor Induk Kependudukan) encodes where and when its holder was registered:
province (2 digits), regency/city (2), district (2), birth date DDMMYY with 40 added to the day
for women, and a 4-digit serial. Its structure is checked against what the card says.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import cv2
import numpy as np

from gateway.verification.documents import tesseract
from gateway.verification.documents.checks import FAIL, NOT_CHECKED, PASS, check
from gateway.verification.documents.normalize import normalize_sex, parse_visual_date
from gateway.verification.images import downscale_to_max_side

# Province codes in use (Kemendagri), including the four Papua provinces created in 2022.
PROVINCE_CODES = frozenset(
    {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53}
    | {61, 62, 63, 64, 65, 71, 72, 73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96}
)
# Printed labels -> field names; matched loosely because OCR drops dots and slashes.
LABELS = {
    "nik": "nik",
    "nama": "name",
    "tempattgllahir": "birth",
    "jeniskelamin": "sex",
    "alamat": "address",
    "rtrw": "rt_rw",
    "keldesa": "village",
    "kecamatan": "district",
    "agama": "religion",
    "statusperkawinan": "marital_status",
    "pekerjaan": "occupation",
    "kewarganegaraan": "nationality",
    "berlakuhingga": "valid_until",
}


@dataclass(frozen=True)
class Nik:
    """The parts of a structurally valid NIK."""

    province_code: str
    regency_code: str
    district_code: str
    birth_date: dt.date
    sex: str
    serial: str


def parse_nik(nik: str, today: dt.date) -> tuple[Nik | None, list[str]]:
    """The NIK's parts, or None with the reasons it is malformed."""
    problems = []
    if not re.fullmatch(r"\d{16}", nik):
        return None, ["NIK must be exactly 16 digits"]
    province, regency, district = nik[0:2], nik[2:4], nik[4:6]
    if int(province) not in PROVINCE_CODES:
        problems.append("unknown province code")
    if regency == "00" or district == "00":
        problems.append("regency and district codes cannot be 00")
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    sex = "F" if day > 40 else "M"
    day = day - 40 if day > 40 else day
    birth = None
    for century in (today.year // 100 * 100, today.year // 100 * 100 - 100):
        try:
            candidate = dt.date(century + yy, month, day)
        except ValueError:
            break
        if candidate <= today:
            birth = candidate
            break
    if birth is None:
        problems.append("birth date inside the NIK is not a date")
    if nik[12:16] == "0000":
        problems.append("serial cannot be 0000")
    if problems or birth is None:
        return None, problems
    return Nik(province, regency, district, birth, sex, nik[12:16]), []


def check_nik(fields: dict[str, str], today: dt.date) -> list[dict[str, str]]:
    """The NIK's structure, and its birth date and sex against those printed on the card."""
    nik = fields.get("nik") or ""
    if not nik:
        return [check("nik_structure", NOT_CHECKED, "NIK not read")]
    parsed, problems = parse_nik(nik, today)
    if parsed is None:
        return [check("nik_structure", FAIL, "; ".join(problems))]
    out = [check("nik_structure", PASS, "16 digits, region codes and birth date well formed")]
    if fields.get("birth_date"):
        same = fields["birth_date"] == parsed.birth_date.isoformat()
        detail = "agrees with the printed date" if same else "differs from the printed date"
        out.append(check("nik_birth_date", PASS if same else FAIL, detail))
    else:
        out.append(check("nik_birth_date", NOT_CHECKED, "printed birth date not read"))
    if fields.get("sex") in ("M", "F"):
        same = fields["sex"] == parsed.sex
        detail = "agrees with the printed sex" if same else "differs from the printed sex"
        out.append(check("nik_sex", PASS if same else FAIL, detail))
    else:
        out.append(check("nik_sex", NOT_CHECKED, "printed sex not read"))
    return out


def _label_key(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def parse_ktp_text(text: str) -> dict[str, str]:
    """Fields from the card's OCR text, one ``Label : value`` per line."""
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        upper = line.upper()
        if upper.startswith("PROVINSI"):
            fields["province"] = upper.removeprefix("PROVINSI").strip()
            continue
        if upper.startswith(("KABUPATEN", "KOTA")):
            fields["regency"] = upper
            continue
        label, sep, value = line.partition(":")
        if not sep:
            continue
        key = _label_key(label)
        name = next((field for prefix, field in LABELS.items() if key.startswith(prefix)), None)
        if name is None:
            continue
        value = value.strip()
        if name == "nik":
            digits = re.sub(r"\D", "", value.replace("O", "0").replace("o", "0"))
            fields["nik"] = digits
        elif name == "birth":
            place, _, date_text = value.rpartition(",")
            fields["birth_place"] = place.strip().upper()
            birth = parse_visual_date(date_text.strip())
            if birth:
                fields["birth_date"] = birth.isoformat()
        elif name == "sex":
            word = re.split(r"\s{2,}|GOL|Gol", value)[0].strip().upper()
            sex = normalize_sex(word)
            if sex:
                fields["sex"] = sex
        else:
            fields[name] = value.upper()
    return fields


# A card warped flat is read 1100 px wide; a photo without a card outline (the card filling it)
# is read at most this long, which keeps a card that fills the frame at or above that width.
UNWARPED_MAX_SIDE_PX = 1600


def read_ktp(rgb: np.ndarray, card_corners: np.ndarray | None = None) -> tuple[dict[str, str], str]:
    """Read the visual zone of a KTP photo; returns the fields and the raw OCR text.

    The card is warped flat when its corners are known, then read as one block with tesseract.
    Without them the whole photo is read, shrunk to at most UNWARPED_MAX_SIDE_PX on its long
    side: at full size a 1600 x 1200 photo of noise took tesseract 11.5 s, 4096 x 819 px 23 s.
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    if card_corners is not None:
        from gateway.verification.documents.geometry import warp_card

        gray = warp_card(gray, card_corners, width_px=1100)
    else:
        gray, _ = downscale_to_max_side(gray, UNWARPED_MAX_SIDE_PX)
    engine = tesseract.engine("ktp_block", psm=tesseract.PSM_BLOCK)
    text, _ = engine.read(gray)
    return parse_ktp_text(text), text
