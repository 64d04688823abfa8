"""A photo presented to the camera again, and a camera held in the hand: how the liveness tests
and evaluation build attacks and capture conditions.

A still held up to a camera never lands twice on the same pixels: each capture is moved,
turned and scaled a little and carries new sensor noise. Liveness must refuse such a sequence
without mistaking it for a live person holding still, so the tests and eval/liveness_eval.py
build their photo attacks with `jittered`. A phone held at arm's length (or a photo waved in
front of one) moves the whole view from frame to frame: `HandSway`.
"""

from __future__ import annotations

import math

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


class HandSway:
    """A phone held at arm's length, or a photo waved in front of a camera: the view drifts and
    sways from frame to frame. Its velocity is a smooth random process (each frame keeps 0.7 of
    the last frame's) whose RMS is `px_per_frame` at the flow's 480 px (4 px a frame at 12 fps:
    ~50 px, about 7 degrees, a second), with a weak spring back to the centre (the position's
    RMS ~3x `px_per_frame`) and a roll swaying by ~`roll_deg` a frame (within +-3 degrees); the
    scene is seen `zoom` times closer, and where the view goes past that margin the edge is
    mirrored in (BORDER_REFLECT). Each call is the next frame of one path."""

    KEEP = 0.7
    SPRING = 0.05

    def __init__(
        self,
        rng: np.random.Generator,
        px_per_frame: float,
        roll_deg: float = 0.3,
        zoom: float = 1.08,
    ) -> None:
        self.rng, self.px_per_frame, self.roll_deg, self.zoom = rng, px_per_frame, roll_deg, zoom
        self.position, self.velocity = np.zeros(2), np.zeros(2)
        self.roll, self.roll_velocity = 0.0, 0.0

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        fresh = math.sqrt(1 - self.KEEP * self.KEEP)
        noise = self.rng.normal(0.0, self.px_per_frame / math.sqrt(2), 2)
        self.velocity = self.KEEP * self.velocity + fresh * noise - self.SPRING * self.position
        self.position = self.position + self.velocity
        turn = self.rng.normal(0.0, self.roll_deg) if self.roll_deg else 0.0
        self.roll_velocity = self.KEEP * self.roll_velocity + fresh * turn
        self.roll = float(np.clip(self.roll + self.roll_velocity, -3.0, 3.0))
        height, width = rgb.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), self.roll, self.zoom)
        matrix[:, 2] += self.position * max(height, width) / 480
        return cv2.warpAffine(
            rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
