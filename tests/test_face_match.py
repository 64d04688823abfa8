"""match_faces and match_document_to_selfies on shared photos and canvases built from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.verification.faces import recognition as faces
from gateway.verification.faces.match import match_document_to_selfies, match_faces
from gateway.verification.images import load_image

GREY = (205, 205, 200)


@pytest.fixture(scope="module")
def photo(datasets_dir: Path) -> Callable[[str], np.ndarray]:
    """Shared face photos by file name, decoded once per module."""
    cache: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = load_image(datasets_dir / "faces" / name)
        return cache[name]

    return get


def head_crop(rgb: np.ndarray, face_width_px: int) -> Image.Image:
    """The photo's face with a margin, resized so the face is about `face_width_px` wide."""
    [face] = faces.detect_faces(rgb)
    left, top, right, bottom = face.box
    pad = face.width_px // 2
    crop = Image.fromarray(rgb).crop((left - pad, top - pad, right + pad, bottom + pad))
    scale = face_width_px / face.width_px
    return crop.resize((round(crop.width * scale), round(crop.height * scale)))


def canvas(*heads: Image.Image, size: tuple[int, int] = (900, 500)) -> np.ndarray:
    """Paste heads side by side on a plain background."""
    board = Image.new("RGB", size, GREY)
    x = 20
    for head in heads:
        board.paste(head, (x, 40))
        x += head.width + 40
    return np.asarray(board)


def blank() -> np.ndarray:
    return np.full((480, 640, 3), GREY, dtype=np.uint8)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "target"),
    [("img20.jpg", "img21.jpg"), ("img16.jpg", "img17.jpg"), ("img1.jpg", "img2.jpg")],
)
def test_same_person_matches(photo, source: str, target: str) -> None:
    result = match_faces(photo(source), photo(target))
    assert result.code == "match"
    assert result.match is True
    assert result.similarity is not None and result.similarity >= 0.75
    assert result.distance is not None and result.distance < faces.EER_DISTANCE
    assert len(result.faces["source"]) == 1 and len(result.faces["target"]) == 1
    as_json = json.loads(json.dumps(result.as_dict()))
    assert as_json["match"] is True and as_json["similarity"] == round(result.similarity, 4)
    assert as_json["faces"]["target"][0]["width_px"] >= faces.MIN_FACE_PX


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "target"),
    [("img20.jpg", "img16.jpg"), ("img1.jpg", "img3.jpg"), ("img22.jpg", "img17.jpg")],
)
def test_different_people_do_not_match(photo, source: str, target: str) -> None:
    result = match_faces(photo(source), photo(target))
    assert (result.code, result.match) == ("no_match", False)
    assert result.similarity is not None and result.similarity < 0.75
    assert "< 0.75 threshold" in result.detail


@pytest.mark.slow
def test_threshold_decides_on_the_same_similarity(photo) -> None:
    lenient = match_faces(photo("img20.jpg"), photo("img21.jpg"), threshold=0.5)
    assert lenient.match
    assert lenient.similarity is not None
    strict = match_faces(photo("img20.jpg"), photo("img21.jpg"), threshold=0.9999)
    assert strict.similarity == pytest.approx(lenient.similarity)
    assert not strict.match and strict.code == "no_match"


@pytest.mark.slow
def test_a_similarity_just_under_the_threshold_is_not_shown_equal_to_it(photo) -> None:
    """The reason is what a reviewer reads: "similarity 0.75 < 0.75 threshold" says nothing.
    Below the threshold, the figures get the decimals that tell them apart."""
    similarity = match_faces(photo("img20.jpg"), photo("img16.jpg")).similarity
    assert similarity is not None and similarity < 0.99
    shown = round(similarity, 2)
    threshold = (similarity + shown + 0.005) / 2  # above the similarity, shown the same at .2f
    assert f"{threshold:.2f}" == f"{similarity:.2f}"
    result = match_faces(photo("img20.jpg"), photo("img16.jpg"), threshold=threshold)
    assert (result.code, result.match) == ("no_match", False)
    figures = result.detail.removeprefix("similarity ").removesuffix(" threshold")
    left, relation, right = figures.split(" ")
    assert relation == "<" and float(left) < float(right), result.detail


def test_threshold_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError):
        match_faces(blank(), blank(), threshold=1.0)


@pytest.mark.slow
def test_no_face_is_coded_never_matched(photo) -> None:
    result = match_faces(blank(), photo("img20.jpg"))
    assert (result.match, result.similarity, result.code) == (False, None, "no_face:source")
    assert result.faces["source"] == []
    assert len(result.faces["target"]) == 1


