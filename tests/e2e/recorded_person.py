"""The recorded person of the browser-to-decision tests: d9.mp4 of ``liveness/real``, his
synthetic passport (portrait cut from a frame of the clip at rest), and what the browser sent
(frames per second per prompt, largest gap, upload size, where in the camera file the page's
neutral frames began)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gateway.synthetic.documents import make_passport
from gateway.synthetic.identities import Identity
from gateway.verification.faces.recognition import detect_faces

CLIP = "d9.mp4"
PORTRAIT_AT_S = 1.2  # d9 at rest, looking at the camera (not a frame the camera shows)


def clip_frame(clip: Path, at_s: float) -> np.ndarray:
    """One frame of a clip, RGB."""
    capture = cv2.VideoCapture(str(clip))
    try:
        capture.set(cv2.CAP_PROP_POS_MSEC, at_s * 1000)
        ok, bgr = capture.read()
    finally:
        capture.release()
    assert ok, f"{clip} has no frame at {at_s} s"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def portrait(rgb: np.ndarray) -> np.ndarray:
    """Head and shoulders around the one face, as a passport portrait is framed."""
    [face] = detect_faces(rgb)
    left, top, right, bottom = face.box
    width = right - left
    return rgb[
        max(0, top - width // 2) : min(rgb.shape[0], bottom + width // 3),
        max(0, left - width // 3) : min(rgb.shape[1], right + width // 3),
    ]


def make_document(
    datasets_dir: Path, seed: int, tmp_path: Path, identity: Identity | None = None
) -> tuple[Path, dict[str, str]]:
    """A synthetic passport whose portrait is the clip's person at rest, saved as a JPEG."""
    person = clip_frame(datasets_dir / "liveness" / "real" / CLIP, PORTRAIT_AT_S)
    passport = make_passport(np.random.default_rng(seed), portrait(person), identity=identity)
    path = tmp_path / "passport.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(passport.image_rgb, cv2.COLOR_RGB2BGR))
    return path, dict(passport.fields)


def readme_identity(request: dict) -> Identity:
    """The README's applicant as their passport prints them, with a middle name the example
    does not send (partners often send the first given name only)."""
    document = request["document"]
    return Identity(
        surname=request["last_name"].upper(),
        given_names=f"{request['first_name'].upper()} AUGUSTA",
        sex="F",
        birth_date=dt.date.fromisoformat(request["date_of_birth"]),
        expiry_date=dt.date.today() + dt.timedelta(days=5 * 365),
        issuing_state=document["country"],
        nationality=request["country"],
        document_number=document["number"],
        optional_data="",
    )


def camera_time_s(camera: Path, jpeg: bytes) -> float:
    """When, in the camera file, the page took this frame: the file's most similar frame (grey
    32x32 thumbnails), in seconds. Says how the page's schedule met the recording."""

    def thumb(bgr: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)

    target = thumb(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
    capture = cv2.VideoCapture(str(camera))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    best, best_index, index = float("inf"), 0, 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            difference = float(np.mean(np.abs(thumb(bgr) - target)))
            if difference < best:
                best, best_index = difference, index
            index += 1
    finally:
        capture.release()
    return round(best_index / fps, 2)


def capture_figures(frames: list[dict[str, Any]], upload: bytes) -> dict[str, Any]:
    """Frames per second during each prompt, as the page stamped them, and the upload's size."""
    per_prompt: dict[str, list[float]] = {}
    for frame in frames:
        per_prompt.setdefault(frame["prompt"], []).append(frame["t_ms"])
    rates = {
        prompt: round((len(times) - 1) / ((times[-1] - times[0]) / 1000), 1)
        for prompt, times in per_prompt.items()
        if len(times) > 1 and times[-1] > times[0]
    }
    gaps = [b["t_ms"] - a["t_ms"] for a, b in itertools.pairwise(frames)]
    return {
        "frames": len(frames),
        "fps_by_prompt": rates,
        "largest_gap_ms": max(gaps),
        "upload_bytes": len(upload),
    }
