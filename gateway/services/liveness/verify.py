"""Verify a challenge from the frames captured under it: the liveness decision.

The sequence is live when, all at once: the challenge has not expired; there are enough frames,
in time order, close enough together, and not copies of one image; each prompt's frames show
its movement, in the challenged order; one face is present throughout and it is one person (and
the document's person, when a reference embedding is given). Passive cues are measured on one
frame and reported as evidence; they never make a sequence live.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.services.faces import MIN_FACE_PX, embed_face, face_distance
from gateway.services.liveness import decisions
from gateway.services.liveness.challenge import Challenge
from gateway.services.liveness.frames import (
    NEUTRAL_PROMPT,
    Frame,
    FrameMeasure,
    duplicate_pairs,
    measure_frame,
    parse_frames,
    thumbnail,
)
from gateway.services.liveness.landmark_sources import LandmarkSource, landmark_source_from_name
from gateway.services.liveness.passive import analyze_passive
from gateway.services.liveness.planarity import PLANAR_CORRELATION, planar_fit
from gateway.services.liveness.pose import pitch_up_deg

SPOOF_TYPES = ("none", "screen", "paper", "mask", "deepfake", "unknown")
MIN_FRAMES_PER_PROMPT = 2
MIN_FRAMES_BLINK = 3  # a dip needs a frame before, during and after
MAX_FRAMES = 40
# Between two frames: a prompt change with time to read it fits in 5 s; a longer hole is where
# a different clip or person can be swapped in.
MAX_FRAME_GAP_MS = 5_000
MAX_SEQUENCE_MS = 60_000
# Frames that are near copies of an earlier frame: one is tolerated (a very still applicant),
# more fail.
MAX_DUPLICATE_FRAMES = 1
MAX_FACELESS_FRACTION = 0.25
# One person across the frames: the project's same-person distance (similarity 0.75). On the
# shared clip, frames of one shot lie within 0.56 of their medoid; different people ~0.9.
IDENTITY_MAX_DISTANCE = 0.6
DOCUMENT_MAX_DISTANCE = 0.6
# Between consecutive frames, what counts as a jump worth an embedding (see _discontinuities).
JUMP_CENTRE_SHIFT = 0.35  # face box centre moved by this fraction of the face width
JUMP_SIZE_RATIO = 1.3
JUMP_SCENE_MIN_CHANGE = 8.0  # mean grey-level change of the 32x32 thumbnail
JUMP_SCENE_FACTOR = 3.0


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


class _Refusal(Exception):
    """A check failed: stop, and answer not live with this hint."""

    def __init__(self, code: str, message: str, confidence: float = 0.95) -> None:
        super().__init__(message)
        self.code, self.message, self.confidence = code, message, confidence


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
            raise _Refusal(
                "challenge_expired", "The challenge expired; start the liveness step again.", 1.0
            )
        parsed = parse_frames(frames)
        blocks = _check_sequence(challenge, parsed, state)
        measures = _measure(parsed, source, mirrored, state)
        outcomes = _decide_prompts(blocks, measures, parsed, source, state)
        _check_identity(
            measures, outcomes, blocks, reference_embedding, identity_frames, parsed, state
        )
    except _Refusal as refusal:
        state.refuse(refusal)
    return state.result()


@dataclass
class _Block:
    prompt: str
    positions: list[int]  # frame positions, in time order


class _Verification:
    """Collects what each step found, so every answer (even an early refusal) is complete."""

    def __init__(self, challenge: Challenge, source: LandmarkSource) -> None:
        self.challenge = challenge
        self.source = source
        self.outcomes: list[decisions.PromptOutcome] = []
        self.hints: list[str] = []
        self.hint_codes: list[str] = []
        self.refusal: _Refusal | None = None
        self.passive: dict[str, Any] = {}
        self.passive_spoof_type = "unknown"
        self.identity: dict[str, Any] = {}
        self.frames: dict[str, Any] = {}

    def hint(self, code: str, message: str) -> None:
        self.hint_codes.append(code)
        self.hints.append(message)

    def refuse(self, refusal: _Refusal) -> None:
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


def _check_sequence(
    challenge: Challenge, frames: list[Frame], state: _Verification
) -> list[_Block]:
    """Count, time order, gaps, duplicates and prompt order: no model needed for any of it."""
    state.frames = {"count": len(frames)}
    allowed = set(challenge.prompts) | {NEUTRAL_PROMPT}
    unexpected = sorted({frame.prompt for frame in frames} - allowed)
    if unexpected:
        raise _Refusal(
            "unexpected_prompt",
            f"Frames were tagged with prompts not in the challenge: {unexpected}.",
        )
    if len(frames) > MAX_FRAMES:
        raise _Refusal("too_many_frames", f"At most {MAX_FRAMES} frames are accepted.")
    times = [frame.t_ms for frame in frames]
    if any(later <= earlier for earlier, later in itertools.pairwise(times)):
        raise _Refusal(
            "frames_out_of_order", "Frame capture times must increase from one frame to the next."
        )
    if len(times) >= 2:
        largest_gap_ms = max(b - a for a, b in itertools.pairwise(times))
        state.frames["largest_gap_ms"] = largest_gap_ms
        if largest_gap_ms > MAX_FRAME_GAP_MS:
            raise _Refusal(
                "frames_time_gap",
                f"Frames are {largest_gap_ms / 1000:.1f} s apart; capture the prompts in one go "
                f"(at most {MAX_FRAME_GAP_MS / 1000:.0f} s between frames).",
            )
        if times[-1] - times[0] > MAX_SEQUENCE_MS:
            raise _Refusal(
                "sequence_too_long",
                f"The capture took longer than {MAX_SEQUENCE_MS / 1000:.0f} s; start again.",
            )
    pairs = duplicate_pairs(frames, [thumbnail(frame.rgb) for frame in frames])
    copies = sorted({j for _, j, _ in pairs})
    state.frames["duplicates"] = len(copies)
    if len(copies) > MAX_DUPLICATE_FRAMES:
        raise _Refusal(
            "frames_duplicated",
            f"{len(copies)} frames are copies of earlier frames; a live capture never repeats "
            "an image.",
        )
    blocks: list[_Block] = []
    for position, frame in enumerate(frames):
        if frame.prompt == NEUTRAL_PROMPT:
            if blocks:
                raise _Refusal(
                    "prompt_order", "Neutral frames belong before the first prompt only."
                )
            continue
        if blocks and blocks[-1].prompt == frame.prompt:
            blocks[-1].positions.append(position)
        else:
            blocks.append(_Block(frame.prompt, [position]))
    got = [block.prompt for block in blocks]
    if got != list(challenge.prompts):
        raise _Refusal(
            "prompt_order",
            f"Frames must follow the challenge in order {list(challenge.prompts)}; got {got}.",
        )
    for block in blocks:
        needed = MIN_FRAMES_BLINK if block.prompt == "blink" else MIN_FRAMES_PER_PROMPT
        if len(block.positions) < needed:
            raise _Refusal(
                "too_few_frames",
                f"Prompt {block.prompt} needs at least {needed} frames; "
                f"got {len(block.positions)}.",
            )
    return blocks


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
        raise _Refusal(
            "face_not_found",
            f"No face was found in {faceless} of {len(measures)} frames; keep the face in view.",
        )
    if any(measure.second_face_large for measure in measures):
        raise _Refusal("multiple_faces", "More than one face is in view; only the applicant.")
    widths = [measure.face.width_px for measure in with_face]
    if widths and float(np.median(widths)) < MIN_FACE_PX:
        raise _Refusal("face_too_small", "The face is too small; come closer to the camera.")
    return measures


def _decide_prompts(
    blocks: list[_Block],
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
        raise _Refusal(
            "challenge_not_completed",
            "Not every prompt was performed; follow each instruction while it is shown.",
            0.5 + 0.4 * _shortfall(outcomes),
        )
    return outcomes


def _refuse_planar_motion(
    outcome: decisions.PromptOutcome,
    block: _Block,
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


def _discontinuities(with_face: list[FrameMeasure]) -> list[FrameMeasure]:
    """Frames whose face or scene jumps from the previous one: where a swap would show.

    In "decisive" mode only these, the first frame and the deciding frames are embedded (an
    embedding costs ~100-250 ms here). A frame from another capture moves the face box, changes
    its size or changes the whole picture at once; a head turn does none of that between frames
    100-300 ms apart.
    """
    jumps = []
    scene_changes = [
        float(np.mean(np.abs(b.thumbnail - a.thumbnail))) for a, b in itertools.pairwise(with_face)
    ]
    typical_change = float(np.median(scene_changes)) if scene_changes else 0.0
    for (previous, current), change in zip(
        itertools.pairwise(with_face), scene_changes, strict=True
    ):
        width = max(previous.face.width_px, 1)
        centre_shift = math.dist(_box_centre(previous), _box_centre(current)) / width
        size_ratio = current.face.width_px / width
        if (
            centre_shift > JUMP_CENTRE_SHIFT
            or not 1 / JUMP_SIZE_RATIO <= size_ratio <= JUMP_SIZE_RATIO
            or change > max(JUMP_SCENE_MIN_CHANGE, JUMP_SCENE_FACTOR * typical_change)
        ):
            # The frame after the jump: a foreign frame is entered by a jump (or is the first
            # frame, which is always embedded), so its own embedding is what counts.
            jumps.append(current)
    return jumps


def _box_centre(measure: FrameMeasure) -> tuple[float, float]:
    left, top, right, bottom = measure.face.box
    return (left + right) / 2, (top + bottom) / 2


def _check_identity(
    measures: list[FrameMeasure],
    outcomes: list[decisions.PromptOutcome],
    blocks: list[_Block],
    reference_embedding: np.ndarray | None,
    identity_frames: str,
    frames: list[Frame],
    state: _Verification,
) -> None:
    with_face = [m for m in measures if m.has_face]
    if identity_frames == "all":
        chosen = with_face
    else:
        positions = {with_face[0].index}
        for block, outcome in zip(blocks, outcomes, strict=True):
            if outcome.decisive_position is not None:
                positions.add(block.positions[outcome.decisive_position])
        positions.update(m.index for m in _discontinuities(with_face))
        chosen = [measures[p] for p in sorted(positions) if measures[p].has_face]
    for measure in chosen:
        measure.embedding = embed_face(frames[measure.index].rgb, measure.face)
    embeddings = np.stack([m.embedding for m in chosen])
    distances = np.linalg.norm(embeddings[:, None, :] - embeddings[None, :, :], axis=2)
    medoid = int(np.argmin(distances.sum(axis=1)))
    spread = float(distances[medoid].max())
    state.identity = {
        "frames_compared": len(chosen),
        "max_distance_to_medoid": round(spread, 3),
        "threshold": IDENTITY_MAX_DISTANCE,
        "margin": float(min(1.0, max(0.0, (IDENTITY_MAX_DISTANCE - spread) / 0.3))),
    }
    if spread > IDENTITY_MAX_DISTANCE:
        raise _Refusal(
            "identity_changed",
            f"The frames do not all show the same person (distance {spread:.2f} > "
            f"{IDENTITY_MAX_DISTANCE}).",
        )
    if reference_embedding is not None:
        # The mean of the frames' embeddings is steadier than any single frame.
        centre = embeddings.mean(axis=0)
        distance = face_distance(centre, np.asarray(reference_embedding, dtype=np.float64))
        state.identity["document_distance"] = round(distance, 3)
        state.identity["document_threshold"] = DOCUMENT_MAX_DISTANCE
        if distance > DOCUMENT_MAX_DISTANCE:
            raise _Refusal(
                "not_document_holder",
                f"The person in the frames does not match the document photo (distance "
                f"{distance:.2f} > {DOCUMENT_MAX_DISTANCE}).",
            )
        state.identity["margin"] = min(
            state.identity["margin"],
            float(min(1.0, max(0.0, (DOCUMENT_MAX_DISTANCE - distance) / 0.3))),
        )
