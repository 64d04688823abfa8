"""The MRZ reader gives one answer whichever way up a page is fed, and decodes country codes and
the document kind over the closed vocabularies ICAO 9303 defines."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.synthetic.documents import make_passport
from gateway.verification.documents.mrz import parse_mrz
from gateway.verification.documents.mrz_certainty import UNCERTAIN, VALID, CharacterEvidence
from gateway.verification.documents.mrz_levels import levelled_band
from gateway.verification.documents.mrz_locate import cut_line, find_text_lines
from gateway.verification.documents.reader import read_mrz

REAL_MRZ = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "documents" / "real_mrz"

TD3 = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]


def _turned_back(box: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A box found on the page turned 180 degrees, in the upright page's pixels (tl <-> br)."""
    height, width = shape
    return np.stack([width - 1 - box[:, 0], height - 1 - box[:, 1]], axis=1)[[2, 3, 0, 1]]


def test_a_page_upside_down_gives_the_same_lines_and_the_same_crops():
    # a thumbnail (upscaled to the work width) and a large page (downscaled): a plain division
    # by the work scale moved every box by 1/scale - 1 pixels, so upside down the crops cut
    # other parts of the glyphs (25_pass-uto read ERIKSSON upright, FRIKSSON upside down)
    doc = make_passport(np.random.default_rng(3))
    gray = cv2.cvtColor(doc.image_rgb, cv2.COLOR_RGB2GRAY)
    for width in (300, 1400):
        page = cv2.resize(gray, (width, round(gray.shape[0] * width / gray.shape[1])),
                          interpolation=cv2.INTER_AREA)  # fmt: skip
        turned = np.ascontiguousarray(page[::-1, ::-1])
        upright_lines = find_text_lines(page)
        turned_lines = find_text_lines(turned)
        assert len(upright_lines) == len(turned_lines) >= 2
        for line in upright_lines[:2]:
            match = min(turned_lines, key=lambda other: abs(other.length_px - line.length_px)
                        + np.abs(_turned_back(other.box, page.shape) - line.box).sum())  # fmt: skip
            assert np.abs(_turned_back(match.box, page.shape) - line.box).max() < 0.01
            upright = cut_line(page, line).astype(np.float32)
            back = cut_line(turned, match)[::-1, ::-1].astype(np.float32)
            assert upright.shape == back.shape
            assert np.abs(upright - back).mean() < 0.5  # gray levels: interpolation rounding


def test_a_faint_stroke_counts_as_a_stroke_once_levelled():
    band = np.zeros((40, 90), np.float32)
    band[5:35, 5:9] = 200  # a full stroke
    band[32:35, 9:25] = 70  # a faint bar beside it (an E's lower arm printed light)
    band[5:35, 50:54] = 200  # the next cell's stroke
    levelled = levelled_band(band, 30)
    assert levelled[33, 15] > 0.8 * levelled[20, 6]
    assert levelled[20, 35] < 10  # paper stays paper


def test_a_code_that_is_no_code_is_decoded_to_the_likeliest_code_and_stays_uncertain():
    lines = [TD3[0], TD3[1][:10] + "QBM" + TD3[1][13:]]
    alternatives = {(1, 10): "GD", (1, 11): "DO", (1, 12): "RK"}
    lags = {(1, 10): {"G": 0.046, "D": 0.11}, (1, 11): {"D": 0.02, "O": 0.038},
            (1, 12): {"R": 0.006, "K": 0.1}}  # fmt: skip
    # GBR and DOM are both in reach; GBR's glyphs trail the read ones far less
    reading = parse_mrz(lines, alternatives=alternatives, code_lags=lags)
    assert reading.lines[1][10:13] == "GBR"
    assert ("nationality", "country_code") in {(r.field, r.verified_by) for r in reading.repairs}
    # without the scores two codes are in reach: nothing changes
    assert parse_mrz(lines, alternatives=alternatives).lines[1][10:13] == "QBM"
    # two codes the scores cannot tell apart: nothing changes either
    even = {key: {glyph: 0.05 for glyph in value} for key, value in lags.items()}
    assert parse_mrz(lines, alternatives=alternatives, code_lags=even).lines[1][10:13] == "QBM"


def test_a_document_kind_that_is_no_kind_takes_the_offered_one():
    lines = ["F" + TD3[0][1:], TD3[1]]
    reading = parse_mrz(lines, alternatives={(0, 0): "EP"})
    assert reading.lines[0][0] == "P"
    assert ("document_code", "document_kind") in {(r.field, r.verified_by) for r in reading.repairs}
    # Graded by how the OCR saw the page, the repaired cell keeps the lead the read glyph had
    # over the one put there (negative): the code goes to a person, every other field is valid.
    clear = [[0.5] * len(line) for line in reading.lines]
    clear[0][0] = -0.03
    reading.set_evidence(
        CharacterEvidence(
            margins=clear,
            rivals=[[""] * len(line) for line in reading.lines],
            pair_margins=[[1.0] * len(line) for line in reading.lines],
        )
    )
    assert reading.field_status["document_code"] == UNCERTAIN
    assert {name for name, status in reading.field_status.items() if status != VALID} == {
        "document_code"
    }
    # nothing offered: the read stays as it is
    assert parse_mrz(lines, alternatives={}).lines[0][0] == "F"


def _real(name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    if not (REAL_MRZ / "truth.csv").is_file():
        pytest.skip(f"real MRZ set not found at {REAL_MRZ}")
    with (REAL_MRZ / "truth.csv").open(encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["file"] == name)
    bgr = cv2.imread(str(REAL_MRZ / name), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), tuple(row["mrz"].split("\\n"))


@pytest.mark.needs_datasets
def test_a_thumbnail_reads_the_same_upside_down():
    # 275 px wide, 5-6 px per glyph: upright ERIKSSON, upside down FRIKSSON before the fix
    rgb, truth = _real("25_pass-uto.jpg")
    upright = read_mrz(rgb)
    turned = read_mrz(np.ascontiguousarray(rgb[::-1, ::-1]))
    assert upright is not None and turned is not None
    assert upright.reading.lines == turned.reading.lines == truth


@pytest.mark.needs_datasets
def test_an_e_with_a_faint_lower_bar_is_read_e_and_left_for_a_person():
    # 43_pass-fra prints CHRISTOPHE's last E with its lower bar at ~40 % of its other strokes
    rgb, truth = _real("43_pass-fra.jpg")
    result = read_mrz(rgb)
    assert result is not None
    assert result.reading.lines == truth
    assert result.reading.field_status["given_names"] != VALID
