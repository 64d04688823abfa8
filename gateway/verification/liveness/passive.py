"""Passive cues from a single image: evidence for a reviewer, never a liveness verdict.

Measured on the shared stills and the demo GIF (eval/liveness_eval.py, docs/liveness.md): some
cues separate that data's live images from its attack images, but each class there is one or
two scenes, so the separation cannot be told apart from the scene, person or camera; and no
offline anti-spoofing model we could run separated the stills either. So a single image is never
called live, the cues are reported with their measured reliability, and a spoof type would be
named only by a rule in `EVIDENCE_RULES` backed by data from more than a couple of scenes: none
is, so the list is empty and `spoof_type` stays `unknown`.

Cues, all on the face region resampled to a fixed size so faces of any size compare:
- `moire_peak_ratio`: the strongest mid/high-frequency peak of the spectrum over the median of
  that band. A screen photographed by a camera adds a periodic pattern (pixel grid aliasing)
  that shows as isolated spectral peaks; skin and print do not.
- `high_frequency_ratio`: share of spectral energy above half the Nyquist frequency (fine
  texture; recaptures tend to lose it, sharp prints can gain it).
- `sharpness`: variance of the Laplacian (focus and recapture blur).
- `saturation_mean`, `skin_fraction`: colour statistics (screens shift white balance and
  saturation; prints lose gamut).
- `face_width_ratio`: face width over image width (a face held at arm's length on a phone or
  paper is often small, or the bezel/edges are visible around it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from gateway.verification.faces.recognition import DetectedFace, detect_faces

FACE_SIDE_PX = 128

# Reliability of each cue as measured by eval/liveness_eval.py on the shared data: ROC AUC of
# live (33 GIF frames + 1 still) vs screen (27 + 1) and print (21 + 1) images with a face;
# 0.5 = chance, 0 or 1 = fully separated on this data.
MEASURED_RELIABILITY: dict[str, str] = {
    "moire_peak_ratio": "not separating: ROC AUC 0.39 live vs screen, 0.68 live vs print",
    "high_frequency_ratio": (
        "lower on screens (AUC 0.00: every screen image below every live one) but prints "
        "overlap live (AUC 0.65) and the print still is as low as the screens"
    ),
    "sharpness": "lower on prints (AUC 0.00, margin 1 %); screens overlap live (AUC 0.48)",
    "saturation_mean": "lower on prints (AUC 0.00); screens barely (AUC 0.04, ranges touch)",
    "skin_fraction": "lower on screens and prints (AUC 0.00; live >= 0.66, attacks <= 0.63)",
    "face_width_ratio": "scene-dependent: larger on the screen GIF (AUC 1.00), mixed on prints",
}
# Every class above is one or two scenes (the demo GIF's segments and one still each), so a
# separation can be the scene, the person or the camera rather than the attack: reported as
# measured, never turned into a verdict. See docs/liveness.md.

# (cue, comparison, threshold, spoof type): named only beyond every live value measured.
EVIDENCE_RULES: tuple[tuple[str, str, float, str], ...] = ()


@dataclass
class PassiveResult:
    """The passive-only answer: `is_live` is always False, the cues are evidence."""

    face_found: bool
    cues: dict[str, float] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    spoof_type: str = "unknown"
    hints: list[str] = field(default_factory=list)
    hint_codes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "face_found": self.face_found,
            "cues": {name: round(value, 4) for name, value in self.cues.items()},
            "reliability": dict(MEASURED_RELIABILITY),
            "evidence": list(self.evidence),
        }

    def to_liveness_dict(self) -> dict:
        """The endpoint's shape for `{image_live_base64}` requests."""
        return {
            "is_live": False,
            "spoof_type": self.spoof_type,
            "confidence": 0.0,
            "hints": list(self.hints),
            "hint_codes": list(self.hint_codes),
            "challenge": None,
            "passive": self.as_dict(),
        }


def face_crop(rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
    """The face box, squared and resampled to FACE_SIDE_PX, as RGB."""
    left, top, right, bottom = face.box
    crop = rgb[max(0, top) : max(top + 1, bottom), max(0, left) : max(left + 1, right)]
    return cv2.resize(crop, (FACE_SIDE_PX, FACE_SIDE_PX), interpolation=cv2.INTER_AREA)


def passive_cues(rgb: np.ndarray, face: DetectedFace) -> dict[str, float]:
    """Measure every cue on one face (see module docstring)."""
    crop = face_crop(rgb, face)
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    window = np.outer(np.hanning(FACE_SIDE_PX), np.hanning(FACE_SIDE_PX)).astype(np.float32)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2((gray - gray.mean()) * window)))
    centre = FACE_SIDE_PX // 2
    yy, xx = np.mgrid[:FACE_SIDE_PX, :FACE_SIDE_PX]
    radius = np.hypot(yy - centre, xx - centre) / centre  # 1.0 = Nyquist
    band = spectrum[(radius > 0.25) & (radius <= 1.0)]
    total = float(np.sum(spectrum[radius > 0.02] ** 2))
    high = float(np.sum(spectrum[(radius > 0.5) & (radius <= 1.0)] ** 2))
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    ycrcb = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    skin = (
        (ycrcb[:, :, 1] >= 133)
        & (ycrcb[:, :, 1] <= 173)
        & (ycrcb[:, :, 2] >= 77)
        & (ycrcb[:, :, 2] <= 127)
    )
    return {
        "moire_peak_ratio": float(band.max() / max(float(np.median(band)), 1e-6)),
        "high_frequency_ratio": high / max(total, 1e-6),
        "sharpness": float(cv2.Laplacian(gray, cv2.CV_32F).var()),
        "saturation_mean": float(hsv[:, :, 1].mean() / 255.0),
        "skin_fraction": float(skin.mean()),
        "face_width_ratio": face.width_px / rgb.shape[1],
    }


def evidence_from_cues(cues: dict[str, float]) -> tuple[list[str], str]:
    """Apply EVIDENCE_RULES; returns the evidence sentences and the spoof type they support."""
    evidence, types = [], []
    for cue, comparison, threshold, spoof_type in EVIDENCE_RULES:
        value = cues.get(cue, math.nan)
        if not math.isfinite(value):
            continue
        if (comparison == ">" and value > threshold) or (comparison == "<" and value < threshold):
            evidence.append(
                f"{cue} {value:.3g} {comparison} {threshold:.3g}: seen only in {spoof_type} attacks"
            )
            types.append(spoof_type)
    spoof_type = types[0] if len(set(types)) == 1 else "unknown"
    return evidence, spoof_type


def analyze_passive(rgb: np.ndarray, *, face: DetectedFace | None = None) -> PassiveResult:
    """Passive evidence for one image; never live (one image cannot show a live person)."""
    if face is None:
        faces = detect_faces(rgb)
        face = faces[0] if faces else None
    if face is None:
        return PassiveResult(
            face_found=False,
            hints=["No face was found in the image."],
            hint_codes=["face_not_found"],
        )
    cues = passive_cues(rgb, face)
    evidence, spoof_type = evidence_from_cues(cues)
    return PassiveResult(
        face_found=True,
        cues=cues,
        evidence=evidence,
        spoof_type=spoof_type,
        hints=[
            "A single image cannot prove liveness: passive cues did not separate live faces "
            "from screen replays and prints reliably in our measurements. Use the active "
            "challenge (frames captured under prompts)."
        ],
        hint_codes=["passive_only_not_sufficient"],
    )