@pytest.mark.slow
def test_two_faces_are_coded_never_guessed(photo) -> None:
    """Two people side by side, one of them the source's own: still no match."""
    crowd = canvas(head_crop(photo("img21.jpg"), 150), head_crop(photo("img16.jpg"), 150))
    result = match_faces(photo("img20.jpg"), crowd)
    assert (result.match, result.similarity, result.code) == (False, None, "multiple_faces:target")
    assert len(result.faces["target"]) == 2
    assert "2 faces" in result.detail


@pytest.mark.slow
def test_too_small_face_is_coded(photo) -> None:
    tiny = canvas(head_crop(photo("img20.jpg"), 45), size=(640, 480))
    result = match_faces(tiny, photo("img21.jpg"))
    assert (result.match, result.similarity, result.code) == (False, None, "face_too_small:source")
    [face] = result.faces["source"]
    assert face["width_px"] < faces.MIN_FACE_PX
    assert f"{faces.MIN_FACE_PX} px minimum" in result.detail


@pytest.mark.slow
def test_both_sides_unusable_names_the_source_and_lists_both() -> None:
    result = match_faces(blank(), blank())
    assert result.code == "no_face:source"
    assert "source" in result.detail and "target" in result.detail


@pytest.mark.slow
def test_document_against_frames_uses_the_median_of_usable_frames(photo) -> None:
    frames = [photo("img21.jpg"), blank(), photo("img20.jpg")]
    result = match_document_to_selfies(photo("img20.jpg"), frames)
    assert result.code == "match" and result.match
    assert result.aggregate == "median"
    assert result.used_frames == 2
    assert [frame.code for frame in result.frames] == ["usable", "no_face", "usable"]
    distances = [frame.distance for frame in result.frames if frame.distance is not None]
    assert result.distance == pytest.approx(float(np.median(distances)))
    assert result.frames[2].distance == pytest.approx(0.0, abs=1e-6)  # the very same photo
    assert result.frame_spread is not None and result.frame_spread < faces.EER_DISTANCE
    as_json = json.loads(json.dumps(result.as_dict()))
    assert as_json["code"] == "match"
    assert [frame["code"] for frame in as_json["frames"]] == ["usable", "no_face", "usable"]
    assert as_json["distance"] == round(result.distance, 4)


@pytest.mark.slow
def test_a_dense_burst_is_matched_on_a_few_evenly_spread_frames(photo) -> None:
    """The liveness burst holds ~100 frames; the match examines MAX_SELFIE_FRAMES of them."""
    frames = [blank()] * 12
    frames[0] = frames[11] = photo("img20.jpg")
    result = match_document_to_selfies(photo("img20.jpg"), frames, max_selfie_frames=4)
    assert [frame.index for frame in result.frames] == [0, 4, 7, 11]
    assert result.used_frames == 2 and result.code == "match"


@pytest.mark.slow
def test_document_against_an_impostors_frames_does_not_match(photo) -> None:
    result = match_document_to_selfies(photo("img20.jpg"), [photo("img16.jpg"), photo("img17.jpg")])
    assert result.code == "no_match" and not result.match
    assert result.similarity is not None and result.similarity < 0.75


@pytest.mark.slow
def test_frames_of_two_people_are_inconsistent_even_if_one_matches(photo) -> None:
    """A face swap mid-capture: one frame is the document holder, another someone else."""
    frames = [photo("img21.jpg"), photo("img20.jpg"), photo("img16.jpg")]
    result = match_document_to_selfies(photo("img20.jpg"), frames)
    assert result.code == "inconsistent_selfie_frames"
    assert not result.match
    assert result.frame_spread is not None and result.frame_spread > faces.EER_DISTANCE


@pytest.mark.slow
def test_document_without_face_skips_the_frames(photo) -> None:
    result = match_document_to_selfies(blank(), [photo("img20.jpg")])
    assert (result.code, result.match, result.frames) == ("no_face:document", False, [])


@pytest.mark.slow
def test_no_usable_frame_reports_the_selfie_problem(photo) -> None:
    crowd = canvas(head_crop(photo("img21.jpg"), 150), head_crop(photo("img16.jpg"), 150))
    result = match_document_to_selfies(photo("img20.jpg"), [blank(), crowd])
    assert result.code == "multiple_faces:selfie"
    assert not result.match and result.similarity is None
    assert [frame.face_count for frame in result.frames] == [0, 2]
    assert match_document_to_selfies(photo("img20.jpg"), []).code == "no_face:selfie"
