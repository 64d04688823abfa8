"""Do the pixels move with the mesh? What tells a real movement from a cross-fade of two photos.

Measured: fed a cross-fade between a frontal and a turned photo of the same person, the face
mesh reports a smooth turn through every intermediate pose (the model reads the blend as a face
in between), so a path test alone passes it. But in a cross-fade nothing in the picture moves:
one picture fades out where it stands while the other fades in. In a real turn, the texture
around the nose, eyes and mouth travels with the mesh.

`motion_disagreement`: the mesh points of frame A are tracked into frame B by pyramidal
Lucas-Kanade optical flow on the pixels; the median distance between where the pixels went and
where the mesh says the points are in B, over the median distance the mesh moved. ~0 when the
pixels moved as the mesh did, ~1 when the pixels stayed while the mesh moved (a fade).
"""

from __future__ import annotations

import cv2
import numpy as np

# Every third point of the mesh: ~156 points spread over the whole face is plenty for a median.
TRACKED_POINTS = np.arange(0, 468, 3)
_LK_PARAMS = {
    "winSize": (21, 21),
    "maxLevel": 3,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
}


def motion_disagreement(
    gray_a: np.ndarray,
    points_a: np.ndarray,
    gray_b: np.ndarray,
    points_b: np.ndarray,
    indexes: np.ndarray = TRACKED_POINTS,
) -> tuple[float, float]:
    """(median disagreement px, median mesh motion px) between two grey frames (see above)."""
    start = np.ascontiguousarray(points_a[indexes, :2], dtype=np.float32).reshape(-1, 1, 2)
    target = points_b[indexes, :2]
    moved, status, _ = cv2.calcOpticalFlowPyrLK(gray_a, gray_b, start, None, **_LK_PARAMS)
    ok = status.reshape(-1) == 1
    mesh_motion = float(np.median(np.linalg.norm(target - start.reshape(-1, 2), axis=1)))
    if ok.sum() < min(10, len(indexes) // 2):
        return mesh_motion, mesh_motion
    disagreement = float(np.median(np.linalg.norm(moved.reshape(-1, 2)[ok] - target[ok], axis=1)))
    return disagreement, mesh_motion
