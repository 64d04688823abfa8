"""Tracking reuses the detections its caller already made (the worker's face match)."""

from __future__ import annotations

import numpy as np

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
