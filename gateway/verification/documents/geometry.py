"""Card geometry shared by the quality check and the visual-zone readers."""

from __future__ import annotations

import cv2
import numpy as np

ID1_ASPECT = 85.6 / 54.0
MAX_CARD_ASPECT = 3.0


def order_corners(points: np.ndarray) -> np.ndarray:
    """tl, tr, br, bl of any four points (by the sums and differences of their coordinates)."""
    points = np.asarray(points, np.float32).reshape(4, 2)
    sums = points.sum(axis=1)
    diffs = points[:, 1] - points[:, 0]
    return np.array(
        [points[np.argmin(sums)], points[np.argmin(diffs)], points[np.argmax(sums)],
         points[np.argmax(diffs)]],
        dtype=np.float32,
    )  # fmt: skip


def warp_card(image: np.ndarray, corners: np.ndarray, width_px: int = 1400) -> np.ndarray:
    """The card cut out flat, landscape, ``width_px`` wide, keeping its measured aspect ratio."""
    tl, tr, br, bl = order_corners(corners)
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    # No document is more than MAX_CARD_ASPECT times taller than wide: a sliver of an outline
    # would otherwise ask for a huge warp.
    aspect = max(width / max(height, 1.0), 1.0 / MAX_CARD_ASPECT)
    out_h = round(width_px / aspect)
    dst = np.array([[0, 0], [width_px, 0], [width_px, out_h], [0, out_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(np.array([tl, tr, br, bl]), dst)
    return cv2.warpPerspective(image, matrix, (width_px, out_h), flags=cv2.INTER_LINEAR)


def largest_bright_region(
    gray_small: np.ndarray, min_share: float, max_share: float
) -> np.ndarray | None:
    """The outline of the largest bright region (Otsu, gaps closed) covering between
    ``min_share`` and ``max_share`` of the image, else None: a card or page on a darker ground.
    Below the range there is nothing document-sized; above it the "document" is the whole frame.
    """
    blurred = cv2.GaussianBlur(gray_small, (5, 5), 0)
    _, mask = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    if not min_share * gray_small.size < cv2.contourArea(contour) < max_share * gray_small.size:
        return None
    return contour
