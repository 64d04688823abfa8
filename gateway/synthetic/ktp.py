"""A synthetic Indonesian KTP-like card: the layout and labels of the real one, fake data.

Ground truth includes a NIK built by the real rule (region codes, DDMMYY with day + 40 for
women, serial), so the structure checks can be tested on read values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from gateway.synthetic.documents import (
    SyntheticDocument,
    _font,
    _portrait,
    load_face,
    place_on_scene,
)

PLACES = [
    ("31", "DKI JAKARTA", "71", "KOTA JAKARTA PUSAT", "JAKARTA"),
    ("32", "JAWA BARAT", "73", "KOTA BANDUNG", "BANDUNG"),
    ("35", "JAWA TIMUR", "78", "KOTA SURABAYA", "SURABAYA"),
    ("51", "BALI", "71", "KOTA DENPASAR", "DENPASAR"),
    ("12", "SUMATERA UTARA", "71", "KOTA MEDAN", "MEDAN"),
]
NAMES = [
    "BUDI SANTOSO",
    "SITI RAHAYU",
    "DEWI LESTARI",
    "AGUS WIJAYA",
    "NUR HALIMAH",
    "RUDI HARTONO",
]
STREETS = ["JL. MERDEKA NO. 10", "JL. SUDIRMAN NO. 45", "JL. DIPONEGORO NO. 7", "JL. MAWAR NO. 3"]


def make_nik(
    province: str, regency: str, district: str, birth: dt.date, sex: str, serial: int
) -> str:
    day = birth.day + (40 if sex == "F" else 0)
    return f"{province}{regency}{district}{day:02d}{birth:%m%y}{serial:04d}"


def make_ktp(
    rng: np.random.Generator,
    face_rgb: np.ndarray | str | Path | None = None,
    *,
    today: dt.date | None = None,
) -> SyntheticDocument:
    """A KTP-like card photographed on a desk, with its ground-truth fields."""
    today = today or dt.date.today()
    province, province_name, regency, regency_name, city = PLACES[int(rng.integers(len(PLACES)))]
    district = f"{int(rng.integers(1, 30)):02d}"
    sex = str(rng.choice(["M", "F"]))
    birth = today - dt.timedelta(days=int(rng.integers(18 * 365, 70 * 365)))
    nik = make_nik(province, regency, district, birth, sex, int(rng.integers(1, 9999)))
    fields = {
        "nik": nik,
        "name": str(rng.choice(NAMES)),
        "birth_place": city,
        "birth_date": birth.isoformat(),
        "sex": sex,
        "address": str(rng.choice(STREETS)),
        "rt_rw": f"{int(rng.integers(1, 20)):03d}/{int(rng.integers(1, 15)):03d}",
        "village": "MENTENG",
        "district": "KECAMATAN " + str(rng.choice(["TENGAH", "UTARA", "BARAT"])),
        "religion": str(rng.choice(["ISLAM", "KRISTEN", "HINDU", "BUDDHA"])),
        "marital_status": str(rng.choice(["KAWIN", "BELUM KAWIN"])),
        "occupation": str(rng.choice(["KARYAWAN SWASTA", "WIRASWASTA", "PELAJAR/MAHASISWA"])),
        "nationality": "WNI",
        "valid_until": "SEUMUR HIDUP",
        "province": province_name,
        "regency": regency_name,
        "document_type": "id_card",
        "issuing_state": "IDN",
    }
    px_per_mm = 14.0
    size = (round(85.6 * px_per_mm), round(54.0 * px_per_mm))
    card = Image.new("RGB", size, (196, 222, 240))
    draw = ImageDraw.Draw(card)
    header = _font("bold", round(3.0 * px_per_mm))
    draw.text(
        (size[0] / 2, 2 * px_per_mm),
        f"PROVINSI {province_name}",
        font=header,
        fill=(0, 0, 0),
        anchor="ma",
    )
    draw.text(
        (size[0] / 2, 5.5 * px_per_mm), regency_name, font=header, fill=(0, 0, 0), anchor="ma"
    )
    label_font = _font("sans", round(2.2 * px_per_mm))
    nik_font = _font("bold", round(3.0 * px_per_mm))
    gender = "LAKI-LAKI" if sex == "M" else "PEREMPUAN"
    rows = [
        ("NIK", nik),
        ("Nama", fields["name"]),
        ("Tempat/Tgl Lahir", f"{city}, {birth:%d-%m-%Y}"),
        ("Jenis Kelamin", gender),
        ("Alamat", fields["address"]),
        ("RT/RW", fields["rt_rw"]),
        ("Kel/Desa", fields["village"]),
        ("Kecamatan", fields["district"]),
        ("Agama", fields["religion"]),
        ("Status Perkawinan", fields["marital_status"]),
        ("Pekerjaan", fields["occupation"]),
        ("Kewarganegaraan", "WNI"),
        ("Berlaku Hingga", "SEUMUR HIDUP"),
    ]
    y = 10 * px_per_mm
    for label, value in rows:
        font = nik_font if label == "NIK" else label_font
        draw.text((3 * px_per_mm, y), label, font=font, fill=(0, 0, 0))
        draw.text((22 * px_per_mm, y), f": {value}", font=font, fill=(0, 0, 0))
        y += (4.4 if label == "NIK" else 3.15) * px_per_mm
    photo = _portrait(load_face(face_rgb), (round(22 * px_per_mm), round(28 * px_per_mm)))
    card.paste(photo, (round(60 * px_per_mm), round(11 * px_per_mm)))
    image, corners = place_on_scene(card, rng)
    return SyntheticDocument(image, "KTP", (), fields, corners)
