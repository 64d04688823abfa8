"""Is the burst a live face, or one or two pictures shown again and again?

Two photos of the applicant (eyes open and closed, neutral and smiling) shown in turn, or
cross-faded, make the eyelid and mouth series of a real blink or smile: at 10 frames a second a
blink is one or two frames, so its series alone cannot tell them apart. What differs is the rest
of the face. Between two re-captures of one photo the face moves as one flat picture (the camera
or the photo shakes, tilts), so after aligning the one to the other with a single homography
nothing is left but noise. A live face is never that still: it turns a little, breathes, speaks,
its eyes move and the light on it changes.

Measure: frames `STEP_FRAMES` apart (~300 ms at the flow's rate), at a quarter of the
resolution, the face inside the first frame's mesh outline (less `INSET`), the second frame
aligned onto it (OpenCV's ECC, homography, starting from the mesh's own motion), smoothed; the
mean absolute grey-level difference left, over the first patch's mean gradient magnitude (grey
levels per pixel). In grey levels the residual
followed the light: at half the light live faces fell under the limit (8 of 52 dev sequences,
eval/liveness_eval.py --camera dim). Over the gradient it is a distance in pixels, roughly how
far the face's texture moved other than as one plane, whatever the light. The burst's median
over up to `MAX_PAIRS` such pairs is its `residual`. The threshold and the figures behind it:
MIN_LIVE_RESIDUAL, docs/liveness.md.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from gateway.verification.liveness.frames import Frame
from gateway.verification.liveness.tracking import TrackedFrame

# Measured at the flow's 12 fps on every phase offset of the dev clips (eval/liveness_eval.py):
# genuine bursts 0.37-4.5 (quarter-resolution pixels), re-captured photo pairs and cross-fades
# 0.056-0.11; the limit at their geometric middle, 1.8x from each. Aligned from the mesh's
# motion in the whole later frame (since b703a70): genuine 0.362-1.14, pairs and fades
# 0.058-0.096 (1.81x and 2.08x); with the phone swaying 8 px a frame genuine from 0.382, pairs
# and fades at most 0.099 (before: up to 2.2, 19 of 112 accepted). In grey levels
# (until 413a912) genuine 1.61-24, attacks 0.28-0.61 under a limit of 1.0: 1.6x and 1.6x.
MIN_LIVE_RESIDUAL = 0.2
STEP_FRAMES = 3
MAX_PAIRS = 16
SCALE = 0.25
# Of the face's width and height: the region is the mesh's outline shrunk by this much, so it
# holds the face only (a photo moved by hand in front of a still background would otherwise
# leave the background misaligned, as a live face does).
INSET = 0.1
# A patch with less texture than this (grey levels per pixel: a black frame, a blank wall) counts
# as if it had this much, so its residual is not blown up by a division by ~0.
MIN_TEXTURE = 0.5
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)


@dataclass(frozen=True)
class Stillness:
    """The burst's residual after aligning re-captures (see the module docstring)."""

    residual: float
    pairs: int

    @property
    def is_still_picture(self) -> bool:
        return self.pairs > 0 and self.residual < MIN_LIVE_RESIDUAL

    def as_dict(self) -> dict:
        return {
            "residual": None if not math.isfinite(self.residual) else round(self.residual, 3),
            "threshold": MIN_LIVE_RESIDUAL,
            "pairs": self.pairs,
        }


def measure_stillness(frames: Sequence[Frame], tracked: Sequence[TrackedFrame]) -> Stillness:
    """Median aligned residual of frame pairs STEP_FRAMES apart (both with a face)."""
    with_face = [item for item in tracked if item.has_face]
    starts = range(len(with_face) - STEP_FRAMES)
    if len(starts) > MAX_PAIRS:
        starts = np.linspace(0, len(starts) - 1, MAX_PAIRS).round().astype(int)
    small: dict[int, np.ndarray] = {}

    def reduced(index: int) -> np.ndarray:
        if index not in small:
            gray = cv2.cvtColor(frames[index].rgb, cv2.COLOR_RGB2GRAY)
            small[index] = cv2.resize(
                gray, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA
            ).astype(np.float32)
        return small[index]

    residuals = []
    for start in starts:
        earlier, later = with_face[start], with_face[start + STEP_FRAMES]
        first, second = reduced(earlier.index), reduced(later.index)
        if first.shape != second.shape:
            continue
        region = _region(earlier, first.shape)
        residual = _aligned_residual(first, second, region, _mesh_motion(earlier, later, region))
        if residual is not None:
            residuals.append(residual)
    if not residuals:
        return Stillness(math.nan, 0)
    return Stillness(float(np.median(residuals)), len(residuals))


