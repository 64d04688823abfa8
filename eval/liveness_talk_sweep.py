"""How often talking passes as a smile: every window of the dev set's talking clips, claimed.

The eval's "claimed" attacks replay the labelled segments' windows only; talking footage holds
many more. This slides the flow's capture (1 s of neutral frames, then 2.5 s under a `smile`
prompt, 12 fps, 480 px, JPEG q80: eval/liveness_eval.py's sampling) along each clip and counts
the windows `verify_challenge` finds live. Outside the labelled segments the clips are not
labelled: a window that passes may hold a real smile (d13 smiles at 6.4-8.5 s), so read the
starts it prints against the frames before calling one an attack (docs/liveness.md, "Movements
claimed as another prompt").

Run from the repo root: `.venv/bin/python eval/liveness_talk_sweep.py` (~25 s on 2 cores;
`--clips all` for every dev clip, ~2 min; `--no-speech-rule` for what the smile's speech rule
changes).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from liveness_eval import FLOW_FPS, FLOW_NEUTRAL_S, FLOW_PROMPT_S, REAL, Clip, build, run

from gateway.verification.liveness import series

# The dev clips whose people talk through them (the dataset's README and segments.csv notes).
TALKING_CLIPS = ("d13.mp4", "d10.mp4")


def sweep(name: str, step_s: float) -> tuple[int, list[float]]:
    """(windows, starts of those found live) for one clip."""
    clip = Clip(REAL / name)
    interval_s = 1.0 / FLOW_FPS
    starts = np.arange(FLOW_NEUTRAL_S, clip.duration_s - FLOW_PROMPT_S, step_s)
    live = []
    for start in starts:
        neutral = [clip.at(t) for t in np.arange(start - FLOW_NEUTRAL_S, start, interval_s)]
        window = [clip.at(t) for t in np.arange(start, start + FLOW_PROMPT_S, interval_s)]
        frames = build([("neutral", neutral), ("smile", window)], interval_s * 1000.0)
        if run(["smile"], frames)["is_live"]:
            live.append(round(float(start), 2))
    return len(starts), live


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=float, default=0.25, help="seconds between window starts")
    parser.add_argument(
        "--clips",
        default=",".join(TALKING_CLIPS),
        help="comma-separated clip names, or 'all' for every clip of the dev set (its smiles, "
        "laughs and grimaces too: read each live start against the frames)",
    )
    parser.add_argument(
        "--no-speech-rule",
        action="store_true",
        help="the smile prompt without its speech rule (series.SMILE_SPEECH_CLOSURES out of "
        "reach): what the rule changes, measured in the same minutes",
    )
    args = parser.parse_args()
    if args.no_speech_rule:
        series.SMILE_SPEECH_CLOSURES = sys.maxsize
    if not (REAL / "segments.csv").is_file():
        print(f"dataset not found at {REAL}", file=sys.stderr)
        return 2
    names = args.clips.split(",")
    if args.clips == "all":
        names = sorted(path.name for path in REAL.glob("*.mp4"))
    for name in names:
        windows, live = sweep(name, args.step)
        print(f"{name}: {len(live)} of {windows} windows pass as a smile; starts (s): {live}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
