"""A 468-point face mesh (MediaPipe's face_landmark.tflite, Apache-2.0) on ai-edge-litert.

Why this model: eyelids and lip corners need dense points, and the project may only run models
whose licence allows commercial use and which ship in a package or in the repo. The file is
carried in `models/` with its licence and checked against its sha256 before loading (see
models/README.md); nothing is downloaded, ever.

Input recipe (ARCHITECTURE.md, measured): a square crop of 1.5x the dlib face box, centred on
it, resized to 192x192 RGB in 0..1. The model returns 468 (x, y, z) points in crop pixels (z is
depth on the same scale, smaller = nearer the camera) and a face-presence logit. ~1-2.5 ms per
inference on one thread here.

Tracking: at 10+ frames per second a face moves little between frames, so the next frame is
cropped around the previous mesh (`crop_from_points`) and the dlib detector (~20 ms) runs only
on the first frame or after the mesh lost the face.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "models" / "face_landmark.tflite"
MODEL_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
INPUT_SIDE_PX = 192
BOX_EXPAND = 1.5  # crop side / dlib box width (the recipe the model was measured with)
# Crop side / the mesh's own extent (max of its x and y span). Measured on the dev clips
# (every 15th frame of each clip at 480 px): 1.5 dlib box widths = 1.43x the mesh's
# extent at the median (p5-p95 1.19-1.58); 1.4 keeps a tracked crop at the detector's scale.
MESH_EXPAND = 1.4
# Face-presence probability below which the mesh is not trusted (the face left the crop).
# Measured on the dev clips: tracked faces score >= 0.99; a crop of background scores < 0.05.
MIN_PRESENCE = 0.5
POINT_COUNT = 468

_local = threading.local()
_verified = False
_verify_lock = threading.Lock()


class MeshModelError(RuntimeError):
    """The carried model file is missing or is not the file its licence notice describes."""


@dataclass(frozen=True)
class Mesh:
    """468 points in the image's own pixels: (x, y, z); z on the x/y scale, smaller = nearer."""

    points: np.ndarray  # (468, 3) float64
    presence: float
    crop: tuple[float, float, float]  # centre x, centre y, side (image pixels) of the crop used

    @property
    def found(self) -> bool:
        return self.presence >= MIN_PRESENCE


def _verify_model() -> None:
    global _verified
    if _verified:
        return
    with _verify_lock:
        if _verified:
            return
        if not MODEL_PATH.is_file():
            raise MeshModelError(f"face mesh model missing at {MODEL_PATH}")
        digest = hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()
        if digest != MODEL_SHA256:
            raise MeshModelError(f"face mesh model sha256 {digest} != expected {MODEL_SHA256}")
        _verified = True


def _interpreter():
    """One interpreter per thread: a LiteRT interpreter must not be invoked concurrently."""
    interpreter = getattr(_local, "interpreter", None)
    if interpreter is None:
        _verify_model()
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(MODEL_PATH), num_threads=1)
        interpreter.allocate_tensors()
        _local.interpreter = interpreter
        _local.input_index = interpreter.get_input_details()[0]["index"]
        outputs = interpreter.get_output_details()
        _local.points_index = next(o["index"] for o in outputs if o["shape"][-1] == 3 * POINT_COUNT)
        _local.presence_index = next(o["index"] for o in outputs if o["shape"][-1] == 1)
    return interpreter


def load_mesh_model() -> None:
    """Verify and load the model now (a worker calls this at start-up, not on its first job)."""
    _interpreter()


def crop_from_box(box: tuple[int, int, int, int]) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the model's crop for a dlib face box."""
    left, top, right, bottom = box
    return (left + right) / 2.0, (top + bottom) / 2.0, BOX_EXPAND * max(right - left, 1)


def crop_from_points(points: np.ndarray) -> tuple[float, float, float]:
    """The crop for the next frame, from this frame's mesh (tracking; see the module docstring)."""
    low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    centre = (low + high) / 2.0
    return float(centre[0]), float(centre[1]), MESH_EXPAND * float(np.max(high - low))


def run_mesh(rgb: np.ndarray, crop: tuple[float, float, float]) -> Mesh:
    """The mesh of the face in `crop` (centre x, centre y, side) of an RGB uint8 image."""
    centre_x, centre_y, side = crop
    scale = INPUT_SIDE_PX / max(side, 1.0)
    matrix = np.float32(
        [
            [scale, 0, INPUT_SIDE_PX / 2 - centre_x * scale],
            [0, scale, INPUT_SIDE_PX / 2 - centre_y * scale],
        ]
    )
    patch = cv2.warpAffine(
        rgb,
        matrix,
        (INPUT_SIDE_PX, INPUT_SIDE_PX),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )
    interpreter = _interpreter()
    # Written straight into the model's input buffer (no intermediate copies); the view is
    # dropped before invoke, which refuses to run while one is held.
    np.divide(patch, np.float32(255.0), out=interpreter.tensor(_local.input_index)()[0])
    interpreter.invoke()
    raw = interpreter.get_tensor(_local.points_index).reshape(POINT_COUNT, 3).astype(np.float64)
    logit = float(interpreter.get_tensor(_local.presence_index).reshape(-1)[0])
    points = np.empty_like(raw)
    points[:, 0] = (raw[:, 0] - INPUT_SIDE_PX / 2) / scale + centre_x
    points[:, 1] = (raw[:, 1] - INPUT_SIDE_PX / 2) / scale + centre_y
    points[:, 2] = raw[:, 2] / scale
    presence = 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))
    return Mesh(points=points, presence=float(presence), crop=(centre_x, centre_y, side))
