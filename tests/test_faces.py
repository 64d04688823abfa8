"""Face models: the similarity mapping (fast) and detection/embedding on shared photos (slow)."""

from __future__ import annotations

import itertools
import math
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.verification.faces import recognition as faces
from gateway.verification.images import downscale_to_max_side, load_image


def test_similarity_is_the_threshold_at_the_calibrated_eer_distance() -> None:
    assert faces.distance_to_similarity(faces.EER_DISTANCE) == pytest.approx(0.75, abs=1e-12)
    assert faces.similarity_to_distance(0.75) == pytest.approx(faces.EER_DISTANCE, abs=1e-12)
    assert faces.DEFAULT_THRESHOLD == 0.75


def test_similarity_is_strictly_decreasing_and_inside_0_1() -> None:
    distances = np.linspace(0.0, 2.0, 401)  # embeddings of dlib's model stay well below 2
    similarities = [faces.distance_to_similarity(float(d)) for d in distances]
    assert all(a > b for a, b in itertools.pairwise(similarities))
    assert all(0.0 < s < 1.0 for s in similarities)
    assert similarities[0] > 0.99  # identical embeddings
    assert similarities[-1] < 1e-5


def test_similarity_survives_extreme_distances() -> None:
    assert faces.distance_to_similarity(1e6) == 0.0
    assert faces.distance_to_similarity(-1e6) == 1.0
    assert not math.isnan(faces.distance_to_similarity(500.0))


def test_medians_measured_on_the_shared_faces_land_where_documented() -> None:
    """Same-person median 0.383 and different-person median 0.888 (eval output)."""
    assert faces.distance_to_similarity(0.888) == pytest.approx(0.05, abs=0.002)
    assert faces.distance_to_similarity(0.383) > 0.97


@pytest.mark.parametrize("similarity", [0.01, 0.3, 0.5, 0.75, 0.9, 0.999])
def test_similarity_to_distance_inverts_the_mapping(similarity: float) -> None:
    distance = faces.similarity_to_distance(similarity)
    assert faces.distance_to_similarity(distance) == pytest.approx(similarity, rel=1e-9)


@pytest.mark.parametrize("similarity", [0.0, 1.0, -0.1, 1.5])
def test_similarity_to_distance_refuses_the_ends(similarity: float) -> None:
    with pytest.raises(ValueError):
        faces.similarity_to_distance(similarity)


def test_face_distance_is_euclidean() -> None:
    assert faces.face_distance(np.zeros(128), np.full(128, 0.5)) == pytest.approx(
        math.sqrt(128 * 0.25)
    )


def test_min_face_px_rule() -> None:
    def face(width_px: int) -> faces.DetectedFace:
        return faces.DetectedFace(
            box=(10, 10, 10 + width_px, 10 + width_px), score=1.0, landmarks=()
        )

    assert faces.is_face_too_small(face(faces.MIN_FACE_PX - 1))
    assert not faces.is_face_too_small(face(faces.MIN_FACE_PX))
    assert faces.is_face_too_small(face(100), min_face_px=101)


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(ValueError):
        faces.detect_faces(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError):
        faces.detect_faces(np.zeros((10, 10, 3), dtype=np.float32))


@pytest.mark.slow
def test_models_load_once_even_from_many_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "_models", None)  # as in a fresh worker process
    loads: list[int] = []
    real_models_dir = faces.models_dir

    def counting_models_dir() -> Path:
        loads.append(1)
        return real_models_dir()

    monkeypatch.setattr(faces, "models_dir", counting_models_dir)
    start = threading.Barrier(4)
    seen: list[int] = []

    def load() -> None:
        start.wait()
        seen.append(id(faces.get_face_models()))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4 and len(set(seen)) == 1
    assert len(loads) == 1
    assert faces.get_face_models() is faces.get_face_models()
    assert len(loads) == 1


@pytest.mark.slow
def test_exif_rotated_still_shows_a_face_only_once_turned_upright(datasets_dir: Path) -> None:
    path = datasets_dir / "liveness" / "still_real_T1.jpg"
    with Image.open(path) as raw:
        sideways = np.asarray(raw.convert("RGB"))  # the sensor's pixels, EXIF ignored
    assert faces.detect_faces(sideways) == []
    upright = faces.detect_faces(load_image(path))
    assert len(upright) == 1


