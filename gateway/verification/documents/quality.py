"""Is this photo of a document good enough to read? Reasons an applicant can act on.

Runs right after an upload in the hosted flow, so it is OCR-free and works on a copy shrunk to
``WORK_WIDTH_PX``. Thresholds were measured on the synthetic generator's clean and degraded
photos (eval/document_eval.py prints the distributions; docs/documents.md has the figures).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from gateway.verification.documents.geometry import largest_bright_region

WORK_WIDTH_PX = 640
MAX_WORK_HEIGHT_PX = 5 * WORK_WIDTH_PX
# Variance of the Laplacian inside the card, at WORK_WIDTH_PX. Measured on synthetic cards:
# clean ~3,200-4,600; the eval's degraded set (blur sigma <= 1.6 px at 1600 px, JPEG 60,
# perspective), which the reader still reads, ~550-1,700; Gaussian blur sigma 3 px, 90-220.
BLUR_MIN_LAPLACIAN_VAR = 300.0
# Fraction of the card at full white (>= GLARE_LEVEL) with no colour: print has almost none.
GLARE_MAX_FRACTION = 0.015
GLARE_LEVEL = 254
# The card must fill this much of the photo's width (the MRZ needs ~2.5 px per mm).
MIN_CARD_WIDTH_FRACTION = 0.45
EDGE_MARGIN_FRACTION = 0.01

MESSAGES = {
    "document_not_found": "We could not find a document in the photo. Place it on a plain, "
    "darker surface and fit all of it in the frame.",
    "document_too_small": "The document is too far away. Move closer so it fills most of "
    "the frame.",
    "document_cut_off": "Part of the document is outside the photo. Fit all four corners in "
    "the frame.",
    "blurry": "The photo is blurry. Hold still, tap to focus and try again.",
    "glare": "There is glare on the document. Tilt it slightly or move away from direct light.",
    "no_face_on_document": "We could not see the photo of your face on the document. Make "
    "sure the portrait is visible and not covered.",
}


@dataclass(frozen=True)
class QualityIssue:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class QualityReport:
    """``ok`` when there is no issue; ``metrics`` hold the measured values behind each verdict."""

    issues: list[QualityIssue] = field(default_factory=list)
    metrics: dict[str, float | bool | None] = field(default_factory=dict)
    card_corners: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def codes(self) -> list[str]:
        return [issue.code for issue in self.issues]

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "issues": [issue.as_dict() for issue in self.issues],
            "metrics": self.metrics,
        }


def find_card(gray_small: np.ndarray) -> np.ndarray | None:
    """The card's outline (4x2 corners) as the largest bright, convex, card-shaped region."""
    contour = largest_bright_region(gray_small, 0.03, 0.95)
    if contour is None:
        return None
    area = cv2.contourArea(contour)
    rect = cv2.minAreaRect(contour)
    (_, _), (w, h), _ = rect
    if w * h <= 0 or area / (w * h) < 0.75:  # not rectangle-like: no card found
        return None
    return cv2.boxPoints(rect).astype(np.float32)


def _face_present(rgb: np.ndarray) -> bool | None:
    """Whether a face is printed on the document, by the shared face detector."""
    try:
        from gateway.verification.faces.recognition import detect_faces
    except ImportError:  # the face service is not installed in this build
        return None
    return bool(detect_faces(rgb, max_side_px=800))


def assess_quality(rgb: np.ndarray) -> QualityReport:
    """Quality issues of a document photo. The portrait check is apart
    (check_face_on_document): the upload-time check leaves it out (~100-300 ms), and the
    reader's caller runs it on the photo turned upright."""
    started = time.perf_counter()
    report = QualityReport()
    height, width = rgb.shape[:2]
    # The work width, unless the photo is so tall and narrow that its height would pass
    # MAX_WORK_HEIGHT_PX (a 1 px wide "document" asked for gigabytes here).
    scale = min(WORK_WIDTH_PX / width, MAX_WORK_HEIGHT_PX / height)
    small = cv2.resize(
        rgb,
        (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA,
    )
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    corners = find_card(gray)
    mask = np.zeros(gray.shape, np.uint8)
    if corners is None:
        report.issues.append(QualityIssue("document_not_found", MESSAGES["document_not_found"]))
        mask[:] = 255
    else:
        cv2.fillConvexPoly(mask, corners.astype(np.int32), 255)
        report.card_corners = corners / scale
        xs, ys = corners[:, 0], corners[:, 1]
        card_width_fraction = float((xs.max() - xs.min()) / gray.shape[1])
        margin_x = EDGE_MARGIN_FRACTION * gray.shape[1]
        margin_y = EDGE_MARGIN_FRACTION * gray.shape[0]
        touches_edge = bool(
            xs.min() < margin_x
            or ys.min() < margin_y
            or xs.max() > gray.shape[1] - 1 - margin_x
            or ys.max() > gray.shape[0] - 1 - margin_y
        )
        report.metrics["card_width_fraction"] = round(card_width_fraction, 3)
        report.metrics["card_touches_edge"] = touches_edge
        if touches_edge:
            report.issues.append(QualityIssue("document_cut_off", MESSAGES["document_cut_off"]))
        elif card_width_fraction < MIN_CARD_WIDTH_FRACTION:
            report.issues.append(QualityIssue("document_too_small", MESSAGES["document_too_small"]))
    inside = mask > 0
    laplacian = cv2.Laplacian(gray, cv2.CV_64F)
    sharpness = float(laplacian[inside].var()) if inside.any() else 0.0
    report.metrics["laplacian_variance"] = round(sharpness, 1)
    if sharpness < BLUR_MIN_LAPLACIAN_VAR:
        report.issues.append(QualityIssue("blurry", MESSAGES["blurry"]))
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    glare = (hsv[..., 2] >= GLARE_LEVEL) & (hsv[..., 1] < 30) & inside
    glare_fraction = float(glare.sum() / max(inside.sum(), 1))
    report.metrics["glare_fraction"] = round(glare_fraction, 4)
    if glare_fraction > GLARE_MAX_FRACTION:
        report.issues.append(QualityIssue("glare", MESSAGES["glare"]))
    report.metrics["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return report


def check_face_on_document(report: QualityReport, rgb: np.ndarray) -> None:
    """Add the portrait check to `report`, on `rgb` as given: the detector finds upright faces
    only, so a caller that knows which way up the document is passes it turned upright."""
    started = time.perf_counter()
    present = _face_present(rgb)
    report.metrics["face_on_document"] = present
    report.metrics["face_check_ms"] = round((time.perf_counter() - started) * 1000, 1)
    if present is False:
        report.issues.append(QualityIssue("no_face_on_document", MESSAGES["no_face_on_document"]))
