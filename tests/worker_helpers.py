"""What the worker tests share: a genuine capture made from the shared data, and a profile moved
to ``submitted`` with its files stored the way the hosted flow stores them."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from gateway.processes import stop_process
from gateway.services.pocketbase import PocketBase
from gateway.verification.faces.recognition import detect_faces

CLIP_FPS = 29.97
# The hosted flow's capture rate (hosted_flow/js/selfie.js: 12 frames a second, one stretch with
# no pause between the prompts): the clip is sampled every 2.5 frames, as the page would film it.
CAPTURE_FPS = 12.0
DOCUMENT_PORTRAIT_FRAME = 148
# Frame spans [start, end) of the shared clip (yaw from the face mesh, docs/liveness.md): the head
# at rest after an earlier turn (143-146; from 147 it starts to the left), the turn to the left
# (peak at 160, held to 164, back by 168), then the later turn to the right (from 180, still
# turning when the shot cuts at frame 211). The grid starts at frame 144, so the neutral frames
# are 144 and 146.
CAPTURE_START = 144
NEUTRAL_SPAN = (143, 147)
TURN_LEFT_SPAN = (147, 180)
LATER_TURN_RIGHT_SPAN = (180, 211)


def flow_frames(plan: list[tuple[str, tuple[int, int]]]) -> list[tuple[str, int]]:
    """(prompt, clip frame) of a capture at CAPTURE_FPS from CAPTURE_START through the spans."""
    step = CLIP_FPS / CAPTURE_FPS
    chosen, position = [], float(CAPTURE_START)
    for prompt, (start, end) in plan:
        while round(position) < end:
            if round(position) >= start:
                chosen.append((prompt, round(position)))
            position += step
    return chosen


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def read_clip_frames(
    path: Path, indexes: set[int], keep: Callable[[np.ndarray], Any] = lambda rgb: rgb
) -> dict[int, Any]:
    """Only the wanted frames of a clip (all 275 decoded frames would hold ~190 MB), each RGB
    frame as ``keep`` makes it (the frame itself by default; a smaller form holds less)."""
    capture = cv2.VideoCapture(str(path))
    frames = {}
    index = 0
    while index <= max(indexes):
        ok, bgr = capture.read()
        if not ok:
            break
        if index in indexes:
            frames[index] = keep(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        index += 1
    capture.release()
    return frames


def portrait_crop(rgb: np.ndarray) -> np.ndarray:
    """Head-and-shoulders crop around the one face, as a document portrait is framed."""
    faces = detect_faces(rgb)
    assert len(faces) == 1
    left, top, right, bottom = faces[0].box
    width = right - left
    height, full_width = rgb.shape[:2]
    return rgb[
        max(0, top - width // 2) : min(height, bottom + width // 3),
        max(0, left - width // 3) : min(full_width, right + width // 3),
    ]


@dataclass
class GenuineCapture:
    """A synthetic passport with the clip's person and a live challenge sequence of that person."""

    document_jpeg: bytes
    fields: dict[str, str]
    frames: list[tuple[str, bytes, str, float]]  # (filename, jpeg, prompt, t_ms)
    prompts: tuple[str, ...] = ("turn_right", "turn_left")
    # The same person answering the opposite order: turn left, then the clip's later right turn.
    frames_left_then_right: tuple[tuple[str, bytes, str, float], ...] = ()


@cache
def genuine_capture(datasets_dir: Path) -> GenuineCapture:
    from gateway.synthetic.documents import make_passport

    left_then_right_plan = flow_frames(
        [
            ("neutral", NEUTRAL_SPAN),
            ("turn_left", TURN_LEFT_SPAN),
            ("turn_right", LATER_TURN_RIGHT_SPAN),
        ]
    )
    wanted = {DOCUMENT_PORTRAIT_FRAME} | {i for _, i in left_then_right_plan}
    clip = read_clip_frames(datasets_dir / "liveness" / "short_hamilton_clip.mp4", wanted)
    document = make_passport(np.random.default_rng(7), portrait_crop(clip[DOCUMENT_PORTRAIT_FRAME]))
    left_then_right = [
        (f"frame_{i:03d}.jpg", jpeg(clip[i]), prompt, round(i * 1000 / CLIP_FPS, 1))
        for prompt, i in left_then_right_plan
    ]
    # Right, then left: the same capture mirrored left-right (a mirrored left turn is a real
    # right turn). The clip holds no right turn followed by a left one: after its later right
    # turn the shot cuts.
    swapped = {"turn_left": "turn_right", "turn_right": "turn_left"}
    right_then_left = [
        (
            f"frame_{i:03d}_mirrored.jpg",
            jpeg(np.ascontiguousarray(clip[i][:, ::-1])),
            swapped.get(prompt, prompt),
            round(i * 1000 / CLIP_FPS, 1),
        )
        for prompt, i in left_then_right_plan
    ]
    return GenuineCapture(
        jpeg(document.image_rgb),
        dict(document.fields),
        right_then_left,
        frames_left_then_right=tuple(left_then_right),
    )


