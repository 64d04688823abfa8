"""One person across the frames, and the document's person: which frames to embed, and the test.

An embedding costs ~100-250 ms of CPU here (dlib's ResNet), the largest part of a verification,
so by default only the frames that matter are embedded. Within a continuous capture (frames at
most 300 ms apart) the mesh follows one face from frame to frame and a cut is refused (`cuts`):
dlib's embedding cannot tell some different people apart (look-alikes at 0.37-0.49 on the dev
clips, one person's frames up to 0.56 apart), but a live camera stream has no cuts. So one
frame per continuous stretch is embedded, and one per run of frames entered by a jump (the face
or the whole picture changing at once, less than a cut: a head movement can do it); each time a
frame the caller already embedded (the worker's face match) when the stretch or run holds one,
else its first frame. Those must show one person, and the document's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence
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
# The whole picture's change is the 32x32 thumbnail's mean grey-level change over its contrast
# (the two thumbnails' mean standard deviation): in grey levels, half the light halved every
# change: only 14 of 52 splices were seen as a cut (eval/liveness_eval.py --camera dim). The
# dev clips' thumbnails have a contrast of ~45 grey levels: the old floor of 8 levels is 0.17.
JUMP_SCENE_MIN_CHANGE = 0.17
JUMP_SCENE_FACTOR = 3.0
# A cut between frames <= 300 ms apart (identity.continuity). Measured at the flow's 12 fps on every
# phase offset of the dev clips: the largest change between consecutive genuine frames 0.52
# (d12 laughing and turning his head; 22.4 grey levels), at the splice of another clip 0.98-1.64
# (38-82 levels); the same, to 0.01, at half the light. The limit is near their geometric
# middle: 1.38x over the genuine, 1.36x under the splices (in grey levels, 28: 1.25x and 1.37x).
CUT_SCENE_CHANGE = 0.72
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
    with_face: Sequence[TrackedFrame], max_gap_ms: float, known: Collection[int] = ()
) -> list[TrackedFrame]:
    """One frame per continuous stretch, one per run entered by a jump, and the `known` frames.

    A stretch ends where two frames with a face are more than `max_gap_ms` apart. Its frame
    is one the caller already embedded (`known`, frame indexes) if it holds one, else its
    first. A jump (`jump_frames`) opens a run that lasts to the next jump or the stretch's end:
    between its frames the face moved, resized and the picture changed less than at a jump, a
    stronger link than the stretch's own (no cut), so one frame shows whose face the run is.
    That frame is a `known` one of the run when there is one (the worker's face match embedded
    frames spread over the burst), else the jump frame itself. In time order.
    """
    chosen: dict[int, TrackedFrame] = {}
    jumps = {item.index for item in jump_frames(with_face)}
    stretch: list[TrackedFrame] = []
    run: list[TrackedFrame] = []

    def keep_one(members: list[TrackedFrame]) -> None:
        embedded = [member for member in members if member.index in known]
        for member in embedded or members[:1]:
            chosen[member.index] = member

    for item in [*with_face, None]:
        stretch_ends = bool(stretch) and (item is None or item.t_ms - stretch[-1].t_ms > max_gap_ms)
        if run and (stretch_ends or item.index in jumps):
            keep_one(run)
            run = []
        if stretch_ends:
            keep_one(stretch)
            stretch = []
        if item is not None:
            stretch.append(item)
            if item.index in jumps or run:
                run.append(item)
    return [chosen[index] for index in sorted(chosen)]


def jump_frames(with_face: Sequence[TrackedFrame]) -> list[TrackedFrame]:
    """Frames whose face box or whole picture jumps from the previous frame with a face.

    A frame from another capture moves the face box, changes its size or changes the whole
    picture at once; a head turn does none of that between frames 100-300 ms apart. Only the
    frame after the jump is returned: a foreign frame is entered by a jump (or is the first
    frame, which is always embedded).
    """
    steps = _steps(with_face)
    typical_change = float(np.median([step.scene_change for step in steps])) if steps else 0.0
    scene_limit = max(JUMP_SCENE_MIN_CHANGE, JUMP_SCENE_FACTOR * typical_change)
    return [step.current for step in steps if step.is_jump(scene_limit)]


@dataclass(frozen=True)
class Continuity:
    """The cuts of a burst and how near to one its other steps came."""

    cuts: list[TrackedFrame]
    largest_scene_change: float  # between frames at most max_gap_ms apart; 0 without a step

    def as_dict(self) -> dict:
        return {
            "largest_scene_change": round(self.largest_scene_change, 3),
            "threshold": CUT_SCENE_CHANGE,
            "cuts": len(self.cuts),
        }


def continuity(with_face: Sequence[TrackedFrame], max_gap_ms: float) -> Continuity:
    """Frames entered by a cut: a jump from a frame at most `max_gap_ms` earlier.

    A live camera at 10+ frames a second never cuts, so within a continuous capture another
    person can only come in that way (or in front of the same scene, at the same size and
    place, which this does not see: docs/liveness.md). The scene limit is fixed here, not
    relative to the burst's own steps.
    """
    close = [step for step in _steps(with_face) if step.gap_ms <= max_gap_ms]
    return Continuity(
        cuts=[step.current for step in close if step.is_jump(CUT_SCENE_CHANGE)],
        largest_scene_change=max((step.scene_change for step in close), default=0.0),
    )


@dataclass(frozen=True)
class _Step:
    current: TrackedFrame
    gap_ms: float
    centre_shift: float  # in face widths
    size_ratio: float
    scene_change: float  # the 32x32 thumbnail's mean grey-level change over its contrast

    def is_jump(self, scene_limit: float) -> bool:
        return (
            self.centre_shift > JUMP_CENTRE_SHIFT
            or not 1 / JUMP_SIZE_RATIO <= self.size_ratio <= JUMP_SIZE_RATIO
            or self.scene_change > scene_limit
        )


def _steps(with_face: Sequence[TrackedFrame]) -> list[_Step]:
    steps = []
    for previous, current in itertools.pairwise(with_face):
        width = max(previous.face.width_px, 1)
        steps.append(
            _Step(
                current=current,
                gap_ms=current.t_ms - previous.t_ms,
                centre_shift=math.dist(_box_centre(previous), _box_centre(current)) / width,
                size_ratio=current.face.width_px / width,
                scene_change=scene_change(previous.thumbnail, current.thumbnail),
            )
        )
    return steps


def scene_change(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean absolute change between two grey thumbnails, in units of their contrast (mean SD).

    The same scene under half the light changes half as many grey levels; over its contrast the
    change is the same. A flat thumbnail (contrast under one grey level) counts in grey levels.
    """
    contrast = max((float(previous.std()) + float(current.std())) / 2, 1.0)
    return float(np.mean(np.abs(current - previous))) / contrast


def _box_centre(measure: TrackedFrame) -> tuple[float, float]:
    left, top, right, bottom = measure.face.box
    return (left + right) / 2, (top + bottom) / 2


def compare_identities(
    frames: Sequence[tuple[np.ndarray, TrackedFrame, np.ndarray | None]],
    reference_embedding: np.ndarray | None = None,
    max_distance: float = IDENTITY_MAX_DISTANCE,
) -> IdentityReport:
    """Embed each (rgb, measure, known embedding or None) and test one identity (and the
    reference's, when given); a known embedding is used as it is.

    Every embedding must lie within `max_distance` of their medoid; the mean embedding
    (steadier than any single frame) within DOCUMENT_MAX_DISTANCE of the reference.
    """
    embeddings = []
    for rgb, measure, known in frames:
        measure.embedding = embed_face(rgb, measure.face) if known is None else known
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
