"""Whether each prompt was performed, decided on the dense per-frame series (no images here).

Every rule compares the applicant with their own neutral frames (the mesh's absolute values
differ by person), and every rule needs a movement that starts and ends, seen at the capture
rate: a blink is a dip that reopens, a smile a widening held for several frames, a turn a path
through intermediate poses. Figures behind each threshold: docs/liveness.md (measured with
eval/liveness_eval.py on ../shared/datasets/liveness/real, sampled as the flow samples).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Blink. Measured on the 13 dev blinks sampled at 10 fps at every phase offset: the lowest
# eyelid ratio under the prompt is 0.43-0.68 of the person's open level (p75 of their neutral
# frames); open eyes of a still or speaking face stay above ~0.85. Closed at <= 0.78 leaves
# ~0.1 of margin on the genuine side; open again at >= 0.88.
BLINK_CLOSED_RATIO = 0.78
BLINK_OPEN_RATIO = 0.88
# Frames before the prompt that still count for "open before the dip" (a quick applicant can
# start blinking in the first frame under the prompt).
BLINK_LOOKBACK_FRAMES = 3
# Smile: mouth width (outer-eye units) against the neutral median, and the corners' lift above
# the inner-lip midpoint. Measured on the 5 dev smiles at 10 fps: width 1.26-1.40x, lift
# +0.030-0.083; thresholds at about half the weakest smile's change.
SMILE_WIDEN_RATIO = 1.13
SMILE_LIFT = 0.015
SMILE_MIN_FRAMES = 2  # consecutive: a smile is held, a word's mouth shape passes
# ...and held this long, first to last smiling frame, when the capture times are known. Speech
# widens the mouth with lifted corners too (d13 talking: 1.14-1.37x) but a sound's mouth shape
# passes: measured at 10 fps on every phase offset, talking held "smiling" frames over 100-300 ms
# (d13_blink_a/b/d) and once 600 ms (d13_blink_c); the shortest dev smile is held 700 ms (d8).
SMILE_MIN_HOLD_MS = 400.0
# The widening's largest single step (10 fps) as a share of the whole: see docs/liveness.md.
SMILE_MAX_STEP_FRACTION = 0.75
# ...and a smile draws both corners out: the weaker corner's outward movement from neutral over
# the stronger's (the median over the held frames). Measured at the flow's 12 fps on every phase
# offset: the dev smiles 0.34-0.95 (d12 laughing with his head turning 0.34-0.46, d9's 0.38-0.42),
# d9's mouth pulled to his right during his slow blink -0.09-+0.04 (one corner out, the other in:
# it widens the mouth 1.18-1.19x with the corners lifted, for 500-750 ms).
SMILE_MIN_CORNER_BALANCE = 0.15
# ...and a smile keeps the lips still: speech closes and reopens them every few syllables, and
# its spread vowels widen the mouth with the corners lifted as a smile does (d13's "talking
# smile" at 3.0-3.5 s, 1.21-1.38x for 583-667 ms). A closure is the inner lips' opening falling
# by LIP_CLOSURE_DEPTH (outer-eye distances) from its last high to LIPS_MEET or less (the lips
# meet, or nearly), and rising again by LIP_CLOSURE_DEPTH.
# Counted from SMILE_SPEECH_LEAD_MS before the held smile to the prompt's end: the prompt says
# "keep smiling", so talk after the smile counts, while one may still be finishing a word as the
# prompt appears. Refused at SMILE_SPEECH_CLOSURES. Measured: docs/liveness.md ("Speech").
LIP_CLOSURE_DEPTH = 0.05
LIPS_MEET = 0.06  # closed lips read 0.00-0.03 (the dev neutrals); speech's closures 0.02-0.05
SMILE_SPEECH_LEAD_MS = 800.0
SMILE_SPEECH_CLOSURES = 2
# Turn. The mesh's yaw is compressed against true yaw (the dev turn described as 25-35 deg
# reads 19-21 deg); the speaking, unturned faces of the dev clips wobble by up to +-8 deg.
TURN_YAW_DEG = 12.0
LOOK_UP_PITCH_DEG = 12.0
FRONTAL_YAW_DEG = 20.0
# A real turn passes through intermediate poses at the capture rate: no single step between
# consecutive frames may carry more than this share of the turn (measured on the dev turn at
# 10 fps: the largest step is 0.49-0.66 of the turn; two stills make one step of 1.0).
TURN_MAX_STEP_FRACTION = 0.75
# ...and no step may be longer in time than this (a hole in the capture hides the path); the
# same bound as sequence.MAX_FRAME_GAP_IN_PROMPT_MS (the flow's measured gaps: 108-256 ms).
TURN_MAX_STEP_MS = 300.0
# ...and the asked pose is held, clearly past the threshold. Two measures of the head's time past
# the threshold (past_threshold: the crossings interpolated between frames): how long, and how
# far times how long (degrees x seconds past it). A prompted turn is turned, held and brought
# back; a head movement inside another act is either a jerk (brief, however far) or a drift
# that barely touches the threshold (long enough, never far past it). Measured at the flow's
# 12 fps and 2.5 s prompts on every phase offset (docs/liveness.md, "Movements claimed as
# another prompt"): real turns held 235-644 ms and 0.32-3.3 deg*s (the weakest:
# short_hamilton_clip's left glance, 14-16 deg, 235-308 ms, 0.32-0.58 deg*s); head movements
# inside another act: xp's jerk as he squeezes his eyes 113 ms (but 0.35 deg*s: 18 deg), d9's
# in his slow blink 168-201 ms (but 12.7-12.8 deg: 0.07-0.11 deg*s), d9's laugh 71-140 ms and
# 0.02-0.12 deg*s. Each sits near the geometric middle of its gap: 160 ms is 1.47x under the
# shortest real hold and 1.42x over the jerk; 0.2 deg*s is 1.58x under the weakest real turn
# and 1.72x over the drifts. (One rule on the hold alone had to sit at 220 ms, 1.07x and 1.09x
# from the glance and the blink's drift.)
TURN_MIN_HOLD_MS = 160.0
TURN_MIN_PAST_DEG_S = 0.2


@dataclass(frozen=True)
class PromptOutcome:
    """One prompt's decision with the number it rests on, for the result and the reviewer."""

    prompt: str
    satisfied: bool
    measured: float  # compared with `threshold`; NaN when nothing could be measured
    threshold: float
    decisive_position: int | None  # position in the prompt's frames of the frame that counts
    reason: str
    lower_is_better: bool = False
    planar_fit: float | None = None
    motion_agreement: float | None = None
    # Head movements: where the movement's path begins (position in the prompt's frames, negative
    # in the frames before it), the frame path_steps starts from; head_motion tests that path.
    path_start_position: int | None = None
    # The numbers the prompt's rules compare with their thresholds, by name (docs/liveness.md,
    # "Public API"; a rule never reached may have none): a reviewer sees how near each rule came,
    # and eval/liveness_eval.py prints their ranges on genuine and attack sequences.
    measures: Mapping[str, float] = field(default_factory=dict)

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
        body = {
            "prompt": self.prompt,
            "satisfied": self.satisfied,
            "measured": None if not math.isfinite(self.measured) else round(self.measured, 3),
            "threshold": self.threshold,
            "reason": self.reason,
        }
        if self.planar_fit is not None:
            body["planar_fit"] = round(self.planar_fit, 3)
        if self.motion_agreement is not None:
            body["motion_agreement"] = round(self.motion_agreement, 3)
        body["measures"] = {
            name: round(float(value), 3)
            for name, value in self.measures.items()
            if math.isfinite(value)
        }
        return body


