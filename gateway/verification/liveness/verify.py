"""Verify a challenge from the frames captured under it: the liveness decision.

The sequence is live when, all at once: the challenge has not expired; there are enough frames,
in time order, close enough together, and not copies of one image; each prompt's frames show
its movement, in the challenged order; one face is present throughout and it is one person (and
the document's person, when a reference embedding is given). Passive cues are measured on one
frame and reported as evidence; they never make a sequence live.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.verification.faces.recognition import MIN_FACE_PX
from gateway.verification.liveness import decisions, identity
from gateway.verification.liveness.challenge import Challenge
from gateway.verification.liveness.frames import (
    NEUTRAL_PROMPT,
    Frame,
    FrameMeasure,
    measure_frame,
    parse_frames,
)
from gateway.verification.liveness.landmark_sources import LandmarkSource, landmark_source_from_name
from gateway.verification.liveness.passive import analyze_passive
from gateway.verification.liveness.planarity import PLANAR_CORRELATION, planar_fit
from gateway.verification.liveness.pose import pitch_up_deg
from gateway.verification.liveness.sequence import PromptBlock, Refusal, check_sequence

SPOOF_TYPES = ("none", "screen", "paper", "mask", "deepfake", "unknown")
MAX_FACELESS_FRACTION = 0.25


@dataclass
class LivenessResult:
    """The service's answer; `to_dict` is the endpoint's body (without processing_ms/usage)."""

    is_live: bool
    spoof_type: str
    confidence: float
    hints: list[str] = field(default_factory=list)
    hint_codes: list[str] = field(default_factory=list)
    challenge: dict[str, Any] = field(default_factory=dict)
    passive: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    frames: dict[str, Any] = field(default_factory=dict)
    landmark_source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_live": self.is_live,
            "spoof_type": self.spoof_type,
            "confidence": round(self.confidence, 3),
            "hints": list(self.hints),
            "hint_codes": list(self.hint_codes),
            "challenge": self.challenge,
            "passive": self.passive,
            "identity": self.identity,
            "frames": self.frames,
            "landmark_source": self.landmark_source,
        }


def verify_challenge(
    challenge: Challenge,
    frames: Sequence[Mapping[str, Any]],
    *,
    now: float | None = None,
    reference_embedding: np.ndarray | None = None,
    landmark_source: LandmarkSource | str | None = None,
    mirrored: bool = False,
    identity_frames: str = "decisive",
) -> LivenessResult:
    """Decide liveness for `frames` (``[{rgb | image, prompt, t_ms}]``) captured under `challenge`.

    `reference_embedding` is the document face's 128-D embedding: when given, the frames must
    show that person. `mirrored` says the client flipped its frames left-right (then a turn to
    the applicant's left appears as a turn to the right). `identity_frames` is "decisive" (the
    first frame, each prompt's deciding frame and any frame where the face or the scene jumps
    are embedded: bounded cost) or "all" (every frame: ~100-250 ms per frame here).
    Malformed frames raise `ValidationFailed`; every other failure is a not-live result with a
    hint, never an exception.
    """
    source = (
        landmark_source_from_name(landmark_source or "regions")
        if landmark_source is None or isinstance(landmark_source, str)
        else landmark_source
    )
    if identity_frames not in {"decisive", "all"}:
        raise ValueError("identity_frames must be 'decisive' or 'all'")
    state = _Verification(challenge, source)
    try:
        if challenge.is_expired(now):
            raise Refusal(
                "challenge_expired", "The challenge expired; start the liveness step again.", 1.0
            )
        parsed = parse_frames(frames)
        state.frames = {"count": len(parsed)}
        blocks = check_sequence(challenge, parsed, state.frames)
        measures = _measure(parsed, source, mirrored, state)
        outcomes = _decide_prompts(blocks, measures, parsed, source, state)
        _check_identity(
            measures, outcomes, blocks, reference_embedding, identity_frames, parsed, state
        )
    except Refusal as refusal:
        state.refuse(refusal)
    return state.result()


class _Verification:
    """Collects what each step found, so every answer (even an early refusal) is complete."""

    def __init__(self, challenge: Challenge, source: LandmarkSource) -> None:
        self.challenge = challenge
        self.source = source
        self.outcomes: list[decisions.PromptOutcome] = []
        self.hints: list[str] = []
        self.hint_codes: list[str] = []
        self.refusal: Refusal | None = None
        self.passive: dict[str, Any] = {}
        self.passive_spoof_type = "unknown"
        self.identity: dict[str, Any] = {}
        self.frames: dict[str, Any] = {}

    def hint(self, code: str, message: str) -> None:
        self.hint_codes.append(code)
        self.hints.append(message)

    def refuse(self, refusal: Refusal) -> None:
        self.refusal = refusal
        self.hint(refusal.code, refusal.message)

    def result(self) -> LivenessResult:
        satisfied = [False] * len(self.challenge.prompts)
        for position, outcome in enumerate(self.outcomes):
            satisfied[position] = outcome.satisfied
        is_live = self.refusal is None and bool(self.outcomes) and all(satisfied)
        if is_live:
            # Confidence in "live": at least 0.6 once every check passed, more with margin.
            margins = [outcome.strength for outcome in self.outcomes]
            margins.append(self.identity.get("margin", 0.0))
            confidence = 0.6 + 0.4 * min(margins)
            spoof_type = "none"
        else:
            confidence = self.refusal.confidence if self.refusal else 0.5
            spoof_type = self.passive_spoof_type
        return LivenessResult(
            is_live=is_live,
            spoof_type=spoof_type,
            confidence=float(confidence),
            hints=self.hints,
            hint_codes=self.hint_codes,
            challenge={
                "id": self.challenge.id,
                "prompts": list(self.challenge.prompts),
                "satisfied": satisfied,
                "details": [outcome.as_dict() for outcome in self.outcomes],
            },
            passive=self.passive,
            identity=self.identity,
            frames=self.frames,
            landmark_source=self.source.name,
        )


def _measure(
    frames: list[Frame], source: LandmarkSource, mirrored: bool, state: _Verification
) -> list[FrameMeasure]:
    measures = [
        measure_frame(position, frame, source, mirrored=mirrored)
        for position, frame in enumerate(frames)
    ]
    with_face = [measure for measure in measures if measure.has_face]
    state.frames["with_face"] = len(with_face)
    # Passive evidence from the first frame with a face (usually the neutral one).
    if with_face:
        first = with_face[0]
        passive = analyze_passive(frames[first.index].rgb, face=first.face)
        state.passive = passive.as_dict()
        state.passive_spoof_type = passive.spoof_type
    faceless = len(measures) - len(with_face)
    if faceless > MAX_FACELESS_FRACTION * len(measures):
        raise Refusal(
            "face_not_found",
            f"No face was found in {faceless} of {len(measures)} frames; keep the face in view.",
        )
    if any(measure.second_face_large for measure in measures):
        raise Refusal("multiple_faces", "More than one face is in view; only the applicant.")
    widths = [measure.face.width_px for measure in with_face]
    if widths and float(np.median(widths)) < MIN_FACE_PX:
        raise Refusal("face_too_small", "The face is too small; come closer to the camera.")
    return measures


def _decide_prompts(
    blocks: list[PromptBlock],
    measures: list[FrameMeasure],
    frames: list[Frame],
    source: LandmarkSource,
    state: _Verification,
) -> list[decisions.PromptOutcome]:
    in_turn_block = {
        position
        for block in blocks
        if block.prompt in {"turn_left", "turn_right"}
        for position in block.positions
    }
    neutral = [m for m in measures if m.prompt == NEUTRAL_PROMPT and m.has_face]
    if not neutral:
        # No neutral frames: frames of non-turn prompts stand in; else the very first frame.
        neutral = [m for m in measures if m.has_face and m.index not in in_turn_block]
        neutral = neutral or [m for m in measures if m.has_face][:1]
    baseline_yaw = decisions.median_or_nan([m.geometry.yaw_deg for m in neutral])
    baseline_drop = decisions.median_or_nan([m.geometry.nose_drop_ratio for m in neutral])

    def frontal(measure: FrameMeasure) -> bool:
        return (
            measure.has_face
            and abs(measure.geometry.yaw_deg - baseline_yaw) <= decisions.FRONTAL_YAW_DEG
        )

    outcomes = []
    for block in blocks:
        block_measures = [measures[position] for position in block.positions]
        outside = [m for m in measures if m.index not in block.positions and frontal(m)]
        if block.prompt in {"turn_left", "turn_right"}:
            outcome = decisions.turn_outcome(
                block.prompt,
                [m.geometry.yaw_deg if m.has_face else math.nan for m in block_measures],
                baseline_yaw,
            )
        elif block.prompt == "look_up":
            outcome = decisions.look_up_outcome(
                [
                    pitch_up_deg(m.geometry.nose_drop_ratio, baseline_drop)
                    if m.has_face
                    else math.nan
                    for m in block_measures
                ],
                [m.geometry.yaw_deg if m.has_face else math.nan for m in block_measures],
                baseline_yaw,
            )
        elif block.prompt == "blink":
            openness = [
                m.expression.eye_openness if frontal(m) else math.nan for m in block_measures
            ]
            previous = measures[block.positions[0] - 1] if block.positions[0] > 0 else None
            open_before = (
                previous.expression.eye_openness
                if previous is not None and frontal(previous)
                else math.nan
            )
            open_level = decisions.upper_level(
                [m.expression.eye_openness for m in outside] + openness
            )
            outcome = decisions.blink_outcome(
                openness, open_level, source.blink_closed_ratio, open_before=open_before
            )
        else:  # smile
            neutral_width = decisions.median_or_nan(
                [m.expression.mouth_width_ratio for m in outside]
            )
            outcome = decisions.smile_outcome(
                [
                    m.expression.mouth_width_ratio if frontal(m) else math.nan
                    for m in block_measures
                ],
                neutral_width,
                source.smile_widen_ratio,
            )
        if outcome.satisfied and block.prompt in {"turn_left", "turn_right", "look_up"}:
            outcome = _refuse_planar_motion(outcome, block, neutral[0], measures, frames, state)
        outcomes.append(outcome)
        if not outcome.satisfied:
            state.hint(f"prompt_not_satisfied:{block.prompt}", f"{block.prompt}: {outcome.reason}.")
    state.outcomes = outcomes
    if not all(outcome.satisfied for outcome in outcomes):
        raise Refusal(
            "challenge_not_completed",
            "Not every prompt was performed; follow each instruction while it is shown.",
            0.5 + 0.4 * _shortfall(outcomes),
        )
    return outcomes


def _refuse_planar_motion(
    outcome: decisions.PromptOutcome,
    block: PromptBlock,
    reference: FrameMeasure,
    measures: list[FrameMeasure],
    frames: list[Frame],
    state: _Verification,
) -> decisions.PromptOutcome:
    """A head movement that one plane explains is a picture being tilted: not satisfied."""
    decisive = measures[block.positions[outcome.decisive_position]]
    fit = planar_fit(
        frames[reference.index].rgb, reference.face, frames[decisive.index].rgb, decisive.face
    )
    if fit < PLANAR_CORRELATION:
        return dataclasses.replace(outcome, planar_fit=fit)
    state.hint(
        "planar_motion",
        f"{block.prompt}: the face moved like a flat picture (planar fit {fit:.2f} >= "
        f"{PLANAR_CORRELATION}); show your own face to the camera.",
    )
    return dataclasses.replace(
        outcome,
        satisfied=False,
        planar_fit=fit,
        reason=f"{outcome.reason}, but the face moved as a flat picture (planar fit {fit:.2f})",
    )


def _shortfall(outcomes: list[decisions.PromptOutcome]) -> float:
    """How clearly the unmet prompts were missed (0 = just short, 1 = no movement at all)."""
    gaps = []
    for outcome in outcomes:
        if outcome.satisfied:
            continue
        if not math.isfinite(outcome.measured) or outcome.threshold == 0:
            gaps.append(1.0)
        elif outcome.lower_is_better:
            gaps.append(min(1.0, max(0.0, outcome.measured - outcome.threshold)))
        else:
            gaps.append(min(1.0, max(0.0, 1.0 - outcome.measured / outcome.threshold)))
    return min(gaps) if gaps else 0.0


def _check_identity(
    measures: list[FrameMeasure],
    outcomes: list[decisions.PromptOutcome],
    blocks: list[PromptBlock],
    reference_embedding: np.ndarray | None,
    identity_frames: str,
    frames: list[Frame],
    state: _Verification,
) -> None:
    with_face = [m for m in measures if m.has_face]
    if identity_frames == "all":
        chosen = with_face
    else:
        deciding = [
            block.positions[outcome.decisive_position]
            for block, outcome in zip(blocks, outcomes, strict=True)
            if outcome.decisive_position is not None
        ]
        chosen = identity.frames_to_embed(with_face, [measures[p] for p in deciding])
    report = identity.compare_identities(
        [(frames[m.index].rgb, m) for m in chosen], reference_embedding
    )
    state.identity = report.as_dict()
    if report.refusal_code:
        raise Refusal(report.refusal_code, report.refusal_message)
