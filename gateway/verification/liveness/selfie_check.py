"""Is this camera frame a usable selfie? The capture-time check the hosted flow calls.

The worker refuses a selfie whose face it cannot find or match (`INVALID_PHOTO:selfie`), but by
then the applicant has left. This check answers while the camera is still open, on the same
detector and the same size rule the worker applies, so "ok" here means the worker will find the
face too, and every refusal carries a code and a sentence that says what to do.

Stable API (the hosted flow's server side calls it; codes never change meaning):

    check_selfie(image) -> SelfieCheck
        image: decoded RGB uint8 (H, W, 3) or JPEG/PNG/WebP bytes (decoded upright via EXIF).
    SelfieCheck.ok, .code, .message, .as_dict()

Codes, in the order they are tested (the first that applies is returned):
- ``ok``: one face, large enough, inside the frame, facing the camera, lit.
- ``face_not_found``: no face (also a face turned far away, which the frontal detector misses).
- ``multiple_faces``: a second face at least 60 % of the main face's width is in view.
- ``face_too_small``: the face box is narrower than `MIN_FACE_PX` in the frame's own pixels
  (the face match refuses smaller faces; at the flow's ~480 px frames that is a face over a
  sixth of the frame width): come closer.
- ``face_cut_off``: the face box touches the frame edge: centre the face.
- ``not_frontal``: head turned or tilted (5-point yaw or roll beyond `FRONTAL_MAX_DEG`).
- ``too_dark``: the face region's mean brightness is under `MIN_FACE_BRIGHTNESS`.

Costs one dlib HOG detection (~15-25 ms on a 480-640 px frame here). Pure: no Flask, no store.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gateway.verification.faces.recognition import MIN_FACE_PX, detect_faces
from gateway.verification.images import decode_image
from gateway.verification.liveness.frames import SECOND_FACE_WIDTH_RATIO
from gateway.verification.liveness.pose import head_geometry

# The 5-point yaw wobbles by up to +-6 degrees on a speaking head that does not turn (measured on
# the shared clip, docs/liveness.md); a face turned more than 20 degrees is no longer a frontal
# reference for the face match or for the liveness neutral frames.
FRONTAL_MAX_DEG = 20.0
# A face box closer than this to the frame edge (fraction of the face width) is cut off: dlib's
# HOG box covers brows to lip, so the chin and forehead are already outside.
EDGE_MARGIN_RATIO = 0.05
# Mean grey level (0-255) of the face box below which the face is too dark to measure eyelids.
# The dev clips' faces sit at 96-142 (every 10th frame at 480 px); at 50 JPEG noise starts to
# dominate the lids.
MIN_FACE_BRIGHTNESS = 50.0

MESSAGES = {
    "ok": "Your face is clearly visible.",
    "face_not_found": "No face found. Look straight at the camera with your whole face in view.",
    "multiple_faces": "Only you should be in view. Make sure nobody else is in the picture.",
    "face_too_small": "Your face is too small. Come closer to the camera.",
    "face_cut_off": "Part of your face is outside the picture. Centre your face in the frame.",
    "not_frontal": "Look straight at the camera and keep your head level.",
    "too_dark": "Your face is too dark. Move to a brighter place or face the light.",
}


@dataclass(frozen=True)
class SelfieCheck:
    """The answer: `ok` with `code` "ok", or the first problem found and what to do about it."""

    ok: bool
    code: str
    message: str
    face_width_px: int = 0
    face_width_ratio: float = 0.0
    yaw_deg: float | None = None
    roll_deg: float | None = None
    brightness: float | None = None

    def as_dict(self) -> dict:
        """JSON-ready form (numbers only, no pixels)."""
        return {
            "ok": self.ok,
            "code": self.code,
            "message": self.message,
            "face_width_px": self.face_width_px,
            "face_width_ratio": round(self.face_width_ratio, 3),
            "yaw_deg": None if self.yaw_deg is None else round(self.yaw_deg, 1),
            "roll_deg": None if self.roll_deg is None else round(self.roll_deg, 1),
            "brightness": None if self.brightness is None else round(self.brightness, 1),
        }


def check_selfie(image: np.ndarray | bytes, *, min_face_px: int = MIN_FACE_PX) -> SelfieCheck:
    """Check one camera frame (see the module docstring for the codes, in order)."""
    if isinstance(image, bytes | bytearray):
        image = decode_image(bytes(image), field="selfie")
    rgb = np.ascontiguousarray(image)
    faces = detect_faces(rgb)
    if not faces:
        return _answer("face_not_found")
    face = faces[0]
    height, width = rgb.shape[:2]
    facts = {"face_width_px": face.width_px, "face_width_ratio": face.width_px / max(width, 1)}
    if len(faces) > 1 and faces[1].width_px >= SECOND_FACE_WIDTH_RATIO * face.width_px:
        return _answer("multiple_faces", **facts)
    if face.width_px < min_face_px:
        return _answer("face_too_small", **facts)
    left, top, right, bottom = face.box
    margin = EDGE_MARGIN_RATIO * face.width_px
    if left < margin or top < margin or right > width - margin or bottom > height - margin:
        return _answer("face_cut_off", **facts)
    geometry = head_geometry(face.landmarks)
    facts.update(yaw_deg=geometry.yaw_deg, roll_deg=geometry.roll_deg)
    if abs(geometry.yaw_deg) > FRONTAL_MAX_DEG or abs(geometry.roll_deg) > FRONTAL_MAX_DEG:
        return _answer("not_frontal", **facts)
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    facts["brightness"] = float(gray.mean())
    if facts["brightness"] < MIN_FACE_BRIGHTNESS:
        return _answer("too_dark", **facts)
    return _answer("ok", **facts)


def _answer(code: str, **facts) -> SelfieCheck:
    return SelfieCheck(ok=code == "ok", code=code, message=MESSAGES[code], **facts)