def _failed(
    prompt: str,
    threshold: float,
    reason: str,
    measured: float = math.nan,
    measures: Mapping[str, float] | None = None,
) -> PromptOutcome:
    return PromptOutcome(prompt, False, measured, threshold, None, reason, measures=measures or {})


def blink_outcome(
    openness: Sequence[float], open_level: float, lookback: Sequence[float] = ()
) -> PromptOutcome:
    """A dip to BLINK_CLOSED_RATIO of the open level with open eyes before and after it.

    `openness` are the prompt's frames in time order (NaN where the face was turned or lost);
    `lookback` the few frames just before the prompt, which may hold the "open before".
    """
    if not math.isfinite(open_level) or open_level <= 0:
        return _failed("blink", BLINK_CLOSED_RATIO, "no open-eye level in the neutral frames")
    values = [*lookback, *openness]
    ratios = np.array([v / open_level if math.isfinite(v) else np.nan for v in values])
    offset = len(lookback)
    best: tuple[float, int] | None = None
    for position in range(offset, len(ratios)):
        ratio = ratios[position]
        if not math.isfinite(ratio) or ratio > BLINK_CLOSED_RATIO:
            continue
        before, after = ratios[:position], ratios[position + 1 :]
        if (
            np.nanmax(before, initial=-1.0) >= BLINK_OPEN_RATIO
            and (np.nanmax(after, initial=-1.0) >= BLINK_OPEN_RATIO)
            and (best is None or ratio < best[0])
        ):
            best = (float(ratio), position - offset)
    lowest = (
        float(np.nanmin(ratios[offset:], initial=math.inf)) if len(ratios) > offset else math.nan
    )
    if best is None:
        if math.isfinite(lowest) and lowest <= BLINK_CLOSED_RATIO:
            reason = "eyes closed but not seen open on both sides of the dip"
        else:
            reason = (
                f"eyes never closed: lowest eyelid ratio {lowest:.2f} of the open level "
                f"(needs <= {BLINK_CLOSED_RATIO:.2f})"
            )
        return PromptOutcome(
            "blink",
            False,
            lowest,
            BLINK_CLOSED_RATIO,
            None,
            reason,
            True,
            measures={"lowest_eyelid_ratio": lowest},
        )
    return PromptOutcome(
        "blink",
        True,
        best[0],
        BLINK_CLOSED_RATIO,
        best[1],
        f"eyelids closed to {best[0]:.2f} of the open level and reopened",
        True,
        measures={"lowest_eyelid_ratio": lowest, "closed_and_reopened_ratio": best[0]},
    )


