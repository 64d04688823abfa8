"""A photo presented to the camera again: how the liveness tests and evaluation build attacks.

A still held up to a camera never lands twice on the same pixels: each capture is moved,
turned and scaled a little and carries new sensor noise. Liveness must refuse such a sequence
without mistaking it for a live person holding still, so the tests and eval/liveness_eval.py
build their photo attacks with this one function.
"""

from __future__ import annotations

import cv2
import numpy as np


def jittered(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo held in front of a camera again: small rotation, scale, shift, sensor noise."""
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D(
        (width / 2 + rng.uniform(-4, 4), height / 2 + rng.uniform(-4, 4)),
        rng.uniform(-1.5, 1.5),
        rng.uniform(0.98, 1.02),
    )
    moved = cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    return np.clip(moved + rng.normal(0, 2.0, moved.shape), 0, 255).astype(np.uint8)
