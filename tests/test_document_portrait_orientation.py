"""A document photographed sideways or upside down: its portrait is looked for on the page turned
the way its MRZ reads (documents.service.upright_quarter_turns), never on the face detector's
word (the worker's side: tests/test_pipeline.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.synthetic.documents import make_passport
from gateway.synthetic.ktp import make_ktp
from gateway.verification.documents.reader import read_mrz
from gateway.verification.documents.service import analyze_document, upright_quarter_turns
from gateway.verification.faces.recognition import face_distance
from gateway.verification.factors import document_portrait

pytestmark = pytest.mark.slow

REAL_MRZ = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "documents" / "real_mrz"


def _real_page(name: str) -> np.ndarray:
    path = REAL_MRZ / name
    if not path.is_file():
        pytest.skip(f"real MRZ set not found at {REAL_MRZ}")
    return np.asarray(Image.open(path).convert("RGB"))


def _turned(rgb: np.ndarray, quarter_turns: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns))


def test_a_real_page_stored_sideways_is_read_and_its_portrait_found():
    # 0_pass-lva: a specimen passport's data page photographed lying on its side
    page = _real_page("0_pass-lva.jpg")
    assert document_portrait(page).card.problem == "no_face"  # as given: nothing to compare
    result = analyze_document(page, read_visual_zone=False)
    assert result["mrz"]["side"] == "front"
    assert result["front_quarter_turns"] == 1
    checks = {item["name"]: item["status"] for item in result["checks"]}
    assert checks["face_on_document"] == "pass"
    assert "no_face_on_document" not in [issue["code"] for issue in result["quality"]["issues"]]
    portrait = document_portrait(page, 1)
    assert portrait.card.problem is None and portrait.portrait.embedding is not None


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_a_turned_real_page_gives_the_upright_pages_portrait(quarter_turns):
    page = _real_page("100_pass-cze.jpg")
    upright = document_portrait(page).portrait
    assert upright is not None and upright.embedding is not None
    turned = _turned(page, quarter_turns)
    turns = upright_quarter_turns(read_mrz(turned), "front")
    assert turns == (4 - quarter_turns) % 4
    found = document_portrait(turned, turns).portrait
    assert found is not None and found.embedding is not None
    assert face_distance(found.embedding, upright.embedding) < 0.1


def test_a_turned_copy_never_lends_a_false_face_to_a_page_whose_portrait_is_missed():
    # 100_pass-lux is upright; glare hides its portrait from the detector. Turned a quarter,
    # the detector finds a "face" in the page's pattern; the MRZ says the copy is turned and
    # the portrait is looked for upright, where there is none: a new photo is asked for.
    page = _real_page("100_pass-lux.jpg")
    assert document_portrait(page).card.problem == "no_face"
    turned = _turned(page, 1)
    assert document_portrait(turned).card.problem is None  # the trap the detector falls in
    turns = upright_quarter_turns(read_mrz(turned), "front")
    assert turns == 3
    assert document_portrait(turned, turns).card.problem == "no_face"


def test_a_read_of_the_back_never_turns_the_front():
    page = _real_page("100_pass-cze.jpg")
    read = read_mrz(_turned(page, 1))
    assert read is not None and read.reading.all_check_digits_valid
    assert upright_quarter_turns(read, "front") == 3
    assert upright_quarter_turns(read, "back") == 0  # a card's back says nothing of its front
    assert upright_quarter_turns(None, "front") == 0


@pytest.mark.parametrize("quarter_turns", [1, 2])
def test_a_turned_page_whose_mrz_reads_with_a_wrong_digit_gives_the_upright_portrait(
    datasets_dir, quarter_turns
):
    # A misprinted or misread digit is common on a phone photo; the read still says which way
    # up the page is, and upside down the detector would otherwise find the portrait head down
    # and compare that (another face, far from the upright one).
    today, face = dt.date(2026, 12, 1), datasets_dir / "faces" / "img2.jpg"
    first, second = make_passport(np.random.default_rng(5), face, today=today).mrz_lines
    wrong = str((int(second[9]) + 1) % 10)  # the document number's check digit
    misread = (first, second[:9] + wrong + second[10:])
    page = make_passport(np.random.default_rng(5), face, today=today, mrz_lines=misread).image_rgb
    upright = document_portrait(page).portrait
    assert upright is not None and upright.embedding is not None
    turned = _turned(page, quarter_turns)
    read = read_mrz(turned)
    assert read is not None and not read.reading.all_check_digits_valid
    result = analyze_document(turned, today=today, read_visual_zone=False)
    assert result["front_quarter_turns"] == (4 - quarter_turns) % 4
    found = document_portrait(turned, result["front_quarter_turns"]).portrait
    assert found is not None and found.embedding is not None
    assert face_distance(found.embedding, upright.embedding) < 0.1


def test_a_sideways_ktp_has_its_portrait_found_upright(datasets_dir):
    # No MRZ: the turn comes from the NIK read on the card turned upright.
    today = dt.date(2026, 12, 1)
    card = make_ktp(np.random.default_rng(8), datasets_dir / "faces" / "img1.jpg", today=today)
    upright = document_portrait(card.image_rgb).portrait
    assert upright is not None and upright.embedding is not None
    turned = _turned(card.image_rgb, 3)
    assert document_portrait(turned).card.problem == "no_face"
    result = analyze_document(turned, today=today, read_visual_zone=False)
    assert result["front_quarter_turns"] == 1
    assert {c["name"]: c["status"] for c in result["checks"]}["face_on_document"] == "pass"
    found = document_portrait(turned, 1).portrait
    assert found is not None and found.embedding is not None
    assert face_distance(found.embedding, upright.embedding) < 0.1
