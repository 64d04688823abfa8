"""The shared head-turn clip's two turns as a genuine kind of eval/liveness_eval.py ("two_turns").

A clip of one man turning left, then right, with no rest long enough for the flow's 1 s of
neutral frames; the spans below are where his head rests and where each turn begins and ends
(yaw from the face mesh at the clip's 30 fps; docs/liveness.md, "Measured on real people").
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# short_hamilton_clip.mp4 (29.97 fps, 640x360): the head at rest after an earlier turn (frames
# 143-146), a turn to the left (peak at 160, back by 168), a turn to the right (from 180; the shot
# cuts at 211). Frame spans [start, end), as tests/worker_helpers.py captures them.
CLIP_TURN_SPANS = (("neutral", 143, 147), ("turn_left", 147, 180), ("turn_right", 180, 211))
CLIP_TURN_FPS = 12.0


def clip_turns(record, path: Path, jpeg, timing) -> None:
    """The clip's two turns as the flow films them (12 fps, one stretch), both orders (the second
    mirrored), at the 3 phase offsets of the 12 fps grid against the clip's frames. The clip stays
    at its own 640x360 (its face is ~83 px wide: at the flow's 480 px, under the 80 px rule).
    `record(kind, segment, offset_s, prompts, frames)` is liveness_eval's; `jpeg` its encoder;
    `timing` its --timing (liveness_capture_timing.Timing: the clip is the camera, its frames
    the camera's)."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 29.97
    frames = {}
    for index in range(CLIP_TURN_SPANS[-1][2]):
        ok, bgr = capture.read()
        if not ok:
            break
        if index >= CLIP_TURN_SPANS[0][1]:
            frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    capture.release()
    step = fps / CLIP_TURN_FPS
    swapped = {"turn_left": "turn_right", "turn_right": "turn_left"}
    end = CLIP_TURN_SPANS[-1][2]
    for mirrored in (False, True):
        for phase in range(3):
            positions, position = [], float(CLIP_TURN_SPANS[0][1] + phase)
            while round(position) < end:
                positions.append(position)
                position += step
            sent = []
            for number, shown_s in timing.taken([p / fps for p in positions], camera_fps=fps):
                # the grid's nearest frame, or the camera's frame the timing says it shows
                # (a grab jittered before the capture's first frame shows that frame)
                index = (
                    round(positions[number])
                    if timing.exact
                    else max(CLIP_TURN_SPANS[0][1], round(shown_s * fps))
                )
                prompt = next(name for name, _, last in CLIP_TURN_SPANS if index < last)
                rgb, tag = frames[index], prompt
                if mirrored:
                    rgb, tag = np.ascontiguousarray(rgb[:, ::-1]), swapped.get(tag, tag)
                sent.append({"image": jpeg(rgb), "prompt": tag, "t_ms": index * 1000 / fps})
            if not timing.exact:
                # whole ms from the burst's start, as the page stamps them
                first = sent[0]["t_ms"]
                for frame in sent:
                    frame["t_ms"] = float(round(frame["t_ms"] - first))
            prompts = [p for p in dict.fromkeys(f["prompt"] for f in sent) if p != "neutral"]
            segment = "short_hamilton_clip" + ("_mirrored" if mirrored else "")
            outcome = record("genuine:two_turns", segment, phase / fps, prompts, sent)
            if not outcome["is_live"]:
                print(
                    f"  genuine refused: {segment} +{phase * 1000 / fps:.0f} ms {outcome['hints']}"
                    f" {[d['reason'] for d in outcome['details'] if not d['satisfied']]}"
                )
