"""Head yaw and pitch from dlib's 5 landmarks (eye corners and the base of the nose).

A geometric estimate, not a fitted 3-D model: with only five points, four of them nearly on one
line, a full solvePnP is poorly conditioned (pitch and roll trade off against each other). What
the five points measure well is where the base of the nose sits relative to the eyes, and that
moves with the head because the nose stands in front of the eye corners:

    yaw   = atan(horizontal nose offset / eye distance / NOSE_DEPTH_RATIO)
    pitch = atan((neutral vertical offset - vertical offset) / eye distance / NOSE_DEPTH_RATIO)

NOSE_DEPTH_RATIO is the depth of the subnasale in front of the eye-corner midpoints divided by
the distance between the two eye centres, ~16 mm / ~61 mm for an average adult head. Angles are
therefore approximate (a few degrees, more for unusual faces); every decision compares a frame
with the same person's neutral frames, so a constant per-person error cancels out.

Geometry alone does not stop a flat picture: measured, the 5-point model places the nose of a
face photo turned in front of the camera as if a head had turned (it reads appearance), so a
turned print reports a yaw too. `planarity.py` is what refuses those.

Directions are the applicant's own: `turn_left` means the applicant turns toward their left
shoulder. In an unmirrored camera image (what getUserMedia and phone cameras deliver) their
nose then moves to the image's right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NOSE_DEPTH_RATIO = 0.26


@dataclass(frozen=True)
class HeadGeometry:
    """Per-frame pose numbers; `yaw_deg` > 0 is a turn to the applicant's left."""

    yaw_deg: float
    nose_drop_ratio: float  # vertical nose offset / eye distance; smaller when looking up
    roll_deg: float
    eye_distance_px: float


def head_geometry(
    landmarks_5: Sequence[tuple[float, float]], *, mirrored: bool = False
) -> HeadGeometry:
    """Pose numbers for one face; `mirrored` for frames flipped left-right by the client.

    dlib's 5-point order: 0-1 outer and inner corner of the eye on the image's right, 2-3 outer
    and inner corner of the eye on the image's left, 4 the base of the nose.
    """
    points = np.asarray(landmarks_5, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"expected 5 (x, y) landmarks, got shape {points.shape}")
    eye_image_right = points[0:2].mean(axis=0)
    eye_image_left = points[2:4].mean(axis=0)
    eye_axis = eye_image_right - eye_image_left  # points to the image's right
    eye_distance_px = float(np.linalg.norm(eye_axis))
    if eye_distance_px < 1e-6:
        raise ValueError("degenerate landmarks: both eyes at one point")
    unit_right = eye_axis / eye_distance_px
    unit_down = np.array([-unit_right[1], unit_right[0]])  # image y grows downwards
    nose_offset = points[4] - (eye_image_right + eye_image_left) / 2.0
    horizontal_ratio = float(nose_offset @ unit_right) / eye_distance_px
    if mirrored:
        horizontal_ratio = -horizontal_ratio
    yaw_deg = math.degrees(math.atan(horizontal_ratio / NOSE_DEPTH_RATIO))
    roll_deg = math.degrees(math.atan2(unit_right[1], unit_right[0]))
    return HeadGeometry(
        yaw_deg=yaw_deg,
        nose_drop_ratio=float(nose_offset @ unit_down) / eye_distance_px,
        roll_deg=roll_deg,
        eye_distance_px=eye_distance_px,
    )


def pitch_up_deg(nose_drop_ratio: float, neutral_nose_drop_ratio: float) -> float:
    """How far the head tipped back (looked up) relative to the neutral frames, in degrees."""
    return math.degrees(math.atan((neutral_nose_drop_ratio - nose_drop_ratio) / NOSE_DEPTH_RATIO))
