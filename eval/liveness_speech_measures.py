"""Speech against a smile: the measures tried and not kept, on the sequences that pass as smiles.

docs/liveness.md ("Movements claimed as another prompt", "Speech told from a smile") reports
three measures that might tell talking from a brief smile and why none became a rule. This
prints them, so the figures there can be checked and re-measured on other footage:

- the neutral second's lip opening (the median gap, and its range: a talking neutral);
- how many times the mouth takes the smile's shape (runs of >= 2 smiling frames, counted apart
  only when the widening falls back under half the rule's, 1 + (SMILE_WIDEN_RATIO - 1) / 2);
- the lips' movement during the held smile (the lip opening's summed frame-to-frame change over
  the held run, a second; outer-eye units, as every mouth measure).

For three kinds of sequence, each sampled as eval/liveness_eval.py samples the flow (12 fps,
1 s of neutral frames, 2.5 s under the prompt, 480 px, JPEG q80, every phase offset): the
labelled smiles (genuine), every other segment's prompt window claimed as a smile, and every
2.5 s window slid along each dev clip (starts --step apart, the second before as neutral,
liveness_talk_sweep.py's windows). Only sequences `verify_challenge` finds live are listed (the
rules already refuse the others), unless --all. Windows slid along a clip are unlabelled: read
their starts against the frames before calling one talk or a smile.

Run from the repo root: `nice .venv/bin/python eval/liveness_speech_measures.py` (~10 min on 2
cores; `--no-slide` for the eval's own sequences only, ~1 min).
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from dataclasses import dataclass

import numpy as np
from liveness_eval import (
    FLOW_FPS,
    FLOW_NEUTRAL_S,
    FLOW_PROMPT_S,
    REAL,
    Clip,
    build,
    load_segments,
    neutral_window,
    prompt_window,
    run,
    window_times,
)

from gateway.verification.liveness import series
from gateway.verification.liveness.frames import NEUTRAL_PROMPT, parse_frames
from gateway.verification.liveness.tracking import TrackedFrame, track

# A smile-shaped run ends, for counting, only where the widening falls back under this.
APART_WIDENING = 1.0 + (series.SMILE_WIDEN_RATIO - 1.0) / 2.0


@dataclass
class SpeechMeasures:
    neutral_opening: float  # median lip gap over the neutral frames
    neutral_opening_range: float  # its largest minus its smallest
    smile_runs: int
    held_ms: float
    lips_per_s: float  # summed |change of the lip opening| over the held run, a second


def measure(frames: list[dict]) -> SpeechMeasures | None:
    """The measures on one sequence (neutral frames, then smile frames); None without a face.

    Without a held smile-shaped run, only the neutral measures (runs 0, the rest NaN).
    """
    tracked = track(parse_frames(frames))
    neutral = [item for item in tracked if item.prompt == NEUTRAL_PROMPT and item.has_face]
    prompt = [item for item in tracked if item.prompt != NEUTRAL_PROMPT]
    if not neutral or not prompt:
        return None
    yaw = series.median_or_nan([item.yaw_deg for item in neutral])

    def frontal(item: TrackedFrame) -> bool:
        return item.has_face and abs(item.yaw_deg - yaw) <= series.FRONTAL_YAW_DEG

    base = [item for item in neutral if frontal(item)] or neutral
    width = series.median_or_nan([item.mouth_width for item in base])
    lift = series.median_or_nan([item.mouth_lift for item in base])
    openings = [item.mouth_opening for item in base]
    widening = np.array([item.mouth_width / width if frontal(item) else np.nan for item in prompt])
    lifted = np.array([item.mouth_lift - lift if frontal(item) else np.nan for item in prompt])
    smiling = (widening >= series.SMILE_WIDEN_RATIO) & (lifted >= series.SMILE_LIFT)
    held = [(begin, end) for begin, end in series.runs(smiling) if end - begin >= 2]
    neutral_opening, neutral_range = float(np.median(openings)), float(np.ptp(openings))
    if not held:
        return SpeechMeasures(neutral_opening, neutral_range, 0, math.nan, math.nan)
    times = np.array([item.t_ms for item in prompt])
    episodes = 1
    for (_, end), (begin, _) in itertools.pairwise(held):
        between = widening[end:begin]  # frames without a face in view do not part two runs
        if np.isfinite(between).any() and np.nanmin(between) < APART_WIDENING:
            episodes += 1
    begin, end = max(held, key=lambda run: (times[run[1] - 1] - times[run[0]], -run[0]))
    held_ms = float(times[end - 1] - times[begin])
    opening = np.array([item.mouth_opening for item in prompt[begin:end]])
    moved = float(np.nansum(np.abs(np.diff(opening))))
    return SpeechMeasures(
        neutral_opening=neutral_opening,
        neutral_opening_range=neutral_range,
        smile_runs=episodes,
        held_ms=held_ms,
        lips_per_s=moved / (held_ms / 1000.0) if held_ms > 0 else math.nan,
    )


def row(kind: str, name: str, frames: list[dict], every: bool) -> str | None:
    """One printed line for a sequence found live as a smile (any sequence with `every`)."""
    live = run(["smile"], frames)["is_live"]
    if not live and not every:
        return None
    found = measure(frames)
    verdict = "live   " if live else "refused"
    if found is None:
        return f"{kind:8} {name:28} {verdict} (no face in the neutral or the prompt's frames)"
    line = (
        f"{kind:8} {name:28} {verdict} neutral gap {found.neutral_opening:.3f} range "
        f"{found.neutral_opening_range:.3f}  runs {found.smile_runs}"
    )
    if found.smile_runs:
        line += f"  held {found.held_ms:4.0f} ms  lips {found.lips_per_s:.2f}/s"
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=float, default=0.25, help="seconds between slid windows")
    parser.add_argument("--no-slide", action="store_true", help="the eval's sequences only")
    parser.add_argument(
        "--all", action="store_true", help="every sequence, also those refused as a smile"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    if not (REAL / "segments.csv").is_file():
        print(f"dataset not found at {REAL}", file=sys.stderr)
        return 2
    interval_s = 1.0 / FLOW_FPS
    clips: dict[str, Clip] = {}
    segments = [segment for segment in load_segments() if not segment.mirrored]
    for segment in segments:
        clip = clips.setdefault(segment.clip, Clip(REAL / segment.clip))
        step = 1.0 / clip.fps
        for k in range(max(1, math.ceil(interval_s / step - 1e-6))):
            offset = k * step
            neutral_times = window_times(*neutral_window(segment, True), offset, interval_s)
            start, end = prompt_window(segment, clip, True)
            frames = build(
                [
                    ("neutral", [clip.at(t) for t in neutral_times]),
                    ("smile", [clip.at(t) for t in window_times(start, end, offset, interval_s)]),
                ],
                interval_s * 1000.0,
            )
            kind = "genuine" if segment.prompt == "smile" else "claimed"
            line = row(kind, f"{segment.id} +{offset * 1000:.0f} ms", frames, args.all)
            if line:
                print(line)
    if args.no_slide:
        return 0
    for name in sorted(path.name for path in REAL.glob("*.mp4")):
        clip = clips.setdefault(name, Clip(REAL / name))
        for start in np.arange(FLOW_NEUTRAL_S, clip.duration_s - FLOW_PROMPT_S, args.step):
            neutral = np.arange(start - FLOW_NEUTRAL_S, start, interval_s)
            window = np.arange(start, start + FLOW_PROMPT_S, interval_s)
            frames = build(
                [
                    ("neutral", [clip.at(t) for t in neutral]),
                    ("smile", [clip.at(t) for t in window]),
                ],
                interval_s * 1000.0,
            )
            line = row("slid", f"{name} at {start:.2f} s", frames, args.all)
            if line:
                print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
