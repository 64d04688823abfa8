"""Build .y4m videos for Chromium's fake camera (``--use-file-for-fake-video-capture``).

Two kinds of camera, both generated here, nothing downloaded:

- ``document.y4m``: a still of a synthetic TD1 identity card (portrait from the shared face set)
  on a desk, the way a rear camera sees a card held under it;
- a selfie camera cut from a REAL clip of ``liveness/real/`` (``segments.csv`` says where each
  blink, smile and turn is): first the person too far away (the clip scaled to a third), so the
  page's framing check says "come closer"; then full-size footage, cut so the person rests while
  the page captures its neutral frames and performs each challenged movement while the page
  shows that prompt.

A fake camera cannot react to the page, so the cuts follow the page's schedule instead
(``SelfieSchedule``): Chromium restarts the file at its first frame on every ``getUserMedia``,
the page starts the challenge at the first still that passes the framing check (which the
full-size footage decides), then shows "look straight" for ``neutral_ms`` and each prompt for
``prompt_ms``. Each movement is placed where its prompt is on screen whatever the few hundred
milliseconds the checks and the challenge request take. Frames are never repeated, because a
live camera never delivers the same image twice; the clip keeps its own frame rate (25-30 fps,
above the page's 12).

Why the old camera failed: it was ``short_hamilton_clip.mp4`` squeezed to 640x360 at 10 fps,
whose first three seconds show a face 45-53 px wide or none at all (turned away) and which the
page began to sample as soon as the camera opened, so the "neutral" frames and the stored selfie
held no usable face (the face match needs 80 px) and the worker answered ``INVALID_PHOTO:selfie``.

Usage: ``python scripts/make_fake_camera.py OUT_DIR [--datasets ../shared/datasets]``.
Needs Debian ``ffmpeg``. Files are rebuilt only when missing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from gateway.synthetic.documents import make_id_card  # noqa: E402

DOCUMENT_SIZE = (1280, 960)  # 4:3, what a phone's rear camera streams by default
DOCUMENT_FACE = "faces/img2.jpg"
REAL_CLIPS = "liveness/real"
# A selfie camera's frames are at most this size on their longer side (a phone's front camera
# streams 640x480); the page scales them to 480 px.
SELFIE_MAX_SIDE_PX = 640
# The framing pre-roll shows the clip at this scale: a ~200 px face becomes ~65 px, under the
# 80 px the framing check and the face match need.
TOO_FAR_SCALE = 1 / 3


@dataclass(frozen=True)
class Cut:
    """A stretch of a clip, in seconds from its start."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SelfieSchedule:
    """The page's selfie timing (``capture_rules.SelfieCapture`` and ``hosted_flow/js/selfie.js``)
    as the fake camera follows it.

    ``start_jitter_s`` bounds the time from the footage turning full-size to the page's first
    neutral frame: the framing check in flight, its 300 ms pause, the next check, then the
    challenge request. Measured by tests/e2e/test_flow_to_decision.py (it prints
    ``neutral_began_at_camera_s``): 0.4-0.9 s after the 3 s pre-roll on 2 busy shared cores.
    ``lookback_s`` is footage the verifier reads just before a prompt starts (3 frames at 12 a
    second: whether the eyes were open before a blink, the path of a movement from its start).
    """

    framing_s: float = 3.0
    neutral_s: float = 1.0
    prompt_s: float = 2.5
    start_jitter_s: float = 1.0
    lookback_s: float = 0.3
    tail_s: float = 1.0

    @property
    def lead_s(self) -> float:
        """Rest a movement's cut must hold before the movement starts: the prompt may appear
        that late, and the verifier looks that far back."""
        return self.start_jitter_s + self.lookback_s

    def cut_start(self, position: int) -> float:
        """Seconds after the full-size footage starts at which prompt ``position``'s cut goes
        on: its lookback before the earliest time the prompt can appear."""
        return self.neutral_s + position * self.prompt_s - self.lookback_s


