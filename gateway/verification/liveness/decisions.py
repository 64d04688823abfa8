"""Whether each prompt was performed, decided on measured series (no images in here).

Every rule compares the applicant with themself: a turn is measured against their own neutral
yaw, a blink against their own open-eye level, a smile against their own neutral mouth. That
cancels the per-person error of the geometric estimates and of the image measures. Thresholds
and why they sit where they do are in docs/liveness.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# A deliberate head turn is 25-45 degrees; the estimate wobbles by up to +-6 degrees on a
# speaking head that does not turn (measured on the clip), so 15 degrees is 2.5x that wobble.
# Flat pictures tilted to fake a turn are refused by planarity.py, not by this threshold.
TURN_YAW_DEG = 15.0
# Looking up is a smaller movement than a turn and the pitch estimate is noisier (it also moves
# with yaw), so the head must stay roughly frontal while it happens.
LOOK_UP_PITCH_DEG = 15.0
FRONTAL_YAW_DEG = 15.0
# The eye must be back at 75 % of its open level before and after the dip.
BLINK_RECOVER_RATIO = 0.75
SMILE_MIN_FRAMES = 2


@dataclass(frozen=True)
class PromptOutcome:
    """One prompt's decision with the number it rests on, for the result and the reviewer."""

    prompt: str
    satisfied: bool
    measured: float  # the value compared with `threshold` (NaN when nothing could be measured)
    threshold: float
    decisive_position: int | None  # position, within the prompt's frames, of the frame that counts
    reason: str
    lower_is_better: bool = False  # blink: the measure is how far the eyes stayed open
    planar_fit: float | None = None  # turns and look_up: see planarity.py

    @property
    def strength(self) -> float:
        """0 at the threshold, 1 when the measure is twice as far past it (or fully closed)."""
        if not self.satisfied or not math.isfinite(self.measured) or self.threshold == 0:
            return 0.0
        if self.lower_is_better:
            margin = (self.threshold - self.measured) / self.threshold
        else:
            margin = self.measured / self.threshold - 1.0
        return float(min(1.0, max(0.0, margin)))

    def as_dict(self) -> dict:
        return {
            "prompt": self.prompt,
            "satisfied": self.satisfied,
            "measured": None if not math.isfinite(self.measured) else round(self.measured, 3),
            "threshold": self.threshold,
            "reason": self.reason,
            "planar_fit": None if self.planar_fit is None else round(self.planar_fit, 3),
        }


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]


def turn_outcome(prompt: str, yaws_deg: Sequence[float], baseline_yaw_deg: float) -> PromptOutcome:
    """`turn_left`: yaw rises past the threshold above neutral; `turn_right`: falls below."""
    sign = 1.0 if prompt == "turn_left" else -1.0
    changes = [sign * (yaw - baseline_yaw_deg) for yaw in yaws_deg]
    finite = [
        (change, position) for position, change in enumerate(changes) if math.isfinite(change)
    ]
    if not finite or not math.isfinite(baseline_yaw_deg):
        return PromptOutcome(prompt, False, math.nan, TURN_YAW_DEG, None, "no head pose measured")
    best, position = max(finite)
    satisfied = best >= TURN_YAW_DEG
    side = "left" if sign > 0 else "right"
    reason = (
        f"head turned {best:.0f} deg to the {side} from neutral "
        f"({'>=' if satisfied else '<'} {TURN_YAW_DEG:.0f})"
    )
    return PromptOutcome(prompt, satisfied, best, TURN_YAW_DEG, position, reason)


def look_up_outcome(
    pitches_up_deg: Sequence[float], yaws_deg: Sequence[float], baseline_yaw_deg: float
) -> PromptOutcome:
    """Pitch up past the threshold in a frame where the head is still roughly frontal."""
    candidates = [
        (pitch, position)
        for position, (pitch, yaw) in enumerate(zip(pitches_up_deg, yaws_deg, strict=True))
        if math.isfinite(pitch) and abs(yaw - baseline_yaw_deg) <= FRONTAL_YAW_DEG
    ]
    if not candidates:
        return PromptOutcome(
            "look_up", False, math.nan, LOOK_UP_PITCH_DEG, None, "no frontal frame measured"
        )
    best, position = max(candidates)
    satisfied = best >= LOOK_UP_PITCH_DEG
    reason = (
        f"head tipped up {best:.0f} deg from neutral "
        f"({'>=' if satisfied else '<'} {LOOK_UP_PITCH_DEG:.0f})"
    )
    return PromptOutcome("look_up", satisfied, best, LOOK_UP_PITCH_DEG, position, reason)


