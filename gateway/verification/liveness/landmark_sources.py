"""Where eye and mouth measurements come from: a replaceable strategy.

Two sources exist, chosen by name (the gateway reads the name from its settings):

- ``regions`` (default): image measures placed by dlib's 5-point model (`regions.py`). Licence:
  dlib's 5-point model is public domain (CC0); the code is ours. Weaker than a dense model.
- ``dlib68_noncommercial`` (opt-in only): eye aspect ratio and mouth shape from dlib's 68-point
  model as shipped in face-recognition-models. Its training data (iBUG 300-W) excludes
  commercial use, so an operator must choose it knowingly; it is never picked implicitly.

Every source reports values whose *changes* within one applicant's frames drive the decisions,
plus the relative dip that counts as a closed eye for that source (its measures have different
scales: a closed eye roughly halves the 68-point aspect ratio, and nearly erases the dark run
the region measure looks for).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gateway.verification.liveness import regions

DEFAULT_LANDMARK_SOURCE = "regions"


@dataclass(frozen=True)
class ExpressionMeasures:
    """One frame's eye and mouth numbers (NaN where the source could not measure)."""

    eye_openness: float
    mouth_width_ratio: float  # mouth width / eye distance
    mouth_aspect: float  # mouth height / mouth width


class LandmarkSource(Protocol):
    """What `verify_challenge` needs from a source of eye and mouth measurements."""

    name: str
    licence: str
    blink_closed_ratio: float  # openness at or below this fraction of the open level = closed
    smile_widen_ratio: float  # mouth width at or above this multiple of neutral = smile

    def measure(
        self, rgb: np.ndarray, gray: np.ndarray, box: tuple[int, int, int, int], landmarks_5
    ) -> ExpressionMeasures: ...


class RegionLandmarkSource:
    """Default: image statistics in patches placed by the 5 points (see `regions.py`)."""

    name = "regions"
    licence = "dlib 5-point model: public domain (CC0); measures: this project (Apache-2.0)"
    # Measured on the shared clip (eyes open throughout; eval/liveness_eval.py): with the iris
    # covered by the person's own cheek skin, openness falls to ~0.13 of the open level (p90
    # 0.30); open eyes wobble below 0.45 of their neighbours' level in ~3 % of frames, mostly
    # with the head turned (such frames are left out of blink decisions).
    blink_closed_ratio = 0.4
    # The lip mask is noisy on a speaking face (width ratio 0.2-0.9 over the clip), so only a
    # large widening counts; see docs/liveness.md for the measured false-satisfaction rate.
    smile_widen_ratio = 1.35

    def measure(self, rgb, gray, box, landmarks_5) -> ExpressionMeasures:
        width_ratio, aspect = regions.mouth_shape(rgb, landmarks_5)
        return ExpressionMeasures(
            eye_openness=regions.eyes_openness(gray, landmarks_5),
            mouth_width_ratio=width_ratio,
            mouth_aspect=aspect,
        )


class Dlib68LandmarkSource:
    """Opt-in, non-commercial: eye aspect ratio and mouth shape from 68 landmarks."""

    name = "dlib68_noncommercial"
    licence = (
        "shape_predictor_68_face_landmarks.dat: trained on iBUG 300-W, whose licence excludes "
        "commercial use; do not enable in a commercial deployment"
    )
    # Not measured here (this source is opt-in and was not evaluated): the eye aspect ratio is
    # commonly ~0.3 open and ~0.1-0.15 closed, so a closed eye is about half the open level; a
    # smile widens the mouth by roughly 10-20 %. Validate on real captures before relying on it.
    blink_closed_ratio = 0.6
    smile_widen_ratio = 1.12

    _predictor = None
    _lock = threading.Lock()

    @classmethod
    def _load(cls):
        if cls._predictor is None:
            with cls._lock:
                if cls._predictor is None:
                    import dlib

                    from gateway.verification.faces.recognition import models_dir

                    path = models_dir() / "shape_predictor_68_face_landmarks.dat"
                    cls._predictor = dlib.shape_predictor(str(path))
        return cls._predictor

    def measure(self, rgb, gray, box, landmarks_5) -> ExpressionMeasures:
        import dlib

        shape = self._load()(np.ascontiguousarray(rgb), dlib.rectangle(*box))
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        openness = float(np.mean([_eye_aspect(points[36:42]), _eye_aspect(points[42:48])]))
        eye_distance = float(np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0)))
        mouth_width = float(np.linalg.norm(points[54] - points[48]))
        mouth_height = float(np.linalg.norm(points[57] - points[51]))
        return ExpressionMeasures(
            eye_openness=openness,
            mouth_width_ratio=mouth_width / max(eye_distance, 1e-6),
            mouth_aspect=mouth_height / max(mouth_width, 1e-6),
        )


def _eye_aspect(eye: np.ndarray) -> float:
    """Lid-to-lid height over corner-to-corner width for the six points of one eye."""
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = np.linalg.norm(eye[0] - eye[3])
    return float(vertical / (2.0 * max(horizontal, 1e-6)))


_SOURCES = {
    RegionLandmarkSource.name: RegionLandmarkSource,
    Dlib68LandmarkSource.name: Dlib68LandmarkSource,
}


def landmark_source_from_name(name: str = DEFAULT_LANDMARK_SOURCE) -> LandmarkSource:
    """The source for a setting value; unknown names fail (at start-up, where settings load)."""
    try:
        return _SOURCES[name]()
    except KeyError:
        raise ValueError(
            f"unknown liveness landmark source {name!r}; choose one of {sorted(_SOURCES)}"
        ) from None
