"""Find the MRZ text lines in a photo and cut each one out straight.

The MRZ is the only block of two or three long, equally long, evenly spaced lines of dark
monospace characters on a document. Dark-on-light text survives a black-hat transform; closing it
horizontally melts each line into one blob; the longest blobs that stack evenly are the MRZ. Each
line is then cut out along its own rotated rectangle, which also undoes mild perspective.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH_PX = 1000
LINE_HEIGHT_PX = 44  # tesseract reads OCR-B best with capitals ~30 px high


@dataclass(frozen=True)
class TextLine:
    """One candidate text line in full-image pixels."""

    centre: tuple[float, float]
    length_px: float
    height_px: float
    angle_deg: float
    box: np.ndarray  # 4x2, tl tr br bl


def _order_corners(points: np.ndarray, angle_deg: float) -> np.ndarray:
    """tl, tr, br, bl of a rotated rectangle, judged along and across its own axis."""
    centre = points.mean(axis=0)
    along = np.array([np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))])
    across = np.array([-along[1], along[0]])
    s = (points - centre) @ along
    t = (points - centre) @ across
    pick = [
        np.argmin(s + t),  # tl: behind and above
        np.argmax(s - t),  # tr
        np.argmax(s + t),  # br
        np.argmin(s - t),  # bl
    ]
    return points[pick].astype(np.float32)


def find_text_lines(gray: np.ndarray) -> list[TextLine]:
    """Long, thin, dark text blobs (candidates for MRZ lines), longest first."""
    height, width = gray.shape
    scale = WORK_WIDTH_PX / width
    small = cv2.resize(
        gray, (WORK_WIDTH_PX, max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )
    blackhat = cv2.morphologyEx(
        small, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))
    )
    _, mask = cv2.threshold(blackhat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (29, 3))
    )
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 3)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    lines = []
    for contour in contours:
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        if w < h:
            w, h, angle = h, w, angle - 90
        if angle < -45:
            angle += 180
        if angle > 45:
            angle -= 180
        if w < 0.18 * WORK_WIDTH_PX or h < 4 or w / h < 8:
            continue
        box = _order_corners(cv2.boxPoints(((cx, cy), (w, h), angle)) / scale, angle)
        lines.append(TextLine((cx / scale, cy / scale), w / scale, h / scale, angle, box))
    return sorted(lines, key=lambda line: -line.length_px)


def pick_mrz_lines(lines: list[TextLine]) -> list[TextLine]:
    """The 2-3 longest lines of similar length, parallel and evenly stacked, top to bottom."""
    best: list[TextLine] = []
    for anchor in lines[:6]:
        group = [
            line
            for line in lines
            if 0.82 < line.length_px / anchor.length_px < 1.22
            and abs(line.angle_deg - anchor.angle_deg) < 4
        ]
        normal = np.array(
            [-np.sin(np.radians(anchor.angle_deg)), np.cos(np.radians(anchor.angle_deg))]
        )
        offsets = sorted(
            (
                (float(np.dot(np.subtract(line.centre, anchor.centre), normal)), line)
                for line in group
            ),
            key=lambda pair: pair[0],
        )
        # keep the run of lines around the anchor spaced by < 2.6 line heights
        stack = [line for _, line in offsets]
        positions = [offset for offset, _ in offsets]
        runs, current = [], [0]
        for i in range(1, len(stack)):
            if positions[i] - positions[i - 1] < 2.6 * anchor.height_px + 6:
                current.append(i)
            else:
                runs.append(current)
                current = [i]
        runs.append(current)
        for run in runs:
            candidate = [stack[i] for i in run][-3:]
            if len(candidate) >= 2 and len(candidate) > len(best):
                best = candidate
        if len(best) == 3:
            break
    return best


def cut_line(gray: np.ndarray, line: TextLine, margin: float = 0.5) -> np.ndarray:
    """The line warped level, scaled to ``LINE_HEIGHT_PX`` of text with a white-ish margin."""
    tl, tr, br, bl = line.box
    along = (tr - tl) / np.linalg.norm(tr - tl)
    across = (bl - tl) / np.linalg.norm(bl - tl)
    pad_y = margin * line.height_px
    pad_x = 0.02 * line.length_px + line.height_px
    src = np.array(
        [
            tl - along * pad_x - across * pad_y,
            tr + along * pad_x - across * pad_y,
            br + along * pad_x + across * pad_y,
            bl - along * pad_x + across * pad_y,
        ],
        dtype=np.float32,
    )
    scale = LINE_HEIGHT_PX / max(line.height_px, 1)
    out_w = round((line.length_px + 2 * pad_x) * scale)
    out_h = round((line.height_px + 2 * pad_y) * scale)
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(
        gray, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
