"""Verify a challenge from the frames captured under it: the liveness decision.

The sequence is live when, all at once: the challenge has not expired; the frames are dense
(>= 10 per second under each prompt), in time order, and no frame is an exact copy of another;
one face is present throughout, followed by a 468-point mesh; each prompt's frames show its
movement against the applicant's own neutral frames, in the challenged order, reached through
intermediate poses with the pixels moving as the mesh does (not two photos, not a cross-fade),
and not as a flat picture; and it is one person throughout (and the document's person, when a
reference embedding is given). Passive cues are measured on one frame and reported as evidence;
they never make a sequence live.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.verification.faces.recognition import MIN_FACE_PX, DetectedFace
from gateway.verification.liveness import (
    head_motion,
    identity,
    other_movements,
    series,
    stillness,
)
from gateway.verification.liveness.challenge import Challenge
from gateway.verification.liveness.frames import NEUTRAL_PROMPT, Frame, parse_frames, thumbnail
from gateway.verification.liveness.passive import analyze_passive
from gateway.verification.liveness.sequence import (
    MAX_FRAME_GAP_IN_PROMPT_MS,
    PromptBlock,
    Refusal,
    check_sequence,
)
from gateway.verification.liveness.tracking import TrackedFrame, track

SPOOF_TYPES = ("none", "screen", "paper", "mask", "deepfake", "unknown")
LANDMARK_SOURCE = "mediapipe_face_mesh"
MAX_FACELESS_FRACTION = 0.25


@dataclass
class LivenessResult:
    """The service's answer; `as_dict` is the endpoint's body (without processing_ms/usage)."""

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

    def as_dict(self) -> dict[str, Any]:
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
    landmark_source: str | None = None,
    mirrored: bool = False,
    identity_frames: str = "decisive",
    known_embeddings: Mapping[int, np.ndarray] | None = None,
    known_faces: Mapping[int, Sequence[DetectedFace]] | None = None,
) -> LivenessResult:
    """Decide liveness for `frames` (``[{rgb | image, prompt, t_ms}]``) captured under `challenge`.

    `frames` are a dense burst: "neutral" frames first (the reference), then >= 10 frames per
    second under each prompt, in the challenged order. `reference_embedding` is the document
    face's 128-D embedding: when given, the frames must show that person. `mirrored` says the
    client flipped its frames left-right. `identity_frames` is "decisive" (the first frame,
    each prompt's deciding frame and any frame where the face or scene jumps are embedded) or
    "all" (every frame with a face: ~100 ms each). `known_embeddings` are face embeddings the
    caller already took of some frames (by index: the worker's face match), used as they are
    and never taken again; `known_faces` likewise `detect_faces`' answers for some frames.
    `landmark_source` must be None or
    "mediapipe_face_mesh" (the only source the dense decisions are calibrated for).
    Malformed frames raise `ValidationFailed`; every other failure is a not-live result with a
    hint, never an exception.
    """
    if landmark_source not in (None, LANDMARK_SOURCE):
        raise ValueError(f"landmark_source must be {LANDMARK_SOURCE!r}")
    if identity_frames not in {"decisive", "all"}:
        raise ValueError("identity_frames must be 'decisive' or 'all'")
    state = _Verification(challenge)
    try:
        if challenge.is_expired(now):
            raise Refusal(
                "challenge_expired", "The challenge expired; start the liveness step again.", 1.0
            )
        parsed = parse_frames(frames)
        state.frames = {"count": len(parsed)}
        thumbnails = [thumbnail(frame.rgb) for frame in parsed]
        checked = check_sequence(challenge, parsed, state.frames, thumbnails)
        if len(checked.kept) < len(parsed):
            # a repeat of the frame before carries no new image: every step sees the others
            parsed = [parsed[index] for index in checked.kept]
            thumbnails = [thumbnails[index] for index in checked.kept]
            known_faces = _renumbered(known_faces, checked.kept)
            known_embeddings = _renumbered(known_embeddings, checked.kept)
        tracked = _measure(parsed, mirrored, state, thumbnails, known_faces)
        _check_continuity(tracked, state)
        _decide_prompts(checked.blocks, tracked, parsed, state)
        _check_stillness(parsed, tracked, state)
        _check_identity(
            tracked, reference_embedding, identity_frames, parsed, known_embeddings or {}, state
        )
    except Refusal as refusal:
        state.refuse(refusal)
    return state.result()


def _renumbered(by_index: Mapping[int, Any] | None, kept: list[int]) -> dict[int, Any]:
    """A caller's per-frame answers (by position as sent) by position among the kept frames."""
    by_index = by_index or {}
    return {new: by_index[old] for new, old in enumerate(kept) if old in by_index}


class _Verification:
    """Collects what each step found, so every answer (even an early refusal) is complete."""

    def __init__(self, challenge: Challenge) -> None:
        self.challenge = challenge
        self.outcomes: list[series.PromptOutcome] = []
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
            landmark_source=LANDMARK_SOURCE,
        )


def _measure(
    frames: list[Frame],
    mirrored: bool,
    state: _Verification,
    thumbnails: list[np.ndarray],
    known_faces: Mapping[int, Sequence[DetectedFace]] | None,
) -> list[TrackedFrame]:
    tracked = track(frames, mirrored=mirrored, thumbnails=thumbnails, known_faces=known_faces)
    with_face = [item for item in tracked if item.has_face]
    state.frames["with_face"] = len(with_face)
    detected = [item for item in tracked if item.detected is not None]
    if detected:
        first = detected[0]
        passive = analyze_passive(frames[first.index].rgb, face=first.detected)
        state.passive = passive.as_dict()
        state.passive_spoof_type = passive.spoof_type
    faceless = len(tracked) - len(with_face)
    if faceless > MAX_FACELESS_FRACTION * len(tracked):
        raise Refusal(
            "face_not_found",
            f"No face was found in {faceless} of {len(tracked)} frames; keep the face in view.",
        )
    if any(item.second_face_large for item in tracked):
        raise Refusal("multiple_faces", "More than one face is in view; only the applicant.")
    widths = [item.detected.width_px for item in detected]
    if widths and float(np.median(widths)) < MIN_FACE_PX:
        raise Refusal("face_too_small", "The face is too small; come closer to the camera.")
    return tracked


@dataclass(frozen=True)
class _Baseline:
    """The applicant's own neutral levels, from the frames before the first prompt."""

    open_level: float
    mouth_width: float
    mouth_lift: float
    mouth_corners_x: tuple[float, float]
    yaw_deg: float
    pitch_deg: float
    reference: TrackedFrame


def _baseline(tracked: list[TrackedFrame]) -> _Baseline:
    neutral = [item for item in tracked if item.prompt == NEUTRAL_PROMPT and item.has_face]
    if not neutral:
        raise Refusal("face_not_found", "No face in the neutral frames; look at the camera.")
    yaw = series.median_or_nan([item.yaw_deg for item in neutral])
    frontal = [item for item in neutral if abs(item.yaw_deg - yaw) <= series.FRONTAL_YAW_DEG]
    return _Baseline(
        open_level=series.upper_level([item.eye_openness for item in frontal]),
        mouth_width=series.median_or_nan([item.mouth_width for item in frontal]),
        mouth_lift=series.median_or_nan([item.mouth_lift for item in frontal]),
        mouth_corners_x=(
            series.median_or_nan([item.mouth_corners_x[0] for item in frontal]),
            series.median_or_nan([item.mouth_corners_x[1] for item in frontal]),
        ),
        yaw_deg=yaw,
        pitch_deg=series.median_or_nan([item.pitch_deg for item in frontal]),
        reference=frontal[len(frontal) // 2] if frontal else neutral[0],
    )


def _decide_prompts(
    blocks: list[PromptBlock],
    tracked: list[TrackedFrame],
    frames: list[Frame],
    state: _Verification,
) -> list[series.PromptOutcome]:
    base = _baseline(tracked)

    def frontal(item: TrackedFrame) -> bool:
        return item.has_face and abs(item.yaw_deg - base.yaw_deg) <= series.FRONTAL_YAW_DEG

    outcomes = []
    for block in blocks:
        items = [tracked[position] for position in block.positions]
        first = block.positions[0]
        lookback = tracked[max(0, first - series.BLINK_LOOKBACK_FRAMES) : first]
        if block.prompt in {"turn_left", "turn_right", "look_up"}:
            outcome = _movement(block.prompt, items, lookback, base)
        elif block.prompt == "blink":
            outcome = series.blink_outcome(
                [item.eye_openness if frontal(item) else math.nan for item in items],
                base.open_level,
                [item.eye_openness if frontal(item) else math.nan for item in lookback],
            )
        else:  # smile
            outcome = series.smile_outcome(
                [item.mouth_width if frontal(item) else math.nan for item in items],
                [item.mouth_lift if frontal(item) else math.nan for item in items],
                base.mouth_width,
                base.mouth_lift,
                [item.t_ms for item in items],
                [
                    series.corner_moves(item.mouth_corners_x, base.mouth_corners_x)
                    if frontal(item)
                    else (math.nan, math.nan)
                    for item in items
                ],
                [item.mouth_opening if frontal(item) else math.nan for item in items],
            )
        if block.prompt != "smile":
            outcome = other_movements.refuse_other_movements(
                outcome,
                [*lookback, *items],
                len(lookback),
                base.mouth_width,
                base.mouth_lift,
                base.yaw_deg,
                base.mouth_corners_x,
            )
        if outcome.satisfied and block.prompt in {"turn_left", "turn_right", "look_up"}:
            # Only head movements: on a forming smile the lips deform and lose texture, and
            # the pixel tracker disagreed with the mesh on 6 of 15 genuine dev smiles.
            outcome = head_motion.refuse_fade(outcome, block, tracked, frames, state.hint)
        if outcome.satisfied and block.prompt in {"turn_left", "turn_right", "look_up"}:
            outcome = head_motion.refuse_planar_motion(
                outcome, block, base.reference, tracked, frames, state.hint
            )
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


def _movement(
    prompt: str, items: list[TrackedFrame], lookback: list[TrackedFrame], base: _Baseline
) -> series.PromptOutcome:
    """Turns on yaw (signed so the asked direction is positive), look_up on pitch."""
    if prompt == "look_up":

        def angle(item: TrackedFrame) -> float:
            return (
                item.pitch_deg
                if abs(item.yaw_deg - base.yaw_deg) <= series.FRONTAL_YAW_DEG
                else math.nan
            )

        baseline, threshold = base.pitch_deg, series.LOOK_UP_PITCH_DEG
    else:
        sign = 1.0 if prompt == "turn_left" else -1.0

        def angle(item: TrackedFrame) -> float:
            return sign * item.yaw_deg

        baseline, threshold = sign * base.yaw_deg, series.TURN_YAW_DEG
    return series.turn_outcome(
        prompt,
        [angle(item) if item.has_face else math.nan for item in items],
        [item.t_ms for item in items],
        baseline,
        threshold_deg=threshold,
        lookback_deg=[angle(item) if item.has_face else math.nan for item in lookback],
        lookback_ms=[item.t_ms for item in lookback],
    )


def _shortfall(outcomes: list[series.PromptOutcome]) -> float:
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


def _check_continuity(tracked: list[TrackedFrame], state: _Verification) -> None:
    """Refuse a cut between frames close in time: a live camera stream has none
    (identity.continuity)."""
    with_face = [item for item in tracked if item.has_face]
    measured = identity.continuity(with_face, MAX_FRAME_GAP_IN_PROMPT_MS)
    state.frames["continuity"] = measured.as_dict()
    if measured.cuts:
        raise Refusal(
            "frames_spliced",
            f"The picture jumps at {measured.cuts[0].t_ms:.0f} ms as if cut from another "
            "recording; capture the whole challenge in one go.",
        )


def _check_stillness(
    frames: list[Frame], tracked: list[TrackedFrame], state: _Verification
) -> None:
    """Refuse one or two pictures shown again and again (stillness.py)."""
    measured = stillness.measure_stillness(frames, tracked)
    state.frames["stillness"] = measured.as_dict()
    if measured.is_still_picture:
        raise Refusal(
            "still_picture",
            "Apart from the prompted movement the picture did not change at all, as with a "
            "photo shown to the camera; the applicant must be in front of the camera.",
        )


def _check_identity(
    tracked: list[TrackedFrame],
    reference_embedding: np.ndarray | None,
    identity_frames: str,
    frames: list[Frame],
    known_embeddings: Mapping[int, np.ndarray],
    state: _Verification,
) -> None:
    with_face = [item for item in tracked if item.has_face]
    if identity_frames == "all":
        chosen = with_face
    else:
        # One frame of each continuous stretch and of each run a jump opens (a frame the
        # caller already embedded when it holds one), and every frame the caller embedded:
        # within a stretch the mesh follows one face at 10+ fps and a cut is refused
        # (_check_continuity). Embeddings cost ~100-150 ms each here.
        chosen = identity.frames_to_embed(
            with_face, MAX_FRAME_GAP_IN_PROMPT_MS, known=set(known_embeddings)
        )
    report = identity.compare_identities(
        [(frames[item.index].rgb, item, known_embeddings.get(item.index)) for item in chosen],
        reference_embedding,
    )
    state.identity = report.as_dict()
    if report.refusal_code:
        raise Refusal(report.refusal_code, report.refusal_message)
