"""The eye/mouth source is a named, replaceable choice; the 68-point one only when asked for."""

from __future__ import annotations

import math

import cv2
import pytest

from gateway.verification.liveness import (
    DEFAULT_LANDMARK_SOURCE,
    Dlib68LandmarkSource,
    RegionLandmarkSource,
    landmark_source_from_name,
)


def test_default_is_the_licence_clean_region_source():
    assert DEFAULT_LANDMARK_SOURCE == "regions"
    assert isinstance(landmark_source_from_name(), RegionLandmarkSource)
    assert "commercial" in Dlib68LandmarkSource.licence


def test_unknown_source_names_fail():
    with pytest.raises(ValueError, match="unknown liveness landmark source"):
        landmark_source_from_name("dlib68")  # the non-commercial one must be named in full


@pytest.mark.slow
@pytest.mark.parametrize("name", ["regions", "dlib68_noncommercial"])
def test_each_source_measures_a_real_face(datasets_dir, name):
    from gateway.verification.faces.recognition import detect_faces

    capture = cv2.VideoCapture(str(datasets_dir / "liveness" / "short_hamilton_clip.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 171)
    ok, bgr = capture.read()
    capture.release()
    assert ok
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    face = detect_faces(rgb)[0]
    measures = landmark_source_from_name(name).measure(
        rgb, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), face.box, face.landmarks
    )
    assert 0.05 < measures.eye_openness < 1.0
    assert math.isfinite(measures.mouth_width_ratio) and measures.mouth_width_ratio > 0.2