def challenge(prompts: tuple[str, ...], ttl_s: float = 600) -> dict[str, Any]:
    now = time.time()
    return {"id": "test", "prompts": list(prompts), "issued_at": now, "expires_at": now + ttl_s}


def submit(
    pb: PocketBase,
    profile_id: str,
    *,
    document_jpeg: bytes | None,
    frames: list[tuple[str, bytes, str, float]],
    prompts: tuple[str, ...],
) -> None:
    """Store the captures on the profile and move it to ``submitted``, as the hosted flow does."""
    pb.transition(profile_id, "in_progress", actor="applicant", reason="capture started")
    files: dict[str, list[tuple[str, bytes, str]]] = {
        "selfie_frames": [(name, data, "image/jpeg") for name, data, _, _ in frames]
    }
    if document_jpeg is not None:
        files["document_front"] = [("document_front.jpg", document_jpeg, "image/jpeg")]
    pb.update(
        "profiles",
        profile_id,
        {
            "capture": {
                "frames": [
                    {"filename": name, "prompt": prompt, "t_ms": t_ms}
                    for name, _, prompt, t_ms in frames
                ]
            },
            "liveness_challenge": challenge(prompts),
        },
        files=files,
    )
    pb.transition(profile_id, "submitted", actor="applicant", reason="captures complete")


def history(pb: PocketBase, profile_id: str) -> list[tuple[str, str, str, str]]:
    rows = pb.find("status_history", "profile = {:profile}", {"profile": profile_id}, sort="@rowid")
    return [(row["from_status"], row["to_status"], row["actor"], row["reason"]) for row in rows]


def set_aside_leftover_jobs(pb: PocketBase) -> None:
    """Put the unfinished jobs of earlier tests on this PocketBase out of a real worker's reach.

    A real consumer's reconciler works on the whole store: it re-queues every profile left
    `submitted` and takes back every claim whose lease ran out. Earlier tests leave both (a
    claim held on purpose, profiles whose S3 server or registry has since been stopped), the
    worker takes them up, and its graceful stop waits for the job in hand: in a full-suite run
    it was still busy 30 s after SIGINT and was killed. Tests on one store run one at a time
    (each pytest-xdist process starts its own), so none of these jobs is anyone's any more.
    """
    while leftovers := pb.find(
        "profiles", "status = 'submitted' || status = 'processing'", limit=200
    ):
        for profile in leftovers:
            pb.transition(
                profile["id"],
                "manual_review",
                actor="system",
                reason="an earlier test's unfinished job, set aside",
                expected_from=["submitted", "processing"],
                set_fields={"lease_until": ""},
            )


@contextmanager
def worker_process(argv: list[str], env: dict[str, str], log_path: Path) -> Iterator[Any]:
    """A real worker process (its output in ``log_path``), stopped with SIGINT as an operator
    would, killed if it has not stopped after 30 s."""
    with open(log_path, "ab") as log_file:
        worker = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            yield worker
        finally:
            stop_process(worker, sig=signal.SIGINT, grace_s=30)


def consumer_env(settings: Any, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a real consumer process on the test stack: its own EKYC_HOME (so its
    SQLite queue is the app's when the app uses the same home), one process, no Redis."""
    env = {
        **os.environ,
        **settings.child_env(),
        "EKYC_HOME": str(home),
        "EKYC_WORKER_PROCESSES": "1",
        **extra,
    }
    env.pop("REDIS_URL", None)
    return env


CONSUMER_ARGV = [
    sys.executable,
    "-c",
    "from gateway.worker.consumer import run_consumer; run_consumer()",
]
