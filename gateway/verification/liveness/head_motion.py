"""Two tests a head movement must pass besides its angle: the pixels move, and not as a plane.

- `refuse_fade`: along the path to the peak, the face's pixels must move as the mesh does
  (motion.py). Measured on the dev clips at 10 fps: total disagreement / total mesh motion was
  0.15-0.37 on real turns and 0.67-0.72 on cross-fades between a frontal and a turned photo of
  the same person, which the mesh alone reads as a smooth turn (docs/liveness.md).
- `refuse_planar_motion`: the neutral face and the deciding frame must not be related by one
  homography (planarity.py): a picture tilted in front of the camera is.

Both return the outcome unchanged in substance when it holds, or not satisfied with the reason,
and report through `hint(code, message)`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable

import cv2
import numpy as np

from gateway.verification.liveness import series
from gateway.verification.liveness.frames import Frame
from gateway.verification.liveness.motion import motion_disagreement
from gateway.verification.liveness.planarity import PLANAR_CORRELATION, planar_fit
from gateway.verification.liveness.sequence import PromptBlock
from gateway.verification.liveness.tracking import TrackedFrame

# Total disagreement over total mesh motion along the path (see the module docstring).
MAX_MOTION_DISAGREEMENT = 0.5
# Mesh motion below this (px, summed over the path) is too small to judge.
MIN_PATH_MOTION_PX = 4.0


def refuse_fade(
    outcome: series.PromptOutcome,
    block: PromptBlock,
    tracked: list[TrackedFrame],
    frames: list[Frame],
    hint: Callable[[str, str], None],
) -> series.PromptOutcome:
    """Along the path to the peak the pixels must move as the mesh does (motion.py).

    The path is the movement's own (series.path_start: from the last frame within a quarter of
    the movement), not the whole prompt up to the peak: before the head starts to move neither
    the pixels nor the mesh move, and those steps say nothing about whether the pixels follow a
    movement, while each costs an optical flow (~6 ms). A cross-fade's blended frames are where
    the mesh reads the movement, so they stay on the path.
    """
    peak = block.positions[outcome.decisive_position]
    if outcome.path_start_position is not None:
        start = max(block.positions[0] + outcome.path_start_position, 0)
    else:
        start = max(block.positions[0] - series.BLINK_LOOKBACK_FRAMES, 0)
    path = [item for item in tracked[start : peak + 1] if item.has_face]
    disagreement = motion = 0.0
    grays: dict[int, np.ndarray] = {}

    def gray(index: int) -> np.ndarray:
        if index not in grays:
            grays[index] = cv2.cvtColor(frames[index].rgb, cv2.COLOR_RGB2GRAY)
        return grays[index]

    for earlier, later in itertools.pairwise(path):
        if gray(earlier.index).shape != gray(later.index).shape:
            continue
        step_disagreement, step_motion = motion_disagreement(
            gray(earlier.index), earlier.points, gray(later.index), later.points
        )
        disagreement += step_disagreement
        motion += step_motion
    if motion < MIN_PATH_MOTION_PX:
        return outcome
    ratio = disagreement / motion
    if ratio <= MAX_MOTION_DISAGREEMENT:
        return dataclasses.replace(outcome, motion_agreement=ratio)
    return _refused(
        outcome,
        hint,
        "pixels_did_not_move",
        f"{block.prompt}: the face's pixels did not move as a head does (disagreement "
        f"{ratio:.2f} > {MAX_MOTION_DISAGREEMENT})",
        "the pixels did not move with it (a fade between pictures)",
        motion_agreement=ratio,
    )


def refuse_planar_motion(
    outcome: series.PromptOutcome,
    block: PromptBlock,
    reference: TrackedFrame,
    tracked: list[TrackedFrame],
    frames: list[Frame],
    hint: Callable[[str, str], None],
) -> series.PromptOutcome:
    """A head movement that one plane explains is a picture being tilted: not satisfied."""
    decisive = tracked[block.positions[outcome.decisive_position]]
    fit = planar_fit(
        frames[reference.index].rgb,
        reference.as_face(),
        frames[decisive.index].rgb,
        decisive.as_face(),
    )
    if not math.isfinite(fit):
        # Not measured, and said so: the shared clip's small face (~83 px) gives too few
        # matches in 5 of its 6 genuine two-turn captures, so refusing would refuse real
        # turns; the turn's other tests (the path, the pixels along it, the hold) stand.
        return dataclasses.replace(
            outcome,
            reason=f"{outcome.reason} (the plane test found too little texture to fit: "
            "not measured)",
        )
    if fit < PLANAR_CORRELATION:
        return dataclasses.replace(outcome, planar_fit=fit)
    return _refused(
        outcome,
        hint,
        "planar_motion",
        f"{block.prompt}: the face moved like a flat picture (planar fit {fit:.2f} >= "
        f"{PLANAR_CORRELATION})",
        f"the face moved as a flat picture (planar fit {fit:.2f})",
        planar_fit=fit,
    )


def _refused(
    outcome: series.PromptOutcome,
    hint: Callable[[str, str], None],
    code: str,
    problem: str,
    reason: str,
    **measures: float,
) -> series.PromptOutcome:
    """The outcome not satisfied, ``reason`` added to its own, with its ``measures``; ``problem``
    hinted as ``code``, asking for the applicant's own face."""
    hint(code, f"{problem}; show your own face to the camera.")
    return dataclasses.replace(
        outcome, satisfied=False, reason=f"{outcome.reason}, but {reason}", **measures
    )