def _region(item: TrackedFrame, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """Rows and columns of the face's outline less INSET on every side, at the reduced scale."""
    low, high = item.points[:, :2].min(axis=0) * SCALE, item.points[:, :2].max(axis=0) * SCALE
    width, height = high - low
    left = max(0, int(low[0] + INSET * width))
    top = max(0, int(low[1] + INSET * height))
    right = min(shape[1], math.ceil(high[0] - INSET * width))
    bottom = min(shape[0], math.ceil(high[1] - INSET * height))
    return slice(top, bottom), slice(left, right)


def _mesh_motion(
    earlier: TrackedFrame, later: TrackedFrame, region: tuple[slice, slice]
) -> np.ndarray:
    """Where the face went between the two frames as the mesh saw it: a 3x3 warp from the
    earlier frame's region (its own coordinates, reduced) into the later frame (reduced), the
    similarity (shift, turn, scale) that best carries the one mesh onto the other; the
    alignment starts from it.

    The alignment only finds what lies near its start, and the later frame must still hold the
    face around it: cut at the earlier frame's place, a face that had moved a few reduced
    pixels (a photo waved in front of the camera, a phone swaying in the hand: 8 px a frame at
    480 px) was partly outside its patch, and a photo pair read as a live face
    (eval/liveness_eval.py --camera handheld_strong: pairs and cross-fades accepted 19 of 112).
    """
    source = (earlier.points[:, :2] * SCALE).astype(np.float32)
    target = (later.points[:, :2] * SCALE).astype(np.float32)
    similarity, _ = cv2.estimateAffinePartial2D(source, target, method=cv2.LMEDS)
    moved = np.eye(3, 3, dtype=np.float32)
    if similarity is not None:
        moved[:2] = similarity
    to_frame = np.eye(3, 3, dtype=np.float32)
    to_frame[:2, 2] = region[1].start, region[0].start
    return moved @ to_frame


def _aligned_residual(
    first: np.ndarray, second: np.ndarray, region: tuple[slice, slice], start: np.ndarray
) -> float | None:
    """Mean |first's patch - second aligned onto it| over `region`, smoothed, borders left out,
    over the patch's mean gradient magnitude (module docstring). The alignment starts from
    `start` (_mesh_motion) and looks for the patch in the whole of `second`."""
    rows, columns = region
    patch = first[rows, columns]
    if min(patch.shape) < 16:
        return None
    warp = start.copy()
    # No convergence: what is left unaligned after the mesh's motion counts, as it would for
    # a live face.
    with contextlib.suppress(cv2.error):
        _, warp = cv2.findTransformECC(
            patch, second, warp, cv2.MOTION_HOMOGRAPHY, _ECC_CRITERIA, None, 3
        )
    aligned = cv2.warpPerspective(
        second,
        warp,
        (patch.shape[1], patch.shape[0]),
        flags=cv2.INTER_LINEAR + cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    smooth = cv2.GaussianBlur(patch, (0, 0), 1.5)
    difference = np.abs(smooth - cv2.GaussianBlur(aligned, (0, 0), 1.5))
    border = 3
    inner = (slice(border, -border), slice(border, -border))
    rows_gradient, columns_gradient = np.gradient(smooth)
    texture = float(np.mean(np.hypot(rows_gradient, columns_gradient)[inner]))
    return float(np.mean(difference[inner])) / max(texture, MIN_TEXTURE)