@dataclass(frozen=True)
class SelfieScript:
    """Which footage of one real clip the camera shows: ``movements`` in the challenge's order,
    each a continuous cut that starts ``SelfieSchedule.lead_s`` (1.3 s) of rest before one
    labelled movement begins and ends after it; ``rest`` (stretches where the person looks at
    the camera without a labelled movement) fills the time before and between the cuts."""

    clip: str
    rest: tuple[Cut, ...]
    movements: tuple[Cut, ...]


class FakeCameraError(RuntimeError):
    """ffmpeg is missing or failed, or a script does not fit the schedule."""


# Selfie cameras by name, each one person (one clip) answering one challenge order. d9.mp4: a man
# with glasses (segments.csv: ``d9_smile`` starts at 10.0 s, visible from ~9.8 s; ``d9_blink_c``
# 14.93-15.10 s; ``d9_blink_d``, slow, 17.33-17.73 s); rest is where he looks at the camera
# without a labelled movement (not 3.5-4.7 s nor 7.0-8.2 s: he purses his lips there).
D9_REST = (Cut(0.6, 2.2), Cut(12.3, 12.9), Cut(15.9, 17.0), Cut(18.6, 19.4))
D9_SMILE = Cut(8.5, 11.0)
D9_BLINK = Cut(13.6, 15.6)
D9_SLOW_BLINK = Cut(16.0, 18.2)
SELFIE_SCRIPTS = {
    "selfie_smile_blink": SelfieScript("d9.mp4", rest=D9_REST, movements=(D9_SMILE, D9_BLINK)),
    "selfie_blink_smile": SelfieScript("d9.mp4", rest=D9_REST, movements=(D9_SLOW_BLINK, D9_SMILE)),
}


def _ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise FakeCameraError("ffmpeg not found: apt-get install -y ffmpeg")
    return path


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise FakeCameraError(f"ffmpeg failed: {result.stderr[-800:]}")


def document_still(datasets_dir: Path, seed: int = 3) -> np.ndarray:
    """The synthetic card the document camera shows (also usable as an upload)."""
    face = datasets_dir / DOCUMENT_FACE
    return make_id_card(np.random.default_rng(seed), face if face.exists() else None).image_rgb


def still_to_y4m(rgb: np.ndarray, out_path: Path, size: tuple[int, int], frames: int = 3) -> Path:
    """A few identical frames (Chromium loops the file) at ``size``."""
    with tempfile.TemporaryDirectory() as tmp:
        still = Path(tmp) / "still.png"
        Image.fromarray(rgb).save(still)
        _run(
            [
                _ffmpeg(), "-y", "-loglevel", "error", "-loop", "1", "-i", str(still),
                "-frames:v", str(frames), "-r", "10",
                "-vf", f"scale={size[0]}:{size[1]}:flags=lanczos", "-pix_fmt", "yuv420p",
                str(out_path),
            ]
        )  # fmt: skip
    return out_path