def smile_outcome(
    widths: Sequence[float],
    lifts: Sequence[float],
    neutral_width: float,
    neutral_lift: float,
    times_ms: Sequence[float] | None = None,
    corner_moves: Sequence[tuple[float, float]] | None = None,
    openings: Sequence[float] | None = None,
) -> PromptOutcome:
    """Mouth wider by SMILE_WIDEN_RATIO and corners lifted, in SMILE_MIN_FRAMES frames in a row.

    With `times_ms`, the widening must also build up through intermediate frames (as a turn
    must): a smile takes ~0.3-0.5 s to form, a switch between two photos one frame. With
    `corner_moves` (each frame's outward movement of the two corners from neutral), both corners
    must share the widening: a mouth pulled to one side widens it too. With `openings` (each
    frame's inner-lip gap) and the times, lips that close and reopen SMILE_SPEECH_CLOSURES times
    from just before the held smile to the prompt's end are someone talking.
    """
    if not math.isfinite(neutral_width) or neutral_width <= 0 or not math.isfinite(neutral_lift):
        return _failed("smile", SMILE_WIDEN_RATIO, "no neutral mouth")
    widening = np.array([w / neutral_width if math.isfinite(w) else np.nan for w in widths])
    lift = np.array([v - neutral_lift if math.isfinite(v) else np.nan for v in lifts])
    smiling = (widening >= SMILE_WIDEN_RATIO) & (lift >= SMILE_LIFT)
    times = None if times_ms is None else np.asarray(times_ms, dtype=float)
    held_runs = sorted(
        (
            (0.0 if times is None else float(times[end - 1] - times[begin]), end - begin, begin)
            for begin, end in runs(smiling)
        ),
        key=lambda run: (run[0], run[1], -run[2]),  # the longest; of equals, the first
        reverse=True,
    )
    held_ms, length, start = held_runs[0] if held_runs else (0.0, 0, None)
    measures = {"widening": float(np.nanmax(widening)) if np.isfinite(widening).any() else math.nan}

    def describe_run(begin: int, frames: int) -> None:
        """The measures of the held run being judged (the longest first, then each other)."""
        measures["held_widening"] = float(np.nanmax(widening[begin : begin + frames]))
        measures["held_frames"] = float(frames)
        if times is not None:
            measures["held_ms"] = float(times[begin + frames - 1] - times[begin])

    if length >= SMILE_MIN_FRAMES:
        describe_run(start, length)
    if length >= SMILE_MIN_FRAMES and times is not None and held_ms < SMILE_MIN_HOLD_MS:
        peak = measures["held_widening"]
        return _failed(
            "smile",
            SMILE_WIDEN_RATIO,
            f"the mouth widened {peak:.2f}x for {held_ms:.0f} ms only (a smile is held at least "
            f"{SMILE_MIN_HOLD_MS:.0f} ms; a spoken sound passes)",
            peak,
            measures,
        )
    if length >= SMILE_MIN_FRAMES:
        # The held runs long enough to be judged, longest first; with the corners' movements,
        # only those whose two corners share the widening.
        candidates = [
            (math.nan, frames, begin)
            for ms, frames, begin in held_runs
            if frames >= SMILE_MIN_FRAMES and (times is None or ms >= SMILE_MIN_HOLD_MS)
        ]
        if corner_moves is not None:
            balances = [
                (corner_balance(corner_moves[begin : begin + frames]), frames, begin)
                for _, frames, begin in candidates
            ]
            candidates = [item for item in balances if item[0] >= SMILE_MIN_CORNER_BALANCE]
            if not candidates:
                measures["corner_balance"] = balances[0][0]
                return _failed(
                    "smile",
                    SMILE_WIDEN_RATIO,
                    f"the mouth was pulled to one side (the weaker corner moved out "
                    f"{balances[0][0]:.2f} as far as the other; a smile draws both corners out at "
                    f"least {SMILE_MIN_CORNER_BALANCE:.2f})",
                    measures["held_widening"],
                    measures,
                )
        # Each in turn: the first that also formed gradually and was not spoken is the smile (a
        # spoken vowel held before a real smile must not hide it); if none, the longest run's
        # refusal is the answer.
        refusal = None
        for balance, frames, begin in candidates:
            describe_run(begin, frames)
            if math.isfinite(balance):
                measures["corner_balance"] = balance
            outcome = _held_smile_outcome(widening, times, openings, begin, frames, dict(measures))
            if outcome.satisfied:
                return outcome
            refusal = refusal or outcome
        return refusal
    peak = measures["widening"]
    return _failed(
        "smile",
        SMILE_WIDEN_RATIO,
        f"no smile held: mouth widened at most {peak:.2f}x (needs {SMILE_WIDEN_RATIO:.2f}x with "
        f"the corners lifted in {SMILE_MIN_FRAMES} frames in a row)",
        peak,
        measures,
    )


