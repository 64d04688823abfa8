"""A deliberate movement of another kind formed under a prompt: the window shows that movement.

A blink, a head movement and a smile often come together (a laugh turns the head and squints
the eyes; a large gaze shift brings a blink). A recording of one of them replayed under another
prompt then satisfies that prompt with a real movement (the eval's "claimed" attacks). These
rules refuse a prompt whose window shows another deliberate movement that began there and was
held; a movement still under way from the previous prompt does not count (it did not form
there), and a blink never refuses anything (blinks are involuntary). Figures behind each
threshold: docs/liveness.md, "Movements claimed as another prompt".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from gateway.verification.liveness.series import (
    FRONTAL_YAW_DEG,
    SMILE_LIFT,
    SMILE_MIN_CORNER_BALANCE,
    SMILE_WIDEN_RATIO,
    TURN_MIN_PAST_DEG_S,
    TURN_YAW_DEG,
    PromptOutcome,
    corner_balance,
    corner_moves,
    past_threshold,
    runs,
)
from gateway.verification.liveness.tracking import TrackedFrame

# A smile (series.smile_outcome's width and lift) formed under a blink or turn prompt and held
# this long, first to last smiling frame. Measured at 10 fps on every phase offset: smiles
# formed in the dev blink windows are held <= 600 ms (d13 talking, d9's slow blink), none in the
# turn windows; the dev smile windows 1000-2400 ms (d5, d12: 1000; d0: 1800; d9: 2400).
SMILE_UNDER_OTHER_PROMPT_MS = 800.0
# A head turned >= TURN_YAW_DEG from neutral for this long in all under a blink prompt, timed as
# the turn prompt times its hold (series.past_threshold: crossings interpolated between frames),
# and clearly past it, as a turn prompt asks (series.TURN_MIN_PAST_DEG_S). Measured: the dev
# blink windows hold it <= 200 ms at 10 fps counting whole frames (d9's slow blink: 2 frames at
# 12-13 deg; xp's blink: one frame of 17-18 deg), 250 ms at 12 fps, and 333 ms in a two-prompt
# sequence filmed further away (--camera far: 4 frames at 12.x deg, a drift); d12's turn window
# 500-600 ms, 2.2-3.3 deg*s past 12. Not applied to smiles: a laugh moves
# the head (d12's genuine smile turns 17-22 deg for 400-600 ms).
TURN_UNDER_BLINK_MS = 300.0


def refuse_other_movements(
    outcome: PromptOutcome,
    window: Sequence[TrackedFrame],
    lookback: int,
    neutral_width: float,
    neutral_lift: float,
    neutral_yaw_deg: float,
    neutral_corners_x: tuple[float, float] | None = None,
) -> PromptOutcome:
    """`outcome` of a blink, turn or look_up prompt, refused if another movement formed under it.

    `window` is the `lookback` frames before the prompt, then the prompt's frames. The mouth is
    read only on frames within FRONTAL_YAW_DEG of neutral (its width shrinks as the head turns).
    With `neutral_corners_x` a smile is what the smile prompt accepts: both corners drawn out.
    """

    def frontal(item: TrackedFrame) -> bool:
        return item.has_face and abs(item.yaw_deg - neutral_yaw_deg) <= FRONTAL_YAW_DEG

    times = [item.t_ms for item in window]
    outcome = refuse_formed_smile(
        outcome,
        [item.mouth_width if frontal(item) else math.nan for item in window],
        [item.mouth_lift if frontal(item) else math.nan for item in window],
        times,
        neutral_width,
        neutral_lift,
        lookback,
        None
        if neutral_corners_x is None
        else [
            corner_moves(item.mouth_corners_x, neutral_corners_x)
            if frontal(item)
            else (math.nan, math.nan)
            for item in window
        ],
    )
    if outcome.prompt == "blink":
        changes = [
            abs(item.yaw_deg - neutral_yaw_deg) if item.has_face else math.nan for item in window
        ]
        outcome = refuse_formed_turn(outcome, changes, times, lookback)
    return outcome


def refuse_formed_smile(
    outcome: PromptOutcome,
    widths: Sequence[float],
    lifts: Sequence[float],
    times_ms: Sequence[float],
    neutral_width: float,
    neutral_lift: float,
    lookback: int = 0,
    corner_moves_out: Sequence[tuple[float, float]] | None = None,
) -> PromptOutcome:
    """A satisfied blink or turn outcome, or a refusal if a deliberate smile formed under it.

    The series cover the `lookback` frames before the prompt and then the prompt's frames (NaN
    where the face was turned or lost). A smile counts when it begins under the prompt after a
    measured frame that was not smiling and is held SMILE_UNDER_OTHER_PROMPT_MS; with
    `corner_moves_out` (each frame's outward movement of the two corners from neutral), only
    when both corners share the widening, as the smile prompt asks (a mouth pulled to one side
    is not a smile there either).
    """
    if not outcome.satisfied or not math.isfinite(neutral_width) or neutral_width <= 0:
        return outcome
    widening = np.array([w / neutral_width if math.isfinite(w) else np.nan for w in widths])
    lift = np.array([v - neutral_lift if math.isfinite(v) else np.nan for v in lifts])
    smiling = (widening >= SMILE_WIDEN_RATIO) & (lift >= SMILE_LIFT)
    times = np.asarray(times_ms, dtype=float)
    formed_runs = []
    for start, end in runs(smiling):
        # formed here: inside the prompt, and the last frame measured before it not smiling
        before = [k for k in range(start) if math.isfinite(widening[k])]
        balanced = (
            corner_moves_out is None
            or corner_balance(corner_moves_out[start:end]) >= SMILE_MIN_CORNER_BALANCE
        )
        if start >= lookback and before and not smiling[before[-1]] and balanced:
            formed_runs.append((float(times[end - 1] - times[start]), start, end))
    held_ms, start, end = max(formed_runs, default=(0.0, 0, 0))
    outcome = _with_measure(outcome, "smile_formed_ms", held_ms)
    if held_ms >= SMILE_UNDER_OTHER_PROMPT_MS:
        peak = float(np.nanmax(widening[start:end]))
        return _refused(
            outcome,
            f"a smile ({peak:.2f}x the neutral mouth) formed under the {outcome.prompt} "
            f"prompt and was held {held_ms:.0f} ms: the movement shown is a smile",
        )
    return outcome


def refuse_formed_turn(
    outcome: PromptOutcome,
    yaw_changes_deg: Sequence[float],
    times_ms: Sequence[float],
    lookback: int = 0,
) -> PromptOutcome:
    """A satisfied blink outcome, or a refusal if the head was held turned under the prompt.

    `yaw_changes_deg` are |yaw - neutral yaw| over the `lookback` frames and the prompt's (NaN
    without a face). The time the head spends >= TURN_YAW_DEG counts (series.past_threshold,
    as the turn prompt measures its hold), except that of a turn still under way when the series
    starts (coming back from a turn prompt); TURN_UNDER_BLINK_MS of it refuses when the head
    also went clearly past the threshold (series.TURN_MIN_PAST_DEG_S, the turn prompt's own
    rule): a head that drifts just over 12 deg is no turn under a turn prompt, nor here.
    """
    if not outcome.satisfied:
        return outcome
    changes = np.asarray(yaw_changes_deg, dtype=float)
    times = np.asarray(times_ms, dtype=float)
    if changes.size < 2:
        return outcome
    turned = changes >= TURN_YAW_DEG
    carried = 0
    while carried < changes.size and (turned[carried] or not math.isfinite(changes[carried])):
        carried += 1
    start = max(carried, lookback)
    held_ms, past_deg_s = past_threshold(changes[start:], times[start:], TURN_YAW_DEG)
    outcome = _with_measure(outcome, "head_turned_ms", held_ms)
    outcome = _with_measure(outcome, "head_turned_deg_s", past_deg_s)
    if held_ms >= TURN_UNDER_BLINK_MS and past_deg_s >= TURN_MIN_PAST_DEG_S:
        peak = float(np.nanmax(changes[start:]))
        return _refused(
            outcome,
            f"the head turned {peak:.0f} deg from neutral under the blink prompt and stayed "
            f"turned {held_ms:.0f} ms: the movement shown is a head turn",
        )
    return outcome


def _with_measure(outcome: PromptOutcome, name: str, value: float) -> PromptOutcome:
    return dataclasses.replace(outcome, measures={**outcome.measures, name: value})


def _refused(outcome: PromptOutcome, reason: str) -> PromptOutcome:
    return dataclasses.replace(outcome, satisfied=False, decisive_position=None, reason=reason)
