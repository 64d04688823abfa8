"""Checks on the sequence itself, before any model runs: count, times, copies, prompt order.

They are cheap and they settle the obvious cases (a repeated photo, frames out of order, a
hole where another clip could be swapped in) without paying for face detection.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from gateway.verification.liveness.challenge import Challenge
from gateway.verification.liveness.frames import NEUTRAL_PROMPT, Frame, duplicate_pairs, thumbnail

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


class Refusal(Exception):
    """A check failed: stop, and answer not live with this hint."""

    def __init__(self, code: str, message: str, confidence: float = 0.95) -> None:
        super().__init__(message)
        self.code, self.message, self.confidence = code, message, confidence


@dataclass
class PromptBlock:
    """The consecutive frames captured under one prompt of the challenge."""

    prompt: str
    positions: list[int]  # frame positions, in time order


def check_sequence(
    challenge: Challenge, frames: list[Frame], facts: dict[str, Any]
) -> list[PromptBlock]:
    """Group the frames by prompt, or raise `Refusal`; what was measured goes into `facts`."""
    allowed = set(challenge.prompts) | {NEUTRAL_PROMPT}
    unexpected = sorted({frame.prompt for frame in frames} - allowed)
    if unexpected:
        raise Refusal(
            "unexpected_prompt",
            f"Frames were tagged with prompts not in the challenge: {unexpected}.",
        )
    if len(frames) > MAX_FRAMES:
        raise Refusal("too_many_frames", f"At most {MAX_FRAMES} frames are accepted.")
    times = [frame.t_ms for frame in frames]
    if any(later <= earlier for earlier, later in itertools.pairwise(times)):
        raise Refusal(
            "frames_out_of_order", "Frame capture times must increase from one frame to the next."
        )
    if len(times) >= 2:
        largest_gap_ms = max(b - a for a, b in itertools.pairwise(times))
        facts["largest_gap_ms"] = largest_gap_ms
        if largest_gap_ms > MAX_FRAME_GAP_MS:
            raise Refusal(
                "frames_time_gap",
                f"Frames are {largest_gap_ms / 1000:.1f} s apart; capture the prompts in one go "
                f"(at most {MAX_FRAME_GAP_MS / 1000:.0f} s between frames).",
            )
        if times[-1] - times[0] > MAX_SEQUENCE_MS:
            raise Refusal(
                "sequence_too_long",
                f"The capture took longer than {MAX_SEQUENCE_MS / 1000:.0f} s; start again.",
            )
    pairs = duplicate_pairs(frames, [thumbnail(frame.rgb) for frame in frames])
    copies = sorted({j for _, j, _ in pairs})
    facts["duplicates"] = len(copies)
    if len(copies) > MAX_DUPLICATE_FRAMES:
        raise Refusal(
            "frames_duplicated",
            f"{len(copies)} frames are copies of earlier frames; a live capture never repeats "
            "an image.",
        )
    blocks: list[PromptBlock] = []
    for position, frame in enumerate(frames):
        if frame.prompt == NEUTRAL_PROMPT:
            if blocks:
                raise Refusal("prompt_order", "Neutral frames belong before the first prompt only.")
            continue
        if blocks and blocks[-1].prompt == frame.prompt:
            blocks[-1].positions.append(position)
        else:
            blocks.append(PromptBlock(frame.prompt, [position]))
    got = [block.prompt for block in blocks]
    if got != list(challenge.prompts):
        raise Refusal(
            "prompt_order",
            f"Frames must follow the challenge in order {list(challenge.prompts)}; got {got}.",
        )
    for block in blocks:
        needed = MIN_FRAMES_BLINK if block.prompt == "blink" else MIN_FRAMES_PER_PROMPT
        if len(block.positions) < needed:
            raise Refusal(
                "too_few_frames",
                f"Prompt {block.prompt} needs at least {needed} frames; "
                f"got {len(block.positions)}.",
            )
    return blocks
