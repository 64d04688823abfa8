"""Eyes made to look closed, honestly, for testing the blink detector.

The shared clip has no blink and no footage of closed eyes is available offline, so a closed lid
is stood in for by copying cheek skin from below each eye over its iris, leaving the eye corners
visible. It hides the iris as a lid does; it has no lash line or crease, which the docs say.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cover_iris_with_skin(rgb: np.ndarray, landmarks: Sequence[Sequence[float]]) -> np.ndarray:
    """A copy of ``rgb`` with each eye's iris covered by skin from below that eye.

    ``landmarks`` are the 5 points of ``faces.detect_faces`` (two corners per eye, then the nose).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    covered = rgb.copy()
    for a, b in ((0, 1), (2, 3)):
        centre = (points[a] + points[b]) / 2
        width = float(np.linalg.norm(points[a] - points[b]))
        half_w, half_h = max(1, int(width * 0.45)), max(1, int(width * 0.3))
        source_x, source_y = int(centre[0]), int(centre[1] + width * 1.3)
        x0, y0 = int(centre[0]) - half_w, int(centre[1]) - half_h
        covered[y0 : y0 + 2 * half_h, x0 : x0 + 2 * half_w] = rgb[
            source_y - half_h : source_y + half_h, source_x - half_w : source_x + half_w
        ]
    return covered
