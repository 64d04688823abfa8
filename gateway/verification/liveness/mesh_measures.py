"""Eyelids, mouth and head pose from one frame's 468-point mesh (faces/mesh.py).

Each function turns a mesh into one number; the decisions (`series.py`) only ever compare these
numbers with the same person's own neutral frames, because the model's absolute values vary by
person (measured: lids never read fully closed, open-eye ratios differ by 2x between people).

Point indices are MediaPipe's canonical face-mesh numbering (a published format, used as such).
Distances are taken in 3-D (x, y and the model's depth on the same scale) so that a head turn
shortens them less than it shortens their image projection.
"""

from __future__ import annotations

import math

import numpy as np

# Eyelid ratio (ARCHITECTURE.md): upper-lid over lower-lid distance over corner-to-corner width.
# Image-left eye (the applicant's right): lids 159/145, corners 33/133; the other: 386/374 over
# 362/263. Measured: 0.30 open -> 0.19 at the bottom of a natural blink in d9.mp4.
RIGHT_EYE_LIDS, RIGHT_EYE_CORNERS = (159, 145), (33, 133)
LEFT_EYE_LIDS, LEFT_EYE_CORNERS = (386, 374), (362, 263)
OUTER_EYE_CORNERS = (33, 263)
MOUTH_CORNERS = (61, 291)
INNER_LIPS = (13, 14)
NOSE_TIP = 1
FOREHEAD, CHIN = 10, 152
# Points that a smile, a blink or speech barely move, for the head's rigid frame: eye corners,
# nose bridge and tip, forehead, cheekbones.
RIGID_POINTS = (33, 133, 362, 263, 168, 6, 197, 195, 1, 10, 151, 9, 8, 234, 454, 127, 356)


def _distance(points: np.ndarray, a: int, b: int) -> float:
    # math on two 3-vectors: numpy's norm costs more in call overhead than the arithmetic.
    return math.dist(points[a].tolist(), points[b].tolist())


def eye_openness(points: np.ndarray) -> float:
    """Mean over both eyes of lid-to-lid distance / corner-to-corner width (3-D)."""
    ratios = []
    for lids, corners in ((RIGHT_EYE_LIDS, RIGHT_EYE_CORNERS), (LEFT_EYE_LIDS, LEFT_EYE_CORNERS)):
        width = _distance(points, *corners)
        if width > 1e-6:
            ratios.append(_distance(points, *lids) / width)
    return float(np.mean(ratios)) if ratios else math.nan


def face_axes(points: np.ndarray) -> np.ndarray:
    """Rows: the head's right-to-left axis (image left -> right when frontal), down axis, depth.

    x from the applicant's right outer eye corner to the left one; y from forehead to chin made
    orthogonal to x; z completes a right-handed frame (pointing away from the camera when the
    face is frontal, as the model's depth does).
    """
    # Written on Python floats: numpy's cross, norm and stack on 3-vectors are call overhead
    # (head pose 90 -> 11 us, mouth measures 141 -> 47 us a frame: ~17 ms of a 102-frame burst).
    ax, ay, az = (points[OUTER_EYE_CORNERS[1]] - points[OUTER_EYE_CORNERS[0]]).tolist()
    norm = max(math.sqrt(ax * ax + ay * ay + az * az), 1e-9)
    ax, ay, az = ax / norm, ay / norm, az / norm
    bx, by, bz = (points[CHIN] - points[FOREHEAD]).tolist()
    along = bx * ax + by * ay + bz * az
    bx, by, bz = bx - along * ax, by - along * ay, bz - along * az
    norm = max(math.sqrt(bx * bx + by * by + bz * bz), 1e-9)
    bx, by, bz = bx / norm, by / norm, bz / norm
    return np.array(
        [[ax, ay, az], [bx, by, bz], [ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx]]
    )


def head_pose(points: np.ndarray, *, mirrored: bool = False) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from the mesh in 3-D.

    yaw > 0: the applicant turned to their own left (nose toward the image's right in an
    unmirrored frame); pitch > 0: looking up; roll: the eye line's tilt in the image.
    """
    axes = face_axes(points)
    x_axis, y_axis = axes[0], axes[1]
    # A turn to the applicant's left swings their left eye (image right) away from the camera.
    yaw = math.degrees(math.atan2(x_axis[2], x_axis[0]))
    pitch = math.degrees(math.atan2(y_axis[2], y_axis[1]))
    roll = math.degrees(math.atan2(x_axis[1], x_axis[0]))
    if mirrored:
        yaw, roll = -yaw, -roll
    return yaw, pitch, roll


def to_face_frame(points: np.ndarray) -> np.ndarray:
    """Points in the head's own frame, centred on the nose bridge, unit = outer eye distance."""
    axes = face_axes(points)
    scale = max(_distance(points, *OUTER_EYE_CORNERS), 1e-9)
    return (points - points[168]) @ axes.T / scale


def mouth_measures(points: np.ndarray) -> tuple[float, float, float, tuple[float, float]]:
    """(width, corner lift, opening, corners' x) of the mouth in the head's frame, in outer-eye
    distances.

    width: corner to corner. corner lift: how far the corners sit above the inner-lip midpoint
    (a smile pulls them up and out). opening: inner upper to lower lip. corners' x: each corner
    across the face (the applicant's right, then left), so that each corner's own movement from
    neutral can be told apart: a smile draws both out, a mouth pulled to one side only one.
    """
    face = to_face_frame(points)
    # the applicant's right corner (61, on the side of their right eye, 33) and left corner
    right, left = face[MOUTH_CORNERS[0]], face[MOUTH_CORNERS[1]]
    width = float(np.linalg.norm((right - left)[:2]))
    lip_middle = (face[INNER_LIPS[0]] + face[INNER_LIPS[1]]) / 2.0
    lift = float(lip_middle[1] - (right[1] + left[1]) / 2.0)
    opening = float(abs(face[INNER_LIPS[1]][1] - face[INNER_LIPS[0]][1]))
    return width, lift, opening, (float(right[0]), float(left[0]))
