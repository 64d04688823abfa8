"""Is a head movement the motion of a flat picture? A planarity test between two frames.

Measured (eval/liveness_eval.py): dlib's 5-point model, shown a face photo turned 25-40 degrees
in front of the camera, moves its nose point as if a real head had turned (it reads appearance,
not geometry), so a printed or on-screen face turned by hand reports a yaw of 15-45 degrees.
Five points cannot tell the two apart; pixels can. Everything on a flat picture moves by one
homography (a plane seen from another angle), so the neutral face, warped by the homography
that its own texture points give, matches the turned face almost exactly. A real head does not
fit: nose, cheeks and eye sockets sit at different depths, the far cheek disappears, the
background stays behind.

`planar_fit`: SIFT keypoints on both face crops (box enlarged 1.3x, 128 px), ratio-test
matches, a RANSAC homography, then the normalised cross-correlation between the warped neutral
crop and the turned crop over the face box. Each crop's grey levels are first stretched to the
full range (its 1st to 99th percentile): SIFT's contrast threshold is absolute, and at half the
light it found 17 keypoints on a face where it finds 52 (no fit at all, so no test), at a third
of it 3, not enough to match a picture with itself. A fit that cannot be made is NaN, never a
number that reads as "not a plane" (head_motion reports the test as not measured). Measured:
flat pictures turned up to 40 degrees 0.96-1.00; real head turns of 18+ degrees -0.27-0.49 (at
the flow's 12 fps with the stretch: -0.33-0.68); a nearly still real head 0.72-0.88. So a turn
whose fit reaches PLANAR_CORRELATION is refused as the motion of a picture. SIFT is in
OpenCV's main module (its patent expired in 2020; OpenCV is Apache-2.0).
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from gateway.verification.faces.recognition import DetectedFace

CROP_SIDE_PX = 128
CROP_EXPAND = 1.3
PLANAR_CORRELATION = 0.9
MIN_MATCHES = 6
_RATIO_TEST = 0.8
_RANSAC_REPROJECTION_PX = 3.0
_local = threading.local()


def _sift() -> cv2.SIFT:
    """One detector per thread (OpenCV feature objects are not documented as thread-safe)."""
    if not hasattr(_local, "sift"):
        _local.sift = cv2.SIFT_create()
    return _local.sift


def face_crop(rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
    """Grey square crop centred on the face box, enlarged by CROP_EXPAND, at CROP_SIDE_PX, its
    1st to 99th percentile stretched to 0-255 (the module docstring: the light)."""
    left, top, right, bottom = face.box
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    half = max(right - left, 1) * CROP_EXPAND / 2
    scale = CROP_SIDE_PX / (2 * half)
    matrix = np.float32(
        [[scale, 0, -(centre_x - half) * scale], [0, scale, -(centre_y - half) * scale]]
    )
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    crop = cv2.warpAffine(
        gray, matrix, (CROP_SIDE_PX, CROP_SIDE_PX), borderMode=cv2.BORDER_REPLICATE
    )
    low, high = np.percentile(crop, (1, 99))
    gain = 255.0 / max(float(high - low), 1.0)
    return cv2.convertScaleAbs(crop, alpha=gain, beta=-float(low) * gain)


def planar_fit(
    rgb_a: np.ndarray, face_a: DetectedFace, rgb_b: np.ndarray, face_b: DetectedFace
) -> float:
    """How well one plane explains the motion from face A to face B (-1..1).

    NaN when no plane can be fitted (too few keypoints or matches: a face without readable
    texture); 0 when the fitted plane throws the face out of view (not a plausible picture).
    """
    crop_a, crop_b = face_crop(rgb_a, face_a), face_crop(rgb_b, face_b)
    sift = _sift()
    keys_a, descriptors_a = sift.detectAndCompute(crop_a, None)
    keys_b, descriptors_b = sift.detectAndCompute(crop_b, None)
    if descriptors_a is None or descriptors_b is None or len(keys_a) < 2 or len(keys_b) < 2:
        return math.nan
    matches = cv2.BFMatcher().knnMatch(descriptors_a, descriptors_b, k=2)
    good = [
        pair[0]
        for pair in matches
        if len(pair) == 2 and pair[0].distance < _RATIO_TEST * pair[1].distance
    ]
    if len(good) < MIN_MATCHES:
        return math.nan
    points_a = np.float32([keys_a[match.queryIdx].pt for match in good])
    points_b = np.float32([keys_b[match.trainIdx].pt for match in good])
    homography, _ = cv2.findHomography(points_a, points_b, cv2.RANSAC, _RANSAC_REPROJECTION_PX)
    if homography is None:
        return math.nan
    size = (CROP_SIDE_PX, CROP_SIDE_PX)
    warped = cv2.warpPerspective(crop_a, homography, size)
    covered = cv2.warpPerspective(np.ones_like(crop_a), homography, size) > 0
    inner = np.zeros_like(covered)
    half_face = int(CROP_SIDE_PX / (2 * CROP_EXPAND))
    centre = CROP_SIDE_PX // 2
    inner[centre - half_face : centre + half_face, centre - half_face : centre + half_face] = True
    selected = covered & inner
    if selected.sum() < 0.5 * inner.sum():
        return 0.0  # the homography throws the face out of view: not a plausible plane
    x = warped[selected].astype(np.float64)
    y = crop_b[selected].astype(np.float64)
    denominator = x.std() * y.std()
    if denominator < 1e-6:
        return math.nan
    return float(np.mean((x - x.mean()) * (y - y.mean())) / denominator)
