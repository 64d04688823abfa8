"""Tracking reuses the detections its caller already made (the worker's face match), and
finds the face again where the followed mesh drifts off it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gateway.synthetic.recapture import HandSway
from gateway.verification.faces.recognition import DetectedFace
from gateway.verification.liveness.frames import Frame
from gateway.verification.liveness.tracking import track


def test_a_known_detection_is_used_where_the_detector_would_run():
    blank = np.full((240, 320, 3), 128, dtype=np.uint8)
    frames = [Frame(rgb=blank, prompt="neutral", t_ms=0.0)]
    face = DetectedFace(box=(120, 60, 200, 140), score=1.0, landmarks=((150.0, 90.0),) * 5)

    assert track(frames)[0].detected is None  # the detector finds nothing in a flat grey
    reused = track(frames, known_faces={0: (face,)})[0]
    assert reused.detected is face
    assert reused.face_count == 1


def _swayed_turns(clip_path, seed: int) -> list[Frame]:
    """The shared clip's two turns (frames 143-210, the flow's 12 fps) filmed by a phone swaying
    8 px a frame at the flow's 480 px (~11 at the clip's 640) with a slight roll."""
    capture = cv2.VideoCapture(str(clip_path))
    clip = {}
    for index in range(211):
        ok, bgr = capture.read()
        assert ok
        clip[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    capture.release()
    hand = HandSway(np.random.default_rng(seed), 8.0)
    frames = []
    for step in range(28):
        index = round(143 + step * 29.97 / 12)
        prompt = "neutral" if index < 147 else "turn_left" if index < 180 else "turn_right"
        frames.append(Frame(rgb=hand(clip[index]), prompt=prompt, t_ms=index * 1000 / 29.97))
    return frames


@pytest.mark.slow
@pytest.mark.needs_datasets
def test_a_followed_mesh_does_not_shrink_away_from_the_face(datasets_dir):
    # Each crop is sized from the previous frame's mesh: on the clip's ~83 px face, swaying, a
    # mesh read a little small made the next crop smaller, down to 0.6-0.7 of the face (1.43-
    # 1.69x off the last detection for these seeds) until the next prompt's detection read as a
    # cut. A followed mesh drifting past MESH_DRIFT_RATIO is found again by the detector.
    for seed in (6, 7, 11):
        tracked = track(_swayed_turns(datasets_dir / "liveness" / "short_hamilton_clip.mp4", seed))
        detected_width = None
        for item in tracked:
            assert item.has_face
            if item.detected is not None:
                detected_width = item.face.width_px
                continue
            ratio = item.face.width_px / detected_width
            assert 1 / 1.3 <= ratio <= 1.3, (seed, item.index, ratio)