@pytest.mark.slow
def test_boxes_and_landmarks_are_in_original_pixels(datasets_dir: Path) -> None:
    """img1 is 1382x1868: detection runs at 640 px but must report full-size coordinates."""
    rgb = load_image(datasets_dir / "faces" / "img1.jpg")
    small = np.asarray(Image.fromarray(rgb).resize((rgb.shape[1] // 3, rgb.shape[0] // 3)))
    [full_face] = faces.detect_faces(rgb)
    [small_face] = faces.detect_faces(small)
    for full_value, small_value in zip(full_face.box, small_face.box, strict=True):
        assert full_value == pytest.approx(3 * small_value, abs=0.1 * full_face.width_px)
    left, top, right, bottom = full_face.box
    assert len(full_face.landmarks) == 5
    assert all(left <= x <= right and top <= y <= bottom for x, y in full_face.landmarks)
    (outer_a, _), (inner_a, _), (outer_b, _), (inner_b, _), (_, nose_y) = full_face.landmarks
    assert outer_a > inner_a > inner_b > outer_b  # documented order: image-right eye first
    assert nose_y > max(y for _, y in full_face.landmarks[:4])


@pytest.mark.slow
def test_small_face_needs_the_upsampled_second_pass(datasets_dir: Path) -> None:
    rgb = load_image(datasets_dir / "faces" / "img20.jpg")
    [face] = faces.detect_faces(rgb)
    left, top, right, bottom = face.box
    pad = face.width_px // 2
    crop = Image.fromarray(rgb).crop((left - pad, top - pad, right + pad, bottom + pad))
    scale = 40 / face.width_px  # well under the ~73 px smallest box of the first pass
    crop = crop.resize((round(crop.width * scale), round(crop.height * scale)))
    canvas = Image.new("RGB", (640, 480), (210, 210, 205))
    canvas.paste(crop, (300, 200))
    pixels = np.asarray(canvas)

    assert faces.detect_faces(pixels, upsample_if_none=False) == []
    [found] = faces.detect_faces(pixels)
    assert found.upsampled
    assert 300 <= found.box[0] < found.box[2] <= 300 + crop.width


@pytest.mark.slow
def test_embeddings_are_128_floats_closer_for_the_same_person(datasets_dir: Path) -> None:
    def embedding(name: str) -> np.ndarray:
        rgb = load_image(datasets_dir / "faces" / name)
        [face] = faces.detect_faces(rgb)
        return faces.embed_face(rgb, face)

    bezos_a, bezos_b, dorsey = (
        embedding("img20.jpg"),
        embedding("img21.jpg"),
        embedding("img16.jpg"),
    )
    assert bezos_a.shape == (faces.EMBEDDING_SIZE,)
    assert np.isfinite(bezos_a).all()
    assert faces.face_distance(bezos_a, bezos_b) < faces.EER_DISTANCE
    assert faces.face_distance(bezos_a, dorsey) > faces.EER_DISTANCE


@pytest.mark.slow
def test_a_large_photo_is_searched_at_a_larger_scale_before_upsampling(datasets_dir):
    """An ID-card portrait too small for the 640 px copy is found in the 1024 px one, which
    costs about half the upsampled pass; the upsampled pass stays the last resort."""
    from gateway.synthetic.documents import make_id_card

    card = make_id_card(np.random.default_rng(1), load_image(datasets_dir / "faces" / "img1.jpg"))
    assert max(card.image_rgb.shape[:2]) > 1024
    # The 640 px copy alone misses this portrait...
    assert faces.detect_faces(card.image_rgb, upsample_if_none=False) == []
    # ...and the 1024 px copy finds it, so the upsampled pass is not needed.
    [found] = faces.detect_faces(card.image_rgb)
    assert found.upsampled is False
    # Without the larger copy (a 640 px photo of the same card) only upsampling finds it.
    small, _ = downscale_to_max_side(card.image_rgb, 640)
    [small_found] = faces.detect_faces(small)
    assert small_found.upsampled is True
