"""One person across the frames, and the document's person: which frames to embed, and the test.

An embedding costs ~100-250 ms of CPU here (dlib's ResNet), the largest part of a verification,
so by default only the frames that matter are embedded: the first frame (the neutral
reference), each prompt's deciding frame, and every frame where the face or the scene jumps
from the previous one (where a frame from another capture would show).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gateway.verification.faces.recognition import embed_face, face_distance
from gateway.verification.liveness.tracking import TrackedFrame

# The project's same-person distance (similarity 0.75 on the face-match scale). On the shared
# clip, frames of one shot lie within 0.56 of their medoid (0.59 at most in a genuine sequence
# with 50-degree turns); different people ~0.9.
IDENTITY_MAX_DISTANCE = 0.6
# A stricter distance within one capture was tried and withdrawn: on the dev bursts one
# person's frames lay within 0.40 and spliced people at 0.46-0.92, but the shared head-turn clip
# put the same person's neutral and closing frames 0.53 apart (eval/liveness_eval.py,
# docs/liveness.md), so 0.45 would refuse real people.
DOCUMENT_MAX_DISTANCE = 0.6
# Between consecutive frames, what counts as a jump worth an embedding.
# Face box centre moved by a whole face width. At 0.35 the head turns of the eval's genuine
# sequences crossed it 26 times in 24 sequences, an embedding (~100 ms) each, and every spliced
# photo was caught by the scene change or the size anyway.
JUMP_CENTRE_SHIFT = 1.0
JUMP_SIZE_RATIO = 1.3
JUMP_SCENE_MIN_CHANGE = 8.0  # mean grey-level change of the 32x32 thumbnail
JUMP_SCENE_FACTOR = 3.0
MARGIN_SCALE = 0.3  # a distance this far below the threshold counts as full margin


@dataclass
class IdentityReport:
    """What the identity step found; `refusal_code` is empty when it passed."""

    frames_compared: int
    spread: float
    threshold: float = IDENTITY_MAX_DISTANCE
    document_distance: float | None = None
    refusal_code: str = ""
    refusal_message: str = ""

    @property
    def margin(self) -> float:
        margins = [(self.threshold - self.spread) / MARGIN_SCALE]
        if self.document_distance is not None:
            margins.append((DOCUMENT_MAX_DISTANCE - self.document_distance) / MARGIN_SCALE)
        return float(min(1.0, max(0.0, min(margins))))

    def as_dict(self) -> dict:
        body = {
            "frames_compared": self.frames_compared,
            "max_distance_to_medoid": round(self.spread, 3),
            "threshold": self.threshold,
            "margin": round(self.margin, 3),
        }
        if self.document_distance is not None:
            body["document_distance"] = round(self.document_distance, 3)
            body["document_threshold"] = DOCUMENT_MAX_DISTANCE
        return body


def frames_to_embed(
    with_face: Sequence[TrackedFrame], deciding: Sequence[TrackedFrame]
) -> list[TrackedFrame]:
    """The first frame, the deciding frames and the frames after a jump, in time order."""
    chosen = {with_face[0].index: with_face[0]}
    for measure in [*deciding, *jump_frames(with_face)]:
        if measure.has_face:
            chosen[measure.index] = measure
    return [chosen[index] for index in sorted(chosen)]


def jump_frames(with_face: Sequence[TrackedFrame]) -> list[TrackedFrame]:
    """Frames whose face box or whole picture jumps from the previous frame with a face.

    A frame from another capture moves the face box, changes its size or changes the whole
    picture at once; a head turn does none of that between frames 100-300 ms apart. Only the
    frame after the jump is returned: a foreign frame is entered by a jump (or is the first
    frame, which is always embedded).
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
            jumps.append(current)
    return jumps


def _box_centre(measure: TrackedFrame) -> tuple[float, float]:
    left, top, right, bottom = measure.face.box
    return (left + right) / 2, (top + bottom) / 2


def compare_identities(
    frames: Sequence[tuple[np.ndarray, TrackedFrame]],
    reference_embedding: np.ndarray | None = None,
    max_distance: float = IDENTITY_MAX_DISTANCE,
) -> IdentityReport:
    """Embed each (rgb, measure) and test one identity (and the reference's, when given).

    Every embedding must lie within `max_distance` of their medoid; the mean embedding
    (steadier than any single frame) within DOCUMENT_MAX_DISTANCE of the reference.
    """
    embeddings = []
    for rgb, measure in frames:
        measure.embedding = embed_face(rgb, measure.face)
        embeddings.append(measure.embedding)
    stacked = np.stack(embeddings)
    distances = np.linalg.norm(stacked[:, None, :] - stacked[None, :, :], axis=2)
    medoid = int(np.argmin(distances.sum(axis=1)))
    report = IdentityReport(
        frames_compared=len(frames), spread=float(distances[medoid].max()), threshold=max_distance
    )
    if report.spread > max_distance:
        report.refusal_code = "identity_changed"
        report.refusal_message = (
            f"The frames do not all show the same person (distance {report.spread:.2f} > "
            f"{max_distance})."
        )
        return report
    if reference_embedding is not None:
        report.document_distance = face_distance(
            stacked.mean(axis=0), np.asarray(reference_embedding, dtype=np.float64)
        )
        if report.document_distance > DOCUMENT_MAX_DISTANCE:
            report.refusal_code = "not_document_holder"
            report.refusal_message = (
                "The person in the frames does not match the document photo (distance "
                f"{report.document_distance:.2f} > {DOCUMENT_MAX_DISTANCE})."
            )
    return report