def _held_smile_outcome(
    widening: np.ndarray,
    times: np.ndarray | None,
    openings: Sequence[float] | None,
    start: int,
    length: int,
    measures: dict[str, float],
) -> PromptOutcome:
    """The held run at `start` judged as the smile: formed gradually, and not spoken."""
    held = widening[start : start + length]
    measured = float(np.sort(held)[-SMILE_MIN_FRAMES])  # the weaker of the best frames
    decisive = start + int(np.argmax(held))
    if times is not None:
        largest, longest = path_steps(widening - 1.0, times, decisive)
        total = float(widening[decisive] - 1.0)
        measures["largest_step_fraction"] = largest / total if total > 0 else math.nan
        measures["longest_step_ms"] = longest
        if largest > SMILE_MAX_STEP_FRACTION * total or longest > TURN_MAX_STEP_MS:
            return _failed(
                "smile",
                SMILE_WIDEN_RATIO,
                f"the mouth jumped {largest:.2f} of its {total:.2f} widening between two "
                "frames: a real smile forms through the shapes in between",
                measured,
                measures,
            )
    if times is not None and openings is not None:
        since = times[start] - SMILE_SPEECH_LEAD_MS
        closures = lip_closures(
            [value for t_ms, value in zip(times, openings, strict=True) if t_ms >= since]
        )
        measures["lip_closures"] = float(closures)
        if closures >= SMILE_SPEECH_CLOSURES:
            return _failed(
                "smile",
                SMILE_WIDEN_RATIO,
                f"the lips closed and opened again {closures} times around the smile: that "
                "is speech, not a held smile (smile without talking)",
                measured,
                measures,
            )
    return PromptOutcome(
        "smile",
        True,
        measured,
        SMILE_WIDEN_RATIO,
        decisive,
        f"mouth {measured:.2f}x its neutral width, corners lifted, for {length} frames",
        measures=measures,
    )