def blink_outcome(
    openness: Sequence[float],
    open_level: float,
    closed_ratio: float,
    *,
    open_before: float = math.nan,
) -> PromptOutcome:
    """Openness dips to `closed_ratio` x the open level, with open eyes before and after.

    `openness` are the blink frames in time order (frames with a turned head already removed
    by the caller, NaN allowed); `open_before` is the last measurement before the prompt,
    because a quick applicant may start blinking in the first frame captured under it.
    """
    values = [open_before, *openness]
    if not math.isfinite(open_level) or open_level <= 0:
        return PromptOutcome("blink", False, math.nan, closed_ratio, None, "no open-eye level")
    ratios = [value / open_level if math.isfinite(value) else math.nan for value in values]
    best_depth, best_position = -math.inf, None
    for position, ratio in enumerate(ratios):
        if not math.isfinite(ratio) or ratio > closed_ratio:
            continue
        before = [r for r in ratios[:position] if math.isfinite(r)]
        after = [r for r in ratios[position + 1 :] if math.isfinite(r)]
        if (
            before
            and after
            and max(before) >= BLINK_RECOVER_RATIO
            and max(after) >= BLINK_RECOVER_RATIO
        ):
            depth = 1.0 - ratio
            if depth > best_depth:
                best_depth, best_position = depth, position - 1
    measured_min = min((r for r in ratios[1:] if math.isfinite(r)), default=math.nan)
    if best_position is None:
        if math.isfinite(measured_min) and measured_min <= closed_ratio:
            reason = "eyes closed but not seen open again on both sides of the dip"
        else:
            reason = (
                f"eyes never closed: lowest openness {measured_min:.2f} of the open level "
                f"(needs <= {closed_ratio:.2f})"
            )
        return PromptOutcome("blink", False, measured_min, closed_ratio, None, reason, True)
    closed_fraction = 1.0 - best_depth
    return PromptOutcome(
        "blink",
        True,
        closed_fraction,
        closed_ratio,
        max(best_position, 0),
        f"eyes closed to {closed_fraction:.2f} of the open level and reopened",
        True,
    )


def smile_outcome(
    mouth_width_ratios: Sequence[float], neutral_width_ratio: float, widen_ratio: float
) -> PromptOutcome:
    """Mouth at least `widen_ratio` x its neutral width in `SMILE_MIN_FRAMES` frames."""
    if not math.isfinite(neutral_width_ratio) or neutral_width_ratio <= 0:
        return PromptOutcome("smile", False, math.nan, widen_ratio, None, "no neutral mouth")
    widenings = [
        (value / neutral_width_ratio, position)
        for position, value in enumerate(mouth_width_ratios)
        if math.isfinite(value)
    ]
    wide = sorted((w for w in widenings if w[0] >= widen_ratio), reverse=True)
    best = max(widenings, default=(math.nan, None))
    if len(wide) >= SMILE_MIN_FRAMES:
        # the weaker of the frames that count is the honest measure of the smile
        measured, position = wide[SMILE_MIN_FRAMES - 1][0], wide[0][1]
        return PromptOutcome(
            "smile",
            True,
            measured,
            widen_ratio,
            position,
            f"mouth {measured:.2f}x its neutral width in {len(wide)} frames",
        )
    return PromptOutcome(
        "smile",
        False,
        best[0],
        widen_ratio,
        None,
        f"mouth widened at most {best[0]:.2f}x (needs {widen_ratio:.2f}x in "
        f"{SMILE_MIN_FRAMES} frames)",
    )


def median_or_nan(values: Sequence[float]) -> float:
    finite = _finite(values)
    return float(np.median(finite)) if finite.size else math.nan


def upper_level(values: Sequence[float], percentile: float = 75.0) -> float:
    """The open-eye level: a high percentile, so brief dips do not pull it down."""
    finite = _finite(values)
    return float(np.percentile(finite, percentile)) if finite.size else math.nan
