"""check_selfie: the capture-time selfie check the hosted flow calls (codes and their order)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gateway.verification.liveness.selfie_check import MESSAGES, check_selfie

pytestmark = [pytest.mark.slow, pytest.mark.needs_datasets]


@pytest.fixture(scope="module")
def face_frame(datasets_dir) -> np.ndarray:
    """A frontal frame of a real clip at the flow's ~480 px (d5: a young man facing the camera)."""
    capture = cv2.VideoCapture(str(datasets_dir / "liveness" / "real" / "d5.mp4"))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_a_frontal_face_in_view_is_ok(face_frame):
    result = check_selfie(face_frame)
    assert result.ok and result.code == "ok"
    assert result.face_width_px >= 80
    assert abs(result.yaw_deg) < 20


def test_jpeg_bytes_are_accepted(face_frame):
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(face_frame, cv2.COLOR_RGB2BGR))
    assert ok
    assert check_selfie(encoded.tobytes()).code == "ok"


def test_no_face(face_frame):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, face_frame.shape, dtype=np.uint8)
    result = check_selfie(noise)
    assert not result.ok and result.code == "face_not_found"
    assert result.message == MESSAGES["face_not_found"]


def test_small_face_asks_to_come_closer(face_frame):
    canvas = np.full((960, 960, 3), 128, dtype=np.uint8)
    small = cv2.resize(face_frame, (100, 100), interpolation=cv2.INTER_AREA)  # face ~70 px
    canvas[400:500, 400:500] = small
    result = check_selfie(canvas)
    assert result.code in {"face_too_small", "face_not_found"}
    assert not result.ok


def test_face_cut_off_by_the_frame_edge(face_frame):
    width = face_frame.shape[1]
    result = check_selfie(np.ascontiguousarray(face_frame[:, width // 3 :]))
    assert result.code in {"face_cut_off", "face_not_found"}
    assert not result.ok


def test_dark_face(face_frame):
    result = check_selfie((face_frame * 0.25).astype(np.uint8))
    assert result.code in {"too_dark", "face_not_found"}
    assert not result.ok