def selfie_cuts(script: SelfieScript, schedule: SelfieSchedule) -> list[Cut]:
    """The full-size cuts, in order: each movement's cut goes on at ``schedule.cut_start`` of its
    prompt, so its movement starts after the latest moment the prompt can appear and the
    verifier's look back before the prompt and along the movement sees continuous footage; rest
    fills the gaps and the tail. Rest is consumed, never shown twice."""
    pool = list(script.rest)
    cuts: list[Cut] = []

    def take_rest(seconds: float) -> None:
        while seconds > 1e-3:
            if not pool:
                raise FakeCameraError(f"{script.clip}: not enough rest footage in the script")
            piece = pool[0]
            used = min(seconds, piece.duration_s)
            cuts.append(Cut(piece.start_s, piece.start_s + used))
            seconds -= used
            if used >= piece.duration_s - 1e-3:
                pool.pop(0)
            else:
                pool[0] = Cut(piece.start_s + used, piece.end_s)

    elapsed = 0.0
    for position, movement in enumerate(script.movements):
        starts_at = schedule.cut_start(position)
        if starts_at < elapsed - 1e-3:
            raise FakeCameraError(
                f"{script.clip}: movement {position - 1} runs into prompt {position}'s look back"
            )
        take_rest(starts_at - elapsed)
        cuts.append(movement)
        elapsed = starts_at + movement.duration_s
    end = schedule.cut_start(len(script.movements)) + schedule.start_jitter_s + schedule.tail_s
    take_rest(end - elapsed)
    return cuts


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def selfie_script_to_y4m(
    clip: Path, script: SelfieScript, schedule: SelfieSchedule, out_path: Path
) -> Path:
    """The camera file: the framing pre-roll (the clip's first seconds, a third of the size, on
    grey), then ``selfie_cuts`` at full size, at the clip's own frame rate."""
    width, height = _video_size(clip)
    scale = min(1.0, SELFIE_MAX_SIDE_PX / max(width, height))
    out_w, out_h = _even(width * scale), _even(height * scale)
    far_w, far_h = _even(out_w * TOO_FAR_SCALE), _even(out_h * TOO_FAR_SCALE)
    parts = [
        f"[0:v]trim=start=0:end={schedule.framing_s},setpts=PTS-STARTPTS,"
        f"scale={far_w}:{far_h},pad={out_w}:{out_h}:(ow-iw)/2:(oh-ih)/2:color=0x808080,"
        "setsar=1[p0]"
    ]
    cuts = selfie_cuts(script, schedule)
    for index, cut in enumerate(cuts, start=1):
        parts.append(
            f"[0:v]trim=start={cut.start_s:.3f}:end={cut.end_s:.3f},setpts=PTS-STARTPTS,"
            f"scale={out_w}:{out_h},setsar=1[p{index}]"
        )
    labels = "".join(f"[p{index}]" for index in range(len(cuts) + 1))
    graph = ";".join(parts) + f";{labels}concat=n={len(cuts) + 1}:v=1:a=0[out]"
    _run(
        [
            _ffmpeg(), "-y", "-loglevel", "error", "-i", str(clip), "-filter_complex", graph,
            "-map", "[out]", "-pix_fmt", "yuv420p", "-an", str(out_path),
        ]
    )  # fmt: skip
    return out_path


def _video_size(clip: Path) -> tuple[int, int]:
    import cv2

    capture = cv2.VideoCapture(str(clip))
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()
    if not width or not height:
        raise FakeCameraError(f"cannot read {clip}")
    return width, height


def build_document_camera(out_dir: Path, datasets_dir: Path) -> Path:
    """``out_dir/document.y4m`` (built when missing); the portrait is blank without the data."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = out_dir / "document.y4m"
    if not document.exists():
        still_to_y4m(document_still(datasets_dir), document, DOCUMENT_SIZE)
    return document


def build_selfie_camera(
    out_dir: Path,
    datasets_dir: Path,
    script: SelfieScript,
    name: str,
    schedule: SelfieSchedule | None = None,
) -> Path:
    """``out_dir/<name>.y4m`` from ``script`` (built when missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    camera = out_dir / f"{name}.y4m"
    if not camera.exists():
        clip = datasets_dir / REAL_CLIPS / script.clip
        selfie_script_to_y4m(clip, script, schedule or SelfieSchedule(), camera)
    return camera


def build_fake_cameras(out_dir: Path, datasets_dir: Path) -> dict[str, Path]:
    """The document camera and the selfie cameras of ``SELFIE_SCRIPTS`` (built when missing)."""
    cameras = {"document": build_document_camera(out_dir, datasets_dir)}
    for name, script in SELFIE_SCRIPTS.items():
        cameras[name] = build_selfie_camera(out_dir, datasets_dir, script, name)
    return cameras


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--datasets", type=Path, default=REPO_ROOT.parent / "shared" / "datasets")
    args = parser.parse_args(argv)
    for name, path in build_fake_cameras(args.out_dir, args.datasets).items():
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