def lip_closures(openings: Sequence[float]) -> int:
    """How many times the lips (nearly) met and parted again.

    A closure falls by LIP_CLOSURE_DEPTH from the opening's last high to LIPS_MEET or less, and
    rises again by LIP_CLOSURE_DEPTH. Both conditions hold against the mesh's jitter: a laugh's
    mouth wavers 0.05 while it stays open (d12 through a blurred camera), which the depth alone
    would count. Frames without a measure are skipped.
    """
    values = [value for value in openings if math.isfinite(value)]
    count, falling, high, low = 0, False, -math.inf, math.inf
    for value in values:
        if not falling:
            high = max(high, value)
            if high - value >= LIP_CLOSURE_DEPTH:
                falling, low = True, value
        else:
            low = min(low, value)
            if value - low >= LIP_CLOSURE_DEPTH:
                count += low <= LIPS_MEET
                falling, high = False, value
    return count


def corner_moves(
    corners_x: tuple[float, float], neutral_corners_x: tuple[float, float]
) -> tuple[float, float]:
    """How far each mouth corner moved outward from neutral (head frame; right corner first)."""
    (right, left), (neutral_right, neutral_left) = corners_x, neutral_corners_x
    return neutral_right - right, left - neutral_left


def corner_balance(corner_moves: Sequence[tuple[float, float]]) -> float:
    """Median over frames of the weaker corner's outward movement over the stronger's.

    1 when both corners move out alike, 0 when one stays, negative when one moves in.
    """
    ratios = [
        min(right, left) / max(right, left, 1e-6)
        for right, left in corner_moves
        if math.isfinite(right) and math.isfinite(left)
    ]
    return float(np.median(ratios)) if ratios else math.nan


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True values, end exclusive."""
    found, start = [], None
    for position, on in enumerate([*flags, False]):
        if on and start is None:
            start = position
        elif not on and start is not None:
            found.append((start, position))
            start = None
    return found


def turn_outcome(
    prompt: str,
    angles_deg: Sequence[float],
    times_ms: Sequence[float],
    baseline_deg: float,
    *,
    threshold_deg: float = TURN_YAW_DEG,
    lookback_deg: Sequence[float] = (),
    lookback_ms: Sequence[float] = (),
) -> PromptOutcome:
    """A head movement (yaw for turns, pitch for look_up) past the threshold, reached gradually.

    `angles_deg` are already signed so that the asked direction is positive. The path from the
    last frame near neutral to the peak must pass through intermediate poses: no step may carry
    more than TURN_MAX_STEP_FRACTION of the movement or last longer than TURN_MAX_STEP_MS.
    """
    if not math.isfinite(baseline_deg):
        return _failed(prompt, threshold_deg, "no head pose in the neutral frames")
    changes = np.array([a - baseline_deg for a in [*lookback_deg, *angles_deg]], dtype=float)
    times = np.array([*lookback_ms, *times_ms], dtype=float)
    offset = len(lookback_deg)
    block = changes[offset:]
    if not np.isfinite(block).any():
        return _failed(prompt, threshold_deg, "no head pose measured under the prompt")
    peak_position = offset + int(np.nanargmax(block))
    peak = float(changes[peak_position])
    direction = {"turn_left": "left", "turn_right": "right"}.get(prompt, "up")
    measures = {"peak_deg": peak}
    if peak < threshold_deg:
        return _failed(
            prompt,
            threshold_deg,
            f"head moved {peak:.0f} deg {direction} from neutral (needs {threshold_deg:.0f})",
            peak,
            measures,
        )
    largest_step, longest_ms = path_steps(changes, times, peak_position)
    measures["largest_step_fraction"] = largest_step / peak
    measures["longest_step_ms"] = longest_ms
    held_ms, past_deg_s = past_threshold(block, times[offset:], threshold_deg)
    measures["held_ms"], measures["past_deg_s"] = held_ms, past_deg_s
    if largest_step > TURN_MAX_STEP_FRACTION * peak or longest_ms > TURN_MAX_STEP_MS:
        return _failed(
            prompt,
            threshold_deg,
            f"head pose jumped {largest_step:.0f} of {peak:.0f} deg between two frames "
            f"({longest_ms:.0f} ms apart at most): a real movement passes through the poses "
            "in between",
            peak,
            measures,
        )
    if held_ms < TURN_MIN_HOLD_MS:
        return _failed(
            prompt,
            threshold_deg,
            f"head moved {peak:.0f} deg {direction} but held it {held_ms:.0f} ms only (a turn is "
            f"held at least {TURN_MIN_HOLD_MS:.0f} ms; a head movement inside another act passes)",
            peak,
            measures,
        )
    if past_deg_s < TURN_MIN_PAST_DEG_S:
        return _failed(
            prompt,
            threshold_deg,
            f"head moved {peak:.1f} deg {direction}, only just past {threshold_deg:.0f} "
            f"({past_deg_s:.2f} deg x s past it; a turn goes clearly past the threshold: at "
            f"least {TURN_MIN_PAST_DEG_S:.1f} deg x s)",
            peak,
            measures,
        )
    return PromptOutcome(
        prompt,
        True,
        peak,
        threshold_deg,
        peak_position - offset,
        f"head moved {peak:.0f} deg {direction} from neutral through intermediate poses",
        path_start_position=path_start(changes, peak_position) - offset,
        measures=measures,
    )


def past_threshold(
    changes: np.ndarray, times: np.ndarray, threshold_deg: float
) -> tuple[float, float]:
    """(ms at >= `threshold_deg`, degrees x seconds past it) under the prompt.

    The pose is taken as moving linearly between consecutive frames (frames without a pose are
    passed over, so a glitch in the middle of a held turn costs nothing). Counting whole frame
    intervals instead credits a head that touches the threshold in 3 frames with 3 intervals
    wherever it crossed between them, so the measure depended on where the capture's frames
    fell (d9's 12.8 deg movement: 250 ms at one phase, 167 at the others; interpolated 168-201
    ms at all three).
    """
    finite = np.isfinite(changes)
    values, moments = changes[finite] - threshold_deg, times[finite]
    held_ms = past_deg_ms = 0.0
    for before, after, start, end in zip(
        values[:-1], values[1:], moments[:-1], moments[1:], strict=True
    ):
        if before >= 0 and after >= 0:
            held_ms += end - start
            past_deg_ms += (before + after) / 2 * (end - start)
        elif before >= 0 or after >= 0:
            higher = max(before, after)
            crossing_ms = (end - start) * higher / abs(after - before)
            held_ms += crossing_ms
            past_deg_ms += higher / 2 * crossing_ms
    return float(held_ms), float(past_deg_ms / 1000.0)


def path_steps(changes: np.ndarray, times: np.ndarray, peak_position: int) -> tuple[float, float]:
    """(largest step, longest gap in ms) on the way up to the peak of a movement.

    The path starts at the last frame before the peak that is still within a quarter of the
    movement (NaN frames skipped; path_start). Two stills make one step that carries the whole
    movement.
    """
    peak = float(changes[peak_position])
    start = path_start(changes, peak_position)
    path = [
        (times[i], changes[i]) for i in range(start, peak_position + 1) if np.isfinite(changes[i])
    ]
    steps = [(b[1] - a[1], b[0] - a[0]) for a, b in itertools.pairwise(path)]
    largest = max((abs(step) for step, _ in steps), default=peak)
    longest = max((duration for _, duration in steps), default=math.inf)
    return float(largest), float(longest)


def path_start(changes: np.ndarray, peak_position: int) -> int:
    """Where the way up to the peak begins: the last frame before it that is still within a
    quarter of the movement (NaN frames passed over)."""
    peak = float(changes[peak_position])
    start = peak_position
    while start > 0 and not (
        math.isfinite(changes[start - 1]) and changes[start - 1] <= 0.25 * peak
    ):
        start -= 1
    return max(start - 1, 0)


def median_or_nan(values: Sequence[float]) -> float:
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    return float(np.median(finite)) if finite.size else math.nan


def upper_level(values: Sequence[float], percentile: float = 75.0) -> float:
    """The open-eye level: a high percentile, so a blink among the neutral frames does not count."""
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    return float(np.percentile(finite, percentile)) if finite.size else math.nan
