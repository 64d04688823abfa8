"""Eye openness and mouth shape measured from image regions placed by the 5 landmarks.

This is the default, licence-clean source of eye and mouth measurements: it needs only dlib's
5-point model (public domain, like the rest of dlib's own models) and plain image statistics.
It is weaker than a dense landmark model; see docs/liveness.md for what was measured.

Eye openness: an eye patch is cut along the line through the two corners of each eye and
rotated level. An open eye shows a dark iris and pupil between the lids, several pixels tall; a
closed eye shows lid skin with a thin lash line. The measure is the mean height, over the
central columns of the patch, of the run of pixels clearly darker than the surrounding skin,
divided by the eye's corner-to-corner width. Only its change over one applicant's frames is
used (a dip below the same person's open-eye level), never its absolute value.

Mouth: the mouth is not among the 5 points; its patch is placed below the nose base, scaled by
the eye distance. Lips are redder than the surrounding skin (Lab a* channel); the width and
height of the lip mask give the mouth shape. A smile widens the mouth relative to its height
and to the face; again only the change against the same person's neutral frames is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

EYE_PATCH_WIDTH_FACTOR = 1.6  # patch width / corner-to-corner width
# Tall enough for an open iris, short enough to leave the eyebrows out (measured: at 0.9 the
# brows kept covered eyes looking half open).
EYE_PATCH_HEIGHT_FACTOR = 0.55
EYE_PATCH_SCALE_PX = 48  # patches are resampled to this width so faces of any size compare
MOUTH_PATCH_WIDTH_FACTOR = 1.5  # patch width / eye distance
MOUTH_PATCH_HEIGHT_FACTOR = 0.8
MOUTH_CENTRE_BELOW_NOSE_FACTOR = 0.55  # mouth centre below the nose base, / eye distance
MOUTH_PATCH_SCALE_PX = 64


def _level_patch(
    gray_or_rgb: np.ndarray,
    centre: np.ndarray,
    angle_rad: float,
    width_px: float,
    height_px: float,
    out_width_px: int,
) -> np.ndarray:
    """Cut a patch centred on `centre`, rotated so `angle_rad` becomes horizontal, resampled."""
    scale = out_width_px / max(width_px, 1.0)
    out_height_px = max(4, round(height_px * scale))
    cos_a, sin_a = np.cos(angle_rad), np.sin(angle_rad)
    # Map patch coordinates (u, v) to image coordinates: rotate by angle, scale, translate.
    matrix = np.array(
        [
            [cos_a / scale, -sin_a / scale, 0.0],
            [sin_a / scale, cos_a / scale, 0.0],
        ]
    )
    offset = np.array([out_width_px / 2.0, out_height_px / 2.0])
    matrix[:, 2] = centre - matrix[:, :2] @ offset
    return cv2.warpAffine(
        gray_or_rgb,
        matrix,
        (out_width_px, out_height_px),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def eye_openness(gray: np.ndarray, outer: Sequence[float], inner: Sequence[float]) -> float:
    """Dark-run height / eye width for one eye (see module docstring); ~0.2 when open."""
    outer_point = np.asarray(outer, dtype=np.float64)
    inner_point = np.asarray(inner, dtype=np.float64)
    axis = inner_point - outer_point
    width_px = float(np.linalg.norm(axis))
    if width_px < 2.0:
        return float("nan")
    angle = float(np.arctan2(axis[1], axis[0]))
    patch = _level_patch(
        gray,
        (outer_point + inner_point) / 2.0,
        angle,
        width_px * EYE_PATCH_WIDTH_FACTOR,
        width_px * EYE_PATCH_HEIGHT_FACTOR,
        EYE_PATCH_SCALE_PX,
    ).astype(np.float32)
    patch = cv2.GaussianBlur(patch, (3, 3), 0)
    # Skin level: the brighter half of the patch border (brows and shadows excluded by the
    # median); "clearly darker": below the midpoint between the darkest pixels and that level.
    border = np.concatenate([patch[0], patch[-1], patch[:, 0], patch[:, -1]])
    skin_level = float(np.median(border))
    dark_level = float(np.percentile(patch, 5))
    if skin_level - dark_level < 8.0:  # flat patch: nothing dark at all, eye not visible
        return 0.0
    threshold = (skin_level + dark_level) / 2.0
    eye_width_in_patch = EYE_PATCH_SCALE_PX / EYE_PATCH_WIDTH_FACTOR
    left = round(EYE_PATCH_SCALE_PX / 2 - eye_width_in_patch * 0.3)
    right = round(EYE_PATCH_SCALE_PX / 2 + eye_width_in_patch * 0.3)
    dark = patch[:, left:right] < threshold
    # Longest vertical run of dark pixels per column: an iris is one tall run, a lash line a
    # thin one; scattered dark pixels (pores, noise) do not add up.
    heights = [_longest_run(column) for column in dark.T]
    return float(np.mean(heights)) / eye_width_in_patch


def _longest_run(column: np.ndarray) -> int:
    best = current = 0
    for value in column:
        current = current + 1 if value else 0
        best = max(best, current)
    return best


def eyes_openness(gray: np.ndarray, landmarks_5: Sequence[tuple[float, float]]) -> float:
    """Mean openness of both eyes (a blink closes both; averaging halves single-eye noise)."""
    values = [
        eye_openness(gray, landmarks_5[0], landmarks_5[1]),
        eye_openness(gray, landmarks_5[2], landmarks_5[3]),
    ]
    finite = [value for value in values if np.isfinite(value)]
    return float(np.mean(finite)) if finite else float("nan")


def mouth_shape(rgb: np.ndarray, landmarks_5: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(mouth width / eye distance, mouth height / mouth width) from the lip mask."""
    points = np.asarray(landmarks_5, dtype=np.float64)
    eye_right = points[0:2].mean(axis=0)
    eye_left = points[2:4].mean(axis=0)
    axis = eye_right - eye_left
    eye_distance_px = float(np.linalg.norm(axis))
    if eye_distance_px < 2.0:
        return float("nan"), float("nan")
    unit = axis / eye_distance_px
    down = np.array([-unit[1], unit[0]])
    centre = points[4] + down * eye_distance_px * MOUTH_CENTRE_BELOW_NOSE_FACTOR
    patch = _level_patch(
        rgb,
        centre,
        float(np.arctan2(unit[1], unit[0])),
        eye_distance_px * MOUTH_PATCH_WIDTH_FACTOR,
        eye_distance_px * MOUTH_PATCH_HEIGHT_FACTOR,
        MOUTH_PATCH_SCALE_PX,
    )
    lab = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB).astype(np.float32)
    redness = cv2.GaussianBlur(lab[:, :, 1], (3, 3), 0)
    # Lips are the pixels clearly redder than the patch's typical (skin) pixel; a relative
    # threshold, because skin tone and white balance shift a* for everyone alike.
    typical = float(np.median(redness))
    spread = float(np.median(np.abs(redness - typical)))
    mask = (redness > typical + max(3.0, 2.0 * spread)).astype(np.uint8)
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count <= 1:
        return float("nan"), float("nan")
    # The lips: the largest red component (cheek flush and shadows are smaller or at the edge).
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    width_px = float(stats[largest, cv2.CC_STAT_WIDTH])
    height_px = float(stats[largest, cv2.CC_STAT_HEIGHT])
    scale = MOUTH_PATCH_SCALE_PX / (eye_distance_px * MOUTH_PATCH_WIDTH_FACTOR)
    return width_px / scale / eye_distance_px, height_px / max(width_px, 1.0)
