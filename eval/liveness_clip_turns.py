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


def clip_turns(record, path: Path, jpeg) -> None:
    """The clip's two turns as the flow films them (12 fps, one stretch), both orders (the second
    mirrored), at the 3 phase offsets of the 12 fps grid against the clip's frames. The clip stays
    at its own 640x360 (its face is ~83 px wide: at the flow's 480 px, under the 80 px rule).
    `record(kind, segment, offset_s, prompts, frames)` is liveness_eval's; `jpeg` its encoder."""
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
    for mirrored in (False, True):
        for phase in range(3):
            sent, position = [], float(CLIP_TURN_SPANS[0][1] + phase)
            for prompt, start, end in CLIP_TURN_SPANS:
                while round(position) < end:
                    index = round(position)
                    if index >= start:
                        rgb, tag = frames[index], prompt
                        if mirrored:
                            rgb, tag = np.ascontiguousarray(rgb[:, ::-1]), swapped.get(tag, tag)
                        sent.append({"image": jpeg(rgb), "prompt": tag, "t_ms": index * 1000 / fps})
                    position += step
            prompts = [p for p in dict.fromkeys(f["prompt"] for f in sent) if p != "neutral"]
            segment = "short_hamilton_clip" + ("_mirrored" if mirrored else "")
            outcome = record("genuine:two_turns", segment, phase / fps, prompts, sent)
            if not outcome["is_live"]:
                print(
                    f"  genuine refused: {segment} +{phase * 1000 / fps:.0f} ms {outcome['hints']}"
                    f" {[d['reason'] for d in outcome['details'] if not d['satisfied']]}"
                )
