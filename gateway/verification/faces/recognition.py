"""Face detection, 5-point alignment and 128-D embeddings with dlib's shipped models.

Every model comes from the `face-recognition-models` wheel (nothing is downloaded at run time):
- HOG + linear SVM frontal face detector, built into dlib (`dlib.get_frontal_face_detector`);
- `shape_predictor_5_face_landmarks.dat`: eye corners and the base of the nose, used only to
  align the face chip. The 68-point model in the same wheel is deliberately not used: its
  training data (iBUG 300-W) excludes commercial use;
- `dlib_face_recognition_resnet_model_v1.dat`: a ResNet that maps the aligned 150x150 chip to a
  128-D vector; faces of one person lie close together in Euclidean distance.

Models load once per process (`get_face_models`), under a lock, because loading the ResNet takes
a noticeable fraction of a second and ~100 MB: a worker must not pay that per job.
See docs/face-match.md for the licences and the measured figures.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np

from gateway.verification.images import DEFAULT_DETECTION_MAX_SIDE_PX, downscale_to_max_side

# Distance -> similarity mapping, fitted by `python eval/face_match_eval.py` on
# ../shared/datasets/faces (all pairs from identities.csv plus pairs.csv):
#   similarity(d) = 1 / (1 + exp(SIMILARITY_SLOPE * (d - EER_DISTANCE)) / 3)
# so that similarity(EER_DISTANCE) = 0.75, the project's default threshold, exactly.
# EER_DISTANCE is the distance at which false accepts equal false rejects on that set (EER 0.18 %);
# SIMILARITY_SLOPE is placed so the median different-person distance (0.888) maps to 0.05.
EER_DISTANCE = 0.6035
SIMILARITY_SLOPE = 14.23
DEFAULT_THRESHOLD = 0.75
_ODDS_AT_THRESHOLD = (1.0 - DEFAULT_THRESHOLD) / DEFAULT_THRESHOLD  # 1/3

# Below this detector box width (in the image's own pixels) a face is refused, not matched.
# Measured by the eval's face-size sweep on printed-document renders: boxes of ~57-71 px give an
# EER of 1.5-2.6 % and reject 8-16 % of genuine pairs at 0.75; boxes >= ~114 px, 0.3-0.7 %.
# Asking for a closer photo beats a likely false rejection. dlib's HOG boxes are quantised
# (about 73 px at the detection scale without upsampling, half that with one upsampling).
MIN_FACE_PX = 80
LARGE_DETECTION_MAX_SIDE_PX = 1024
EMBEDDING_SIZE = 128


@dataclass(frozen=True)
class FaceModels:
    """The three dlib models a process needs; built once by `get_face_models`."""

    detector: dlib.fhog_object_detector
    landmarks_5: dlib.shape_predictor
    encoder: dlib.face_recognition_model_v1


@dataclass(frozen=True)
class DetectedFace:
    """One face, in the pixel coordinates of the image given to `detect_faces`.

    `box` is (left, top, right, bottom); `landmarks` are dlib's 5 points in its order: outer
    and inner corner of the eye on the image's right (the subject's left eye), outer and inner
    corner of the other eye, base of the nose.
    `upsampled` tells that only the second, upsampled detection pass found it.
    """

    box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[tuple[float, float], ...]
    upsampled: bool = False

    @property
    def width_px(self) -> int:
        """Box width: the size that decides `face_too_small`."""
        return self.box[2] - self.box[0]

    @property
    def height_px(self) -> int:
        return self.box[3] - self.box[1]

    def as_dict(self) -> dict:
        """JSON-ready form for results and scores (coordinates only, no pixels)."""
        return {
            "box": list(self.box),
            "score": round(self.score, 3),
            "width_px": self.width_px,
            "upsampled": self.upsampled,
        }


_models: FaceModels | None = None
_models_lock = threading.Lock()


def models_dir() -> Path:
    """Where face-recognition-models installed its .dat files."""
    return Path(face_recognition_models.__file__).resolve().parent / "models"


def get_face_models() -> FaceModels:
    """Load the models on first use and return the same instance ever after (thread-safe)."""
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                folder = models_dir()
                _models = FaceModels(
                    detector=dlib.get_frontal_face_detector(),
                    landmarks_5=dlib.shape_predictor(
                        str(folder / "shape_predictor_5_face_landmarks.dat")
                    ),
                    encoder=dlib.face_recognition_model_v1(
                        str(folder / "dlib_face_recognition_resnet_model_v1.dat")
                    ),
                )
    return _models


def is_face_too_small(face: DetectedFace, min_face_px: int = MIN_FACE_PX) -> bool:
    """The `min_face_px` rule: a face narrower than this is refused, not matched."""
    return face.width_px < min_face_px


def detect_faces(
    rgb: np.ndarray,
    *,
    max_side_px: int = DEFAULT_DETECTION_MAX_SIDE_PX,
    upsample_if_none: bool = True,
) -> list[DetectedFace]:
    """Find frontal faces; boxes and landmarks are in `rgb`'s own pixel coordinates.

    Detection runs on a copy shrunk to `max_side_px` without upsampling (the HOG window is
    80 px, so faces down to ~80 px of that copy are found). If nothing is found and
    `upsample_if_none`, a photo larger than that copy is searched again at up to
    `LARGE_DETECTION_MAX_SIDE_PX`, and then a last pass upsamples the copy once, reaching
    ~40 px faces such as a small document portrait, at about four times the detection cost;
    a first pass that finds a face never pays for either. Landmarks are then located on the
    full-resolution image, so the aligned chip keeps every pixel the photo has. Faces come
    largest first.
    """
    rgb = _as_rgb_uint8(rgb)
    models = get_face_models()
    small, scale = downscale_to_max_side(rgb, max_side_px)
    rects, scores, _ = models.detector.run(small, 0, 0.0)
    upsampled = False
    if not rects and upsample_if_none and max(rgb.shape[:2]) > max_side_px:
        # A larger photo holds more pixels than the shrunk copy: look at it at up to
        # LARGE_DETECTION_MAX_SIDE_PX first (an ID-card portrait at 1600 px: ~85 ms here, where
        # the upsampled pass costs ~170 ms), and upsample only if that finds nothing either.
        small, scale = downscale_to_max_side(rgb, max(max_side_px, LARGE_DETECTION_MAX_SIDE_PX))
        rects, scores, _ = models.detector.run(small, 0, 0.0)
        if not rects:
            small, scale = downscale_to_max_side(rgb, max_side_px)
    if not rects and upsample_if_none:
        rects, scores, _ = models.detector.run(small, 1, 0.0)
        upsampled = True

    height, width = rgb.shape[:2]
    faces = []
    for rect, score in zip(rects, scores, strict=True):
        box = (
            max(0, round(rect.left() * scale)),
            max(0, round(rect.top() * scale)),
            min(width, round((rect.right() + 1) * scale)),
            min(height, round((rect.bottom() + 1) * scale)),
        )
        shape = models.landmarks_5(rgb, dlib.rectangle(*box))
        landmarks = tuple((float(point.x), float(point.y)) for point in shape.parts())
        faces.append(
            DetectedFace(box=box, score=float(score), landmarks=landmarks, upsampled=upsampled)
        )
    faces.sort(key=lambda face: face.width_px, reverse=True)
    return faces


def embed_face(rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
    """128-D descriptor of `face` (found by `detect_faces` on this same `rgb`).

    The chip is aligned with the 5 landmarks (eyes level, fixed scale) exactly as dlib's
    `get_face_chip` does, then fed to the ResNet; no jitter (it costs N times more for a small
    gain).
    """
    models = get_face_models()
    points = dlib.points([dlib.point(round(x), round(y)) for x, y in face.landmarks])
    shape = dlib.full_object_detection(dlib.rectangle(*face.box), points)
    descriptor = models.encoder.compute_face_descriptor(_as_rgb_uint8(rgb), shape)
    return np.asarray(descriptor, dtype=np.float64)


def face_distance(embedding_a: np.ndarray, embedding_b: np.ndarray) -> float:
    """Euclidean distance between two descriptors: ~0.4 for one person, ~0.9 for two."""
    return float(np.linalg.norm(np.asarray(embedding_a) - np.asarray(embedding_b)))


def distance_to_similarity(distance: float) -> float:
    """Map a distance to the project's 0-1 similarity (1 = same face); strictly decreasing.

    similarity = 1 / (1 + exp(SIMILARITY_SLOPE * (distance - EER_DISTANCE)) / 3), so
    EER_DISTANCE maps to 0.75. Computed in a form that never overflows.
    """
    exponent = SIMILARITY_SLOPE * (distance - EER_DISTANCE) + math.log(_ODDS_AT_THRESHOLD)
    if exponent > 0:
        decay = math.exp(-exponent)
        return decay / (1.0 + decay)
    return 1.0 / (1.0 + math.exp(exponent))


def similarity_to_distance(similarity: float) -> float:
    """Inverse of `distance_to_similarity`: the distance a similarity threshold stands for."""
    if not 0.0 < similarity < 1.0:
        raise ValueError("similarity must be strictly between 0 and 1")
    odds = (1.0 - similarity) / similarity
    return EER_DISTANCE + (math.log(odds) - math.log(_ODDS_AT_THRESHOLD)) / SIMILARITY_SLOPE


def _as_rgb_uint8(rgb: np.ndarray) -> np.ndarray:
    """dlib wants a C-contiguous HxWx3 uint8 array; fail loudly on anything else."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (h, w, 3), got {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {rgb.dtype}")
    return np.ascontiguousarray(rgb)
