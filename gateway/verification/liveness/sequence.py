"""Checks on the sequence itself, before any model runs: count, times, copies, prompt order.

They are cheap and they settle the obvious cases (a repeated photo, frames out of order, a
hole where another clip could be swapped in) without paying for face detection.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.verification.liveness.challenge import Challenge
from gateway.verification.liveness.frames import NEUTRAL_PROMPT, Frame, thumbnail

MIN_FRAMES_PER_PROMPT = 5
MIN_FRAMES_BLINK = 5  # a dip needs frames before, during and after it
# The reference every movement is measured from. The flow sends ~1 s (10 frames); one frame is
# the floor (a blink in it makes the open level too low, which refuses, never accepts).
MIN_NEUTRAL_FRAMES = 1
# Dense capture: >= 10 frames per second during each prompt (the hosted flow sends ~2.5 s per
# prompt and ~1 s of neutral frames: ~90 frames for three prompts at 10 fps, ~130 at 15 fps).
MAX_FRAMES = 160
# Within a prompt, frames at most this far apart: a 70-170 ms blink or the path of a turn is
# only seen at the capture rate (a 10 fps burst has 100 ms gaps; 300 ms tolerates a stall).
MAX_FRAME_GAP_IN_PROMPT_MS = 300
# Between prompts the flow shows the next instruction; a longer hole is where a different clip
# or person can be swapped in.
MAX_FRAME_GAP_MS = 5_000
MAX_SEQUENCE_MS = 60_000
# Copies: a frame byte-identical to another, or pixel-identical (full-resolution grey images
# differing by less than this mean absolute grey level). Measured on the dev clips at 480 px,
# JPEG q80: consecutive video frames 33 ms apart of a person holding still differ by >= 0.046
# (a codec repeating static areas); exact re-sends differ by 0. A camera may deliver the same
# frame twice when the burst outruns it, so copies of the frame just before are tolerated up to
# MAX_REPEAT_FRACTION; a copy of any earlier frame is a replay.
COPY_MEAN_ABS_DIFF = 0.01
MAX_REPEAT_FRACTION = 0.1


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
    challenge: Challenge,
    frames: list[Frame],
    facts: dict[str, Any],
    thumbnails: list[np.ndarray] | None = None,
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
    repeats, replays = copies(frames, thumbnails)
    facts["duplicates"] = repeats + replays
    if replays or repeats > MAX_REPEAT_FRACTION * len(frames):
        raise Refusal(
            "frames_duplicated",
            f"{repeats + replays} frames are exact copies of other frames; a live capture never "
            "sends the same image again.",
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
    neutral_count = sum(1 for frame in frames if frame.prompt == NEUTRAL_PROMPT)
    if neutral_count < MIN_NEUTRAL_FRAMES:
        raise Refusal(
            "too_few_frames",
            f"At least {MIN_NEUTRAL_FRAMES} neutral frames are needed before the first prompt; "
            f"got {neutral_count}.",
        )
    for block in blocks:
        gaps = [times[b] - times[a] for a, b in itertools.pairwise(block.positions)]
        if gaps and max(gaps) > MAX_FRAME_GAP_IN_PROMPT_MS:
            raise Refusal(
                "capture_too_sparse",
                f"Frames under {block.prompt} are up to {max(gaps):.0f} ms apart; the movement "
                f"is only seen at >= 10 frames per second (at most "
                f"{MAX_FRAME_GAP_IN_PROMPT_MS} ms apart).",
            )
    return blocks


def copies(frames: list[Frame], thumbnails: list[np.ndarray] | None = None) -> tuple[int, int]:
    """(repeats of the frame just before, copies of any earlier frame): exact copies only.

    Candidates are found on 32x32 thumbnails (all pairs in one matrix product), then confirmed
    on the full images, so a burst of ~100 frames costs a few milliseconds.
    """
    if not frames:
        return 0, 0
    if thumbnails is None:
        thumbnails = [thumbnail(frame.rgb) for frame in frames]
    stacked = np.stack([small.ravel() for small in thumbnails]).astype(np.float64)
    # Candidates by the root-mean-square difference, all pairs in one product: a mean absolute
    # difference under COPY_MEAN_ABS_DIFF implies an RMS under sqrt(255 * COPY_MEAN_ABS_DIFF).
    squares = (stacked**2).sum(axis=1)
    mean_squares = (squares[:, None] + squares[None, :] - 2.0 * stacked @ stacked.T) / len(
        stacked[0]
    )
    candidates = mean_squares <= 255.0 * COPY_MEAN_ABS_DIFF + 1e-6
    latest_with_digest: dict[str, int] = {}
    repeats = replays = 0
    for position, frame in enumerate(frames):
        # the latest earlier frame with the same bytes, unless a later one has the same pixels
        earlier = latest_with_digest.get(frame.sha256) if frame.sha256 else None
        if frame.sha256:
            latest_with_digest[frame.sha256] = position
        for other in np.flatnonzero(candidates[position, :position])[::-1]:
            if earlier is not None and other <= earlier:
                break
            if (
                float(np.mean(np.abs(stacked[position] - stacked[other]))) < COPY_MEAN_ABS_DIFF
                and frames[other].rgb.shape == frame.rgb.shape
                and float(np.mean(np.abs(frames[other].rgb.astype(np.int16) - frame.rgb)))
                < COPY_MEAN_ABS_DIFF
            ):
                earlier = other
                break
        if earlier is None:
            continue
        if earlier == position - 1:
            repeats += 1
        else:
            replays += 1
    return repeats, replays
