"""Liveness evaluation on real people: genuine acceptance per prompt and attacks accepted.

Data: ../shared/datasets/liveness/real (segments.csv, README.md) and the screen/print samples in
../shared/datasets/liveness. Every sequence is sampled as the hosted flow samples the camera
(hosted_flow/js/selfie.js: 12 frames a second, 1 s of neutral frames, then 2.5 s under each
prompt, one continuous stretch), downscaled to 480 px on the long side and JPEG-encoded at
quality 80, at every phase offset of that grid against the clip's own frames (3 offsets for a
30 or 25 fps clip, 1 for the 12 fps clip), then sent as bytes to `verify_challenge`.

A genuine sequence is a segment's neutral window ("neutral" frames: its labelled neutral
stretch, at most the flow's 1 s, the last second of it) followed by its prompt window, tagged
with the segment's prompt: the flow's 2.5 s from the end of the neutral window, one continuous
stretch of the clip. Where the labelled action ends later than that allows (d5_smile, d8_smile:
in the clip the man does other things for 2.6 s and 5.9 s before he smiles, which the flow's
prompt would not wait for), the window is the 2.5 s ending 0.6 s after the action, joined to
the neutral frames within the one scene. `--windows labelled --fps 10` is the sampling of the
figures before 2026-12-01 05:00 UTC: 10 fps, the whole labelled neutral stretch, a prompt window
from its end to 0.6 s after the action (at least 1.5 s), a claimed movement its action +-0.5 s.
`turn_left` is validated on the `turn_right` segment mirrored
left-right (a mirrored right turn is a real left turn of the mirrored person; the README's
direction rule flips with the image), plus both turns of short_hamilton_clip.mp4 ("two_turns":
left then right, and mirrored right then left, at 12 fps like the flow, not with --only).

Attacks built from the same footage (each per segment and phase offset):
- still: the segment's neutral frame, every frame a new hand-held "photo" capture (random small
  rotation, scale and shift, sensor noise, JPEG);
- pair: two stills, neutral then peak (for a blink: neutral, peak for 2 frames, neutral), jittered;
- fade: the same pair with a 3-frame cross-fade between the stills;
- order: a clip's two labelled movements in recorded order, challenged in the opposite order
  (the same frames challenged in the recorded order are the genuine kind "two_prompts", run
  with the attacks);
- claimed: a segment's prompt window (the flow's 2.5 s holding its labelled movement) claimed
  as each other prompt;
- splice: another person's prompt window after this person's neutral frames;
- print / screen: the shared print and screen stills as jittered stills, for every prompt.

Other cameras (`--camera`): every frame, as the browser grabs it and before its JPEG, as a poorer
camera than the dev clips' would give it: `dim` (half the light, with the noise of the gain),
`noisy`, `soft` (out of focus), `low_resolution` (a 320 px camera, scaled up), `far` (the
applicant a third further away), `backlit` (a window behind: the face underexposed, the window
clipped), `shaky` (a hand-held phone: a short directional blur, its own for every frame),
`handheld` (a hand-held phone's view drifting and swaying from frame to frame, 4 px a frame;
`handheld_strong` 8 px);
`--jpeg-quality` the browser's encoding. The attacks are filmed by the same camera.
`--timing` (eval/liveness_capture_timing.py): when the frames are taken, the exact grid
(`grid`), a 30 fps camera's frames (`camera30`), or those grabbed with +-15 ms of jitter and one
in 25 lost (`jittered`).

Run from the repo root: `nice .venv/bin/python eval/liveness_eval.py` (~5 min on a quiet 2-core
machine, ~15-20 min under load). Prints the tables for docs/liveness.md (the last: each rule's
measure on genuine and attack sequences) and writes eval/out/liveness_eval.json.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import operator
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from liveness_capture_timing import CAMERA_FPS, TIMINGS, Timing  # noqa: E402  (beside this script)
from liveness_clip_turns import clip_turns  # noqa: E402

from gateway.synthetic.recapture import HandSway, jittered  # noqa: E402
from gateway.verification.liveness import Challenge, series, verify_challenge  # noqa: E402
from gateway.verification.liveness.head_motion import MAX_MOTION_DISAGREEMENT  # noqa: E402
from gateway.verification.liveness.identity import CUT_SCENE_CHANGE  # noqa: E402
from gateway.verification.liveness.other_movements import (  # noqa: E402
    SMILE_UNDER_OTHER_PROMPT_MS,
    TURN_UNDER_BLINK_MS,
)
from gateway.verification.liveness.planarity import PLANAR_CORRELATION  # noqa: E402

DATA = REPO.parent / "shared" / "datasets" / "liveness"
REAL = DATA / "real"
LONG_SIDE_PX = 480
JPEG_QUALITY = 80
NOW = 1_700_000_000.0
PROMPTS = ("blink", "smile", "turn_left", "turn_right")
# Two movements of one clip (the "order" and "two_prompts" kinds) are seconds apart in the clip:
# a pause between their prompt windows (the tracking detects afresh after it) rather than a join.
GAP_BETWEEN_PROMPTS_MS = 800.0
# The hosted flow's capture (hosted_flow/js/selfie.js DEFAULT_CAPTURE: fps, neutral_ms, prompt_ms).
FLOW_FPS = 12.0
FLOW_NEUTRAL_S = 1.0
FLOW_PROMPT_S = 2.5
# The labelled sampling's prompt window: to this long after the action, at least MIN_WINDOW_S.
AFTER_ACTION_S = 0.6
MIN_WINDOW_S = 1.5


@dataclass
class Segment:
    id: str
    clip: str
    prompt: str
    neutral: tuple[float, float]
    action: tuple[float, float]
    peak: float
    mirrored: bool = False


class Clip:
    """Decoded frames of one video at the flow's resolution (RGB), with its frame rate."""

    def __init__(self, path: Path, mirrored: bool = False) -> None:
        capture = cv2.VideoCapture(str(path))
        self.fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.frames = []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            height, width = bgr.shape[:2]
            scale = LONG_SIDE_PX / max(height, width)
            bgr = cv2.resize(
                bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            self.frames.append(np.ascontiguousarray(rgb[:, ::-1]) if mirrored else rgb)
        capture.release()

    def at(self, seconds: float) -> np.ndarray:
        return self.frames[min(len(self.frames) - 1, max(0, round(seconds * self.fps)))]

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps


# --camera: a poorer camera than the dev clips' (each frame as the browser grabs it, before its
# JPEG): how far the thresholds carry to other capture conditions. The rng gives every frame
# its own sensor noise.
_camera_rng = np.random.default_rng(7)


def _noisy(rgb: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(rgb + _camera_rng.normal(0, sigma, rgb.shape), 0, 255).astype(np.uint8)


def _far(rgb: np.ndarray, scale: float = 0.75) -> np.ndarray:
    """The applicant a third further away: the scene shrunk onto the same frame size."""
    height, width = rgb.shape[:2]
    small = cv2.resize(rgb, (round(width * scale), round(height * scale)), cv2.INTER_AREA)
    canvas = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 8)  # the room around, out of focus
    top, left = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def _low_resolution(rgb: np.ndarray, long_side: int = 320) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    small = cv2.resize(rgb, (round(width * scale), round(height * scale)), cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _backlit(rgb: np.ndarray) -> np.ndarray:
    """A window behind the applicant: the camera exposes for it, so the face and everything in
    front are at 0.35 of the light (1.5 stops under), the window is clipped white, glare from it
    lifts the blacks by 25 grey levels, and the gain adds noise (sigma 3). The window is where
    the person does not hide it: the upper corners, outside an ellipse standing on the frame's
    bottom edge that holds the top's middle 60 % (a face near the top, as in the shared clip's
    stage shot, stays in front of it; a window's edge drawn across a face would be no camera's
    picture)."""
    height, width = rgb.shape[:2]
    rows, cols = np.ogrid[:height, :width]
    inside = ((cols - width / 2) / (0.5 * width)) ** 2 + (
        (rows - 0.85 * height) / (1.05 * height)
    ) ** 2
    window = cv2.GaussianBlur((inside > 1.0).astype(np.float32), (0, 0), 0.02 * width)
    lit = rgb * 0.35 + 25.0 + 255.0 * window[..., None]
    return _noisy(lit, 3.0)


def _shaky(rgb: np.ndarray) -> np.ndarray:
    """A hand-held phone: every frame blurred along its own direction (uniform over 180 deg) by
    its own length (uniform 2-8 px at the flow's 480 px, over one exposure)."""
    length = _camera_rng.uniform(2.0, 8.0)
    angle = _camera_rng.uniform(0.0, math.pi)
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.float32)
    centre = size // 2
    for step in np.linspace(-length / 2, length / 2, 4 * size):
        kernel[round(centre + step * math.sin(angle)), round(centre + step * math.cos(angle))] = 1.0
    return cv2.filter2D(rgb, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


CAMERAS = {
    "as_filmed": lambda rgb: rgb,
    "dim": lambda rgb: _noisy(rgb * 0.5, 4.0),  # half the light, the gain's noise
    "noisy": lambda rgb: _noisy(rgb, 6.0),
    "soft": lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 1.2),  # focus or motion blur
    "low_resolution": _low_resolution,  # a 320 px camera, upscaled by the browser
    "far": _far,
    "backlit": _backlit,  # a window behind the applicant
    "shaky": _shaky,  # a hand-held phone's motion blur, its own for every frame
    # a hand-held phone's view drifting and swaying between frames (recapture.HandSway); each
    # call is the next frame (jpeg() films them in order), so one sequence is one path
    "handheld": HandSway(_camera_rng, 4.0),
    "handheld_strong": HandSway(_camera_rng, 8.0),  # twice as fast (re-framing as one turns)
}
# What jpeg() and build() apply; main() sets them from --camera, --jpeg-quality and --timing.
capture_settings = {"camera": CAMERAS["as_filmed"], "quality": JPEG_QUALITY, "timing": Timing()}


def jpeg(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(
        ".jpg",
        cv2.cvtColor(capture_settings["camera"](rgb), cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, capture_settings["quality"]],
    )
    assert ok
    return encoded.tobytes()


@dataclass
class Footage:
    """A clip filmed at these times (the clip's seconds): which frame each capture shows is the
    timing's (--timing), so build() takes the frames from the clip itself."""

    clip: Clip
    times: list[float]

    def __len__(self) -> int:
        return len(self.times)


def window_times(start_s: float, end_s: float, offset_s: float, interval_s: float) -> list[float]:
    return list(np.arange(start_s + offset_s, end_s, interval_s))


def neutral_window(segment: Segment, flow: bool) -> tuple[float, float]:
    """The labelled neutral stretch; with the flow's sampling at most its last second."""
    start, end = segment.neutral
    return (max(start, end - FLOW_NEUTRAL_S), end) if flow else (start, end)


def prompt_window(segment: Segment, clip: Clip, flow: bool) -> tuple[float, float]:
    """Where the prompt's frames come from (module docstring)."""
    start = segment.neutral[1]
    if not flow:
        end = max(segment.action[1] + AFTER_ACTION_S, start + MIN_WINDOW_S)
        return start, min(end, clip.duration_s - 1e-3)
    if segment.action[1] > start + FLOW_PROMPT_S:
        # The labelled action ends too late for a window continuous with the neutral frames
        # (d5_smile, d8_smile): the 2.5 s ending 0.6 s after it.
        end = min(segment.action[1] + AFTER_ACTION_S, clip.duration_s - 1e-3)
        return end - FLOW_PROMPT_S, end
    # Where the clip ends first (d0, d13_blink_d, xp_blink), the window is cut short there.
    return start, min(start + FLOW_PROMPT_S, clip.duration_s - 1e-3)


def build(
    blocks: list[tuple[str, list[np.ndarray] | Footage]],
    interval_ms: float,
    gap_ms: float = GAP_BETWEEN_PROMPTS_MS,
) -> list[dict]:
    """Frames as the flow sends them: bytes, prompt, t_ms (`gap_ms` between two prompts).

    Each block is a clip filmed at given times (Footage) or a list of images (stills, pairs),
    one a frame on the grid; the timing (--timing) decides which are sent, the clip's frame each
    shows and its `t_ms` (the list's images keep their order: a still shows the same thing a
    few ms earlier)."""
    timing = capture_settings["timing"]
    frames, t_ms = [], 0.0
    for position, (prompt, source) in enumerate(blocks):
        if position > 1:
            t_ms += gap_ms
        nominal_ms = []
        for _ in range(len(source)):
            nominal_ms.append(t_ms)
            t_ms += interval_ms
        if isinstance(source, Footage):
            nominal_s = source.times
            # the camera's frames: a 30 fps camera's, or the clip's own where it was filmed
            # slower (d0, d12 at 25 fps, xp at 12): a camera faster than the footage would show
            # one of its frames twice, which no camera filming a live person does
            taken = timing.taken(nominal_s, camera_fps=min(CAMERA_FPS, source.clip.fps))
        else:
            nominal_s = [ms / 1000.0 for ms in nominal_ms]
            taken = timing.taken(nominal_s)
        for index, shown_s in taken:
            image = source.clip.at(shown_s) if isinstance(source, Footage) else source[index]
            stamp = timing.stamp(nominal_ms[index], shown_s - nominal_s[index])
            frames.append({"image": jpeg(image), "prompt": prompt, "t_ms": stamp})
    if frames and not timing.exact:
        # the page stamps from the burst's start: its first frame at 0
        first = frames[0]["t_ms"]
        for frame in frames:
            frame["t_ms"] -= first
    return frames


def run(prompts: list[str], frames: list[dict]) -> dict:
    challenge = Challenge(id="eval", prompts=tuple(prompts), issued_at=NOW, expires_at=NOW + 600)
    started = time.perf_counter()
    result = verify_challenge(challenge, frames, now=NOW + 1)
    elapsed_ms = (time.perf_counter() - started) * 1000
    body = result.as_dict()
    return {
        "is_live": body["is_live"],
        "hint": (body["hint_codes"] or ["none"])[0],
        "hints": body["hint_codes"],
        "details": body["challenge"]["details"],
        "identity_spread": body["identity"].get("max_distance_to_medoid"),
        "stillness": (body["frames"].get("stillness") or {}).get("residual"),
        "scene_change": (body["frames"].get("continuity") or {}).get("largest_scene_change"),
        "ms": elapsed_ms,
        "frames": len(frames),
    }


def load_segments(folder: Path = REAL) -> list[Segment]:
    """The segments of `folder`/segments.csv, and each turn_right mirrored as a left turn."""
    segments = []
    with (folder / "segments.csv").open() as handle:
        for row in csv.DictReader(handle):
            segments.append(
                Segment(
                    id=row["id"],
                    clip=row["file"],
                    prompt=row["prompt"],
                    neutral=(float(row["neutral_start_s"]), float(row["neutral_end_s"])),
                    action=(float(row["action_start_s"]), float(row["action_end_s"])),
                    peak=float(row["peak_s"]),
                )
            )
    mirrored = [
        Segment(
            id=f"{s.id}_mirrored",
            clip=s.clip,
            prompt="turn_left",
            neutral=s.neutral,
            action=s.action,
            peak=s.peak,
            mirrored=True,
        )
        for s in segments
        if s.prompt == "turn_right"
    ]
    return segments + mirrored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--fps", type=float, default=FLOW_FPS, help="capture rate (the flow's 12; 10 before)"
    )
    parser.add_argument(
        "--windows",
        choices=("flow", "labelled"),
        default="flow",
        help="flow: the flow's 1 s neutral and 2.5 s prompts; labelled: the windows before",
    )
    parser.add_argument("--only", default="", help="comma-separated segment ids")
    parser.add_argument(
        "--camera",
        choices=tuple(CAMERAS),
        default="as_filmed",
        help="every frame as a poorer camera would grab it (dim, noisy, soft, ...)",
    )
    parser.add_argument(
        "--timing",
        choices=TIMINGS,
        default="grid",
        help="when frames are taken: the exact grid, a 30 fps camera's frames, or those jittered"
        " with one in 25 lost (eval/liveness_capture_timing.py)",
    )
    parser.add_argument(
        "--jpeg-quality", type=int, default=JPEG_QUALITY, help="the browser's JPEG quality"
    )
    parser.add_argument("--no-attacks", action="store_true")
    parser.add_argument(
        "--kinds", default="", help="comma-separated attack kinds to run (default: all)"
    )
    parser.add_argument(
        "--out",
        help="results file (eval/out/liveness_eval.json, or liveness_eval_<folder name>.json"
        " with --real)",
    )
    parser.add_argument(
        "--real",
        default=str(REAL),
        help="a folder of clips with their segments.csv (the shared set's columns) to measure"
        " instead of the shared set; the shared head-turn clip and print/screen stills are then"
        " left out",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    capture_settings.update(
        camera=CAMERAS[args.camera], quality=args.jpeg_quality, timing=Timing(args.timing)
    )
    real = Path(args.real)
    if not (real / "segments.csv").is_file():
        print(f"dataset not found at {real}", file=sys.stderr)
        return 2
    # the shared set's own extras (its head-turn clip, its print and screen stills)
    shared_extras = real.resolve() == REAL.resolve()
    if not shared_extras:
        print(f"measuring {real}: the shared head-turn clip and print/screen stills left out")
    interval_ms = 1000.0 / args.fps
    interval_s = interval_ms / 1000.0
    flow = args.windows == "flow"
    segments = load_segments(real)
    if args.only:
        segments = [s for s in segments if s.id in args.only.split(",")]
    clips: dict[tuple[str, bool], Clip] = {}

    def clip_of(segment: Segment) -> Clip:
        key = (segment.clip, segment.mirrored)
        if key not in clips:
            clips[key] = Clip(real / segment.clip, mirrored=segment.mirrored)
        return clips[key]

    rng = np.random.default_rng(12)
    results: dict[str, list[dict]] = defaultdict(list)

    kinds = set(filter(None, args.kinds.split(",")))

    def record(kind: str, segment_id: str, offset: float, prompts: list[str], frames: list[dict]):
        if kinds and not kind.startswith("genuine") and kind.split(":")[0] not in kinds:
            return {}
        outcome = run(prompts, frames)
        outcome.update(segment=segment_id, offset_ms=round(offset * 1000), prompts=prompts)
        results[kind].append(outcome)
        return outcome

    def offsets(clip: Clip) -> list[float]:
        step = 1.0 / clip.fps
        return [k * step for k in range(max(1, int(np.ceil(interval_s / step - 1e-6))))]

    # --- genuine ------------------------------------------------------------------------------
    for segment in segments:
        clip = clip_of(segment)
        for offset in offsets(clip):
            neutral_times = window_times(*neutral_window(segment, flow), offset, interval_s)
            neutral = Footage(clip, neutral_times)
            start, end = prompt_window(segment, clip, flow)
            action = Footage(clip, window_times(start, end, offset, interval_s))
            frames = build([("neutral", neutral), (segment.prompt, action)], interval_ms)
            kind = f"genuine:{segment.prompt}"
            outcome = record(kind, segment.id, offset, [segment.prompt], frames)
            if not outcome["is_live"]:
                print(
                    f"  genuine refused: {segment.id} +{offset * 1000:.0f} ms {outcome['hints']}"
                    f" {[d['reason'] for d in outcome['details'] if not d['satisfied']]}"
                )

    if not args.only and shared_extras:
        clip_turns(record, DATA / "short_hamilton_clip.mp4", jpeg, capture_settings["timing"])

    if not args.no_attacks:
        attacks(segments, clip_of, offsets, interval_s, flow, rng, record, shared_extras)

    report(results)
    report_measures(results)
    name = "liveness_eval" if shared_extras else f"liveness_eval_{real.name}"
    out = Path(args.out) if args.out else REPO / "eval" / "out" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float))
    return 0


def attacks(segments, clip_of, offsets, interval_s, flow, rng, record, shared_extras) -> None:
    interval_ms = interval_s * 1000.0
    by_prompt = defaultdict(list)
    for segment in segments:
        by_prompt[segment.prompt].append(segment)
    for segment in segments:
        clip = clip_of(segment)
        start, end = prompt_window(segment, clip, flow)
        neutral_still = clip.at((segment.neutral[0] + segment.neutral[1]) / 2)
        peak_still = clip.at(segment.peak)
        for offset in offsets(clip)[:1] if segment.mirrored else offsets(clip):
            neutral_times = window_times(*neutral_window(segment, flow), offset, interval_s)
            action_times = window_times(start, end, offset, interval_s)
            n_neutral, n_action = max(len(neutral_times), 3), max(len(action_times), 8)
            stills_neutral = [jittered(neutral_still, rng) for _ in range(n_neutral)]
            # one still
            record(
                "still",
                segment.id,
                offset,
                [segment.prompt],
                build(
                    [
                        ("neutral", stills_neutral),
                        (segment.prompt, [jittered(neutral_still, rng) for _ in range(n_action)]),
                    ],
                    interval_ms,
                ),
            )
            # two stills, with and without a cross-fade
            switch = n_action // 3
            for kind, fade in (("pair", 0), ("fade", 3)):
                images = []
                for k in range(n_action):
                    if segment.prompt == "blink":
                        weight = 1.0 if switch <= k < switch + 2 else 0.0
                        if fade and (k == switch - 1 or k == switch + 2):
                            weight = 0.5
                    elif k < switch:
                        weight = 0.0
                    else:
                        weight = min(1.0, (k - switch + 1) / (fade + 1)) if fade else 1.0
                    mixed = (1 - weight) * neutral_still.astype(np.float32) + weight * peak_still
                    images.append(jittered(mixed.astype(np.uint8), rng))
                record(
                    kind,
                    segment.id,
                    offset,
                    [segment.prompt],
                    build([("neutral", stills_neutral), (segment.prompt, images)], interval_ms),
                )
            # the segment's movement claimed as each other prompt: its prompt window (flow), or
            # its action window +-0.5 s (labelled)
            neutral = Footage(clip, neutral_times)
            if flow:
                movement_start, movement_end = start, end
            else:
                movement_start = max(segment.action[0] - 0.5, segment.neutral[1])
                movement_end = min(segment.action[1] + 0.5, clip.duration_s)
            movement = Footage(clip, window_times(movement_start, movement_end, offset, interval_s))
            for other in PROMPTS:
                if other != segment.prompt:
                    record(
                        f"claimed:{other}",
                        segment.id,
                        offset,
                        [other],
                        build([("neutral", neutral), (other, movement)], interval_ms),
                    )
            # another person spliced in: their window of the same prompt after these neutrals
            for donor in by_prompt[segment.prompt]:
                if donor.clip == segment.clip:
                    continue
                donor_clip = clip_of(donor)
                d_start, d_end = prompt_window(donor, donor_clip, flow)
                donor_action = Footage(donor_clip, window_times(d_start, d_end, 0.0, interval_s))
                record(
                    "splice",
                    f"{segment.id}<-{donor.id}",
                    offset,
                    [segment.prompt],
                    build([("neutral", neutral), (segment.prompt, donor_action)], interval_ms),
                )
                break
    # recorded order against the challenged order: two labelled movements of one clip
    by_clip = defaultdict(list)
    for segment in segments:
        if not segment.mirrored:
            by_clip[segment.clip].append(segment)
    for clip_segments in by_clip.values():
        for first, second in itertools.combinations(sorted(clip_segments, key=lambda s: s.peak), 2):
            clip = clip_of(first)
            a_start, a_end = prompt_window(first, clip, flow)
            b_start, b_end = prompt_window(second, clip, flow)
            if flow and a_end < second.action[0]:
                # the flow's second prompt follows the first without a pause: where the two
                # windows meet (d12: the smile's 2.5 s end 0.05 s into the turn's), one stretch
                b_start = max(b_start, a_end)
            if first.prompt == second.prompt or a_end > b_start:
                continue
            # one stretch of the clip when the windows meet, else a pause between them
            gap_ms = 0.0 if b_start - a_end < 1e-6 else GAP_BETWEEN_PROMPTS_MS
            for offset in offsets(clip):
                neutral_times = window_times(*neutral_window(first, flow), offset, interval_s)
                neutral = Footage(clip, neutral_times)
                a = Footage(clip, window_times(a_start, a_end, offset, interval_s))
                b = Footage(clip, window_times(b_start, b_end, offset, interval_s))
                # genuine: the two movements challenged in the order they were made (checks
                # that a rule about the previous prompt's window refuses no real sequence);
                # order: recorded first then second, challenged second then first
                for kind, (prompt_a, prompt_b) in (
                    ("genuine:two_prompts", (first.prompt, second.prompt)),
                    ("order", (second.prompt, first.prompt)),
                ):
                    frames = build(
                        [("neutral", neutral), (prompt_a, a), (prompt_b, b)], interval_ms, gap_ms
                    )
                    record(kind, f"{first.id}+{second.id}", offset, [prompt_a, prompt_b], frames)
    # print and screen samples, as stills for every prompt (the flow's frame counts; 8 + 20
    # frames with the labelled sampling)
    n_neutral, n_prompt = (
        (round(FLOW_NEUTRAL_S / interval_s), round(FLOW_PROMPT_S / interval_s)) if flow else (8, 20)
    )
    if not shared_extras:
        return
    for name, kind in (("still_print_F1.jpg", "print"), ("still_screen_F2.jpg", "screen")):
        bgr = cv2.imread(str(DATA / name))
        height, width = bgr.shape[:2]
        scale = LONG_SIDE_PX / max(height, width)
        rgb = cv2.cvtColor(
            cv2.resize(bgr, (round(width * scale), round(height * scale))), cv2.COLOR_BGR2RGB
        )
        for prompt in PROMPTS:
            for _ in range(3):
                record(
                    kind,
                    name,
                    0.0,
                    [prompt],
                    build(
                        [
                            ("neutral", [jittered(rgb, rng) for _ in range(n_neutral)]),
                            (prompt, [jittered(rgb, rng) for _ in range(n_prompt)]),
                        ],
                        interval_ms,
                    ),
                )


# Each prompt rule's measure (PromptOutcome.measures, and the head movements' pixel and plane
# tests) with its threshold and the side a live sequence must be on: ">=" passes at or above.
RULES = {
    ("blink", "lowest_eyelid_ratio"): ("<=", series.BLINK_CLOSED_RATIO),
    ("blink", "smile_formed_ms"): ("<", SMILE_UNDER_OTHER_PROMPT_MS),
    # refuses only with head_turned_deg_s >= series.TURN_MIN_PAST_DEG_S (not a rule of its own:
    # a genuine blink's head jerk, xp's 18 deg for ~113 ms, is 0.35 deg*s)
    ("blink", "head_turned_ms"): ("<", TURN_UNDER_BLINK_MS),
    ("smile", "held_widening"): (">=", series.SMILE_WIDEN_RATIO),
    ("smile", "held_ms"): (">=", series.SMILE_MIN_HOLD_MS),
    ("smile", "corner_balance"): (">=", series.SMILE_MIN_CORNER_BALANCE),
    ("smile", "largest_step_fraction"): ("<=", series.SMILE_MAX_STEP_FRACTION),
    ("smile", "lip_closures"): ("<", series.SMILE_SPEECH_CLOSURES),
    ("turn", "peak_deg"): (">=", series.TURN_YAW_DEG),
    ("turn", "largest_step_fraction"): ("<=", series.TURN_MAX_STEP_FRACTION),
    ("turn", "held_ms"): (">=", series.TURN_MIN_HOLD_MS),
    ("turn", "past_deg_s"): (">=", series.TURN_MIN_PAST_DEG_S),
    ("turn", "smile_formed_ms"): ("<", SMILE_UNDER_OTHER_PROMPT_MS),
    ("turn", "motion_agreement"): ("<=", MAX_MOTION_DISAGREEMENT),
    ("turn", "planar_fit"): ("<", PLANAR_CORRELATION),
}


def measure_values(results: dict[str, list[dict]]) -> dict[tuple[str, str], dict[str, list]]:
    """{(prompt, measure): {"genuine" or attack kind: [value, ...]}} from every decided prompt."""
    values: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for kind, rows in results.items():
        group = "genuine" if kind.startswith("genuine") else kind
        for row in rows:
            for detail in row["details"]:
                prompt = "turn" if detail["prompt"].startswith("turn_") else detail["prompt"]
                measured = dict(detail.get("measures", {}))
                for name in ("motion_agreement", "planar_fit"):
                    if detail.get(name) is not None:
                        measured[name] = detail[name]
                for name, value in measured.items():
                    values[(prompt, name)][group].append(value)
    return values


# The comparison a live value passes: a value exactly at a strict limit is not past it.
LIVE_SIDE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def past(value: float, side: str, threshold: float) -> float:
    """How far `value` sits on the live side of `threshold`, as a ratio (> 1: past it)."""
    if side.startswith(">"):
        return value / threshold
    return threshold / value if value > 0 else math.inf


def report_measures(results: dict[str, list[dict]]) -> None:
    """Each rule's genuine range against every attack kind's, and the margins on either side.

    A genuine margin is how far the weakest genuine value sits past the threshold (a ratio);
    an attack's is how far its strongest value sits short of it, < 1 when some of that kind are
    past it ("n past it": refused by another rule, or accepted). Attacks refused before a rule
    was reached have no value for it.
    """
    values = measure_values(results)
    print("\n| prompt | measure | live when | genuine (n) | margin | attack: range (n), margin |")
    print("|---|---|---|---|---|---|")
    for (prompt, name), (side, threshold) in RULES.items():
        groups = values.get((prompt, name), {})
        genuine = groups.get("genuine", [])
        genuine_text = f"{min(genuine):.3g}-{max(genuine):.3g} ({len(genuine)})" if genuine else "-"
        weakest = min((past(v, side, threshold) for v in genuine), default=math.nan)
        attacks_text = []
        for kind in sorted(k for k in groups if k != "genuine"):
            found = groups[kind]
            strongest = max(past(v, side, threshold) for v in found)
            short_by = 1 / strongest if strongest > 0 else math.inf
            passing = sum(LIVE_SIDE[side](v, threshold) for v in found)
            attacks_text.append(
                f"{kind} {min(found):.3g}-{max(found):.3g} ({len(found)}"
                + (f", {passing} past it" if passing else "")
                + f"), {short_by:.2f}x"
            )
        print(
            f"| {prompt} | {name} | {side} {threshold:g} | {genuine_text} | {weakest:.2f}x | "
            + "; ".join(attacks_text)
            + " |"
        )


def print_ranges(results: dict[str, list[dict]], key: str, title: str) -> None:
    """One measure's range per kind, over the bursts that got far enough to measure it."""
    print(f"\n{title}; measured only on bursts that got that far:")
    for kind in sorted(results):
        values = [row[key] for row in results[kind] if row.get(key) is not None]
        if values:
            print(f"  {kind}: {len(values)} bursts, {min(values):.3f}-{max(values):.3f}")


def report(results: dict[str, list[dict]]) -> None:
    print("\n| presentation | sequences | accepted | rate | refusals (first hint) |")
    print("|---|---|---|---|---|")
    for kind in sorted(results, key=lambda k: (not k.startswith("genuine"), k)):
        rows = results[kind]
        accepted = sum(row["is_live"] for row in rows)
        hints = Counter(row["hint"] for row in rows if not row["is_live"])
        print(
            f"| {kind} | {len(rows)} | {accepted} | {100 * accepted / len(rows):.0f} % | "
            + ", ".join(f"{h} {n}" for h, n in hints.most_common())
            + " |"
        )
    genuine = [row for kind, rows in results.items() if kind.startswith("genuine") for row in rows]
    if genuine:
        times = np.array([row["ms"] for row in genuine])
        mean_frames = np.mean([row["frames"] for row in genuine])
        print(
            f"\nverify_challenge on genuine sequences ({mean_frames:.0f} frames on average): "
            f"p50 {np.percentile(times, 50):.0f} ms, "
            f"p95 {np.percentile(times, 95):.0f} ms"
        )
    print_ranges(results, "stillness", "stillness residual (stillness.py)")
    print_ranges(
        results,
        "scene_change",
        "largest scene change between frames <= 300 ms apart (identity.continuity; a cut past "
        f"{CUT_SCENE_CHANGE})",
    )
    for kind, rows in results.items():
        if kind.startswith("genuine"):
            for row in rows:
                if not row["is_live"]:
                    print(f"  REFUSED genuine {kind}: {row['segment']} +{row['offset_ms']} ms")
        else:
            for row in rows:
                if row["is_live"]:
                    print(f"  ACCEPTED attack {kind}: {row['segment']} +{row['offset_ms']} ms")


if __name__ == "__main__":
    raise SystemExit(main())
