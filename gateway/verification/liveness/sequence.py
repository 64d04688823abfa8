"""Checks on the sequence itself, before any model runs: count, times, copies, prompt order.

They are cheap and they settle the obvious cases (a repeated photo, frames out of order, a
hole where another clip could be swapped in) without paying for face detection.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
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
# ...and this many frames a second over the prompt (first to last frame). The rules were
# calibrated at 10-15 fps and decide alike there (eval/liveness_eval.py --fps, docs/liveness.md
# "Other capture rates"); at 7.5 fps a cross-fade between two photos passed the stillness test
# (its residual rises as its frames grow apart) and a real turn was refused. A browser starved
# of CPU sent 9.4 a second (docs/hosted-flow.md); a camera slows down in the dark.
MIN_PROMPT_FPS = 8.5
# Between prompts the flow shows the next instruction; a longer hole is where a different clip
# or person can be swapped in.
MAX_FRAME_GAP_MS = 5_000
MAX_SEQUENCE_MS = 60_000
# Copies: a frame byte-identical to another, or pixel-identical (full-resolution grey images
# differing by less than this mean absolute grey level). Measured on the dev clips at 480 px,
# JPEG q80: consecutive video frames 33 ms apart of a person holding still differ by >= 0.046
# (a codec repeating static areas); exact re-sends differ by 0. A copy of any earlier frame is a
# replay. A copy of the frame just before is a camera slower than the capture delivering the
# same image twice: it carries nothing new, so it is left out, and the frames left must still
# be dense (a still photo sent as repeats leaves too few; a slow slideshow padded with repeats
# leaves gaps). The hosted flow takes a frame only when the camera delivers a new one; an API
# client grabbing at 12 fps from a 10 fps camera repeats 1 frame in 6.
COPY_MEAN_ABS_DIFF = 0.01


class Refusal(Exception):
    """A check failed: stop, and answer not live with this hint."""

    def __init__(self, code: str, message: str, confidence: float = 0.95) -> None:
        super().__init__(message)
        self.code, self.message, self.confidence = code, message, confidence


@dataclass
class PromptBlock:
    """The consecutive frames captured under one prompt of the challenge."""

    prompt: str
    positions: list[int]  # positions in the kept frames (SequenceCheck.kept), in time order


@dataclass
class SequenceCheck:
    """What the sequence checks let through: the frames that carry a new image, by prompt."""

    kept: list[int]  # positions in the frames as sent, repeats of the frame before left out
    blocks: list[PromptBlock]


def check_sequence(
    challenge: Challenge,
    frames: list[Frame],
    facts: dict[str, Any],
    thumbnails: list[np.ndarray] | None = None,
) -> SequenceCheck:
    """Group the frames by prompt, or raise `Refusal`; what was measured goes into `facts`.

    Repeats of the frame just before are left out (COPY_MEAN_ABS_DIFF): the counts and the
    density are checked on the frames that are left.
    """
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
    facts["duplicates"] = len(repeats) + replays
    if replays:
        raise Refusal(
            "frames_duplicated",
            f"{replays} frames are exact copies of earlier frames; a live capture never sends "
            "the same image again.",
        )
    facts["repeats_left_out"] = len(repeats)
    left_out = set(repeats)
    blocks: list[PromptBlock] = []  # positions in the frames as sent, until the end
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
    neutral_count = sum(
        1
        for position, frame in enumerate(frames)
        if frame.prompt == NEUTRAL_PROMPT and position not in left_out
    )
    if neutral_count < MIN_NEUTRAL_FRAMES:
        raise Refusal(
            "too_few_frames",
            f"At least {MIN_NEUTRAL_FRAMES} neutral frames are needed before the first prompt; "
            f"got {neutral_count}.",
        )
    for block in blocks:
        _check_density(block, [p for p in block.positions if p not in left_out], times)
    kept = [position for position in range(len(frames)) if position not in left_out]
    index_in_kept = {position: index for index, position in enumerate(kept)}
    for block in blocks:
        block.positions = [index_in_kept[p] for p in block.positions if p in index_in_kept]
    return SequenceCheck(kept, blocks)


def _check_density(block: PromptBlock, kept: list[int], times: list[float]) -> None:
    """Enough frames under the prompt, close enough in time, counting only `kept` ones.

    A shortfall that leaving out repeats caused is `frames_duplicated`: the camera delivered
    too few new images, which the applicant cannot fix by moving differently.
    """
    needed = MIN_FRAMES_BLINK if block.prompt == "blink" else MIN_FRAMES_PER_PROMPT
    repeats = len(block.positions) - len(kept)
    note = f" once the {repeats} frames that repeat the one before are left out" if repeats else ""
    if len(kept) < needed:
        raise Refusal(
            "frames_duplicated" if len(block.positions) >= needed else "too_few_frames",
            f"Prompt {block.prompt} needs at least {needed} frames; got {len(kept)}{note}.",
        )
    largest = _largest_gap(kept, times)
    if largest > MAX_FRAME_GAP_IN_PROMPT_MS:
        caused = _largest_gap(block.positions, times) <= MAX_FRAME_GAP_IN_PROMPT_MS
        raise Refusal(
            "frames_duplicated" if caused else "capture_too_sparse",
            f"Frames under {block.prompt} are up to {largest:.0f} ms apart{note}; the movement "
            f"is only seen at >= 10 frames per second (at most {MAX_FRAME_GAP_IN_PROMPT_MS} ms "
            "apart).",
        )
    rate = capture_rate([times[position] for position in kept])
    if rate < MIN_PROMPT_FPS:
        caused = capture_rate([times[position] for position in block.positions]) >= MIN_PROMPT_FPS
        raise Refusal(
            "frames_duplicated" if caused else "capture_too_sparse",
            f"Frames under {block.prompt} came at {rate:.1f} a second{note}; the movement is "
            f"only judged at {MIN_PROMPT_FPS:g} or more (a camera slows down in the dark: more "
            "light helps).",
        )


def _largest_gap(positions: list[int], times: list[float]) -> float:
    return max((times[b] - times[a] for a, b in itertools.pairwise(positions)), default=0.0)


def capture_rate(times_ms: Sequence[float]) -> float:
    """Frames a second from the first frame to the last (infinite for fewer than two).

    The upload (services/capture_rules.py) asks the same of the hosted flow's frames, so a
    camera too slow for these rules is told at once, before anything is stored.
    """
    if len(times_ms) < 2 or times_ms[-1] <= times_ms[0]:
        return math.inf
    return (len(times_ms) - 1) * 1000.0 / (times_ms[-1] - times_ms[0])


def copies(
    frames: list[Frame], thumbnails: list[np.ndarray] | None = None
) -> tuple[list[int], int]:
    """(positions of repeats of the frame just before, how many copy an earlier frame).

    Exact copies only. A run of one image (A A A) is two repeats, each of the one before.

    Candidates are found on 32x32 thumbnails (all pairs in one matrix product), then confirmed
    on the full images, so a burst of ~100 frames costs a few milliseconds.
    """
    if not frames:
        return [], 0
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
    repeats: list[int] = []
    replays = 0
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
            repeats.append(position)
        else:
            replays += 1
    return repeats, replays
