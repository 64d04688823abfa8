"""The face followed through a dense burst of frames: one mesh and its measures per frame.

At the flow's 10+ frames per second, running dlib's detector on every frame (~20 ms each) would
cost more than the whole budget of a verification, so the detector runs on the first frame,
on the first frame of each prompt, after a pause in the capture (where the face may have moved),
whenever the mesh loses the face and when its size drifts from the last detection's
(MESH_DRIFT_RATIO); every other frame is cropped around the previous frame's mesh (see
faces/mesh.py), and cropped again around its own mesh when the face moved far. A cut within a
continuous capture is refused on its own (identity.continuity). Each frame then carries
the numbers the decisions use (mesh_measures.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gateway.verification.faces import mesh as face_mesh
from gateway.verification.faces.recognition import DetectedFace, detect_faces
from gateway.verification.liveness import mesh_measures
from gateway.verification.liveness.frames import SECOND_FACE_WIDTH_RATIO, Frame, thumbnail

# dlib's 5 points from the mesh (its order: image-right eye outer and inner corner, image-left
# eye outer and inner corner, base of the nose), so a tracked frame can be embedded without
# running the detector again.
FIVE_POINT_INDEXES = (263, 362, 33, 133, 2)
# Frames further apart than this are not one continuous capture (the hosted flow never pauses;
# sequence.MAX_FRAME_GAP_IN_PROMPT_MS bounds gaps under a prompt): the detector runs again.
MAX_CONTINUOUS_GAP_MS = 300.0
# A face that moved this far from the centre of the crop taken around the previous frame's mesh
# (share of the crop's side) is meshed again on a crop around its own points. Measured on
# short_hamilton_clip's left turn at 12 fps (face ~83 px): frame 153 tracked from frame 150's
# crop sat 0.12 of the side off-centre and read yaw 10.2 deg, 4.3 once re-centred (3.5-4.0 from
# a crop centred by the detector or by frame 152); offsets of 0.035-0.07 changed yaw by <= 0.4.
CROP_RECENTRE_OFFSET = 0.08
# A followed mesh whose extent grew or shrank this much from the one the last detection gave
# has drifted off the face: the detector finds it again. Each crop is sized from the previous
# mesh, so a mesh read a little small on an off-centre crop makes the next crop smaller still:
# on the shared clip's ~83 px face filmed by a phone swaying 8 px a frame
# (eval/liveness_eval.py --camera handheld_strong) it shrank from 93 to 47-63 px over 6-8
# frames, and the next prompt's detection (88-97 px) read as a cut at 3 of the 6 captures.
# 1.3 is the cut rule's own size jump.
MESH_DRIFT_RATIO = 1.3


@dataclass
class TrackedFrame:
    """One frame's face: the mesh (None when no face) and the measures taken on it."""

    index: int
    prompt: str
    t_ms: float
    thumbnail: np.ndarray
    points: np.ndarray | None = None
    presence: float = 0.0
    detected: DetectedFace | None = None  # set on frames where the dlib detector ran
    face_count: int = 0
    second_face_large: bool = False
    eye_openness: float = math.nan
    mouth_width: float = math.nan
    mouth_lift: float = math.nan
    mouth_opening: float = math.nan
    # x of the applicant's right and left mouth corners in the head's frame (mouth_measures)
    mouth_corners_x: tuple[float, float] = (math.nan, math.nan)
    yaw_deg: float = math.nan
    pitch_deg: float = math.nan
    roll_deg: float = math.nan
    embedding: np.ndarray | None = field(default=None, repr=False)
    # as_face() of these points: the identity steps ask for it ~800 times a burst.
    _face: tuple[np.ndarray, DetectedFace] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def has_face(self) -> bool:
        return self.points is not None

    @property
    def width_px(self) -> float:
        """Width of the mesh's face outline in image pixels (0 without a face)."""
        if self.points is None:
            return 0.0
        return float(np.ptp(self.points[:, 0]))

    @property
    def centre(self) -> tuple[float, float]:
        low, high = self.points[:, :2].min(axis=0), self.points[:, :2].max(axis=0)
        return float((low[0] + high[0]) / 2), float((low[1] + high[1]) / 2)

    @property
    def face(self) -> DetectedFace:
        """The mesh's face, for code written against detections (identity.py)."""
        return self.as_face()

    def as_face(self) -> DetectedFace:
        """A DetectedFace from the mesh (outline box, dlib's 5 points): embedder, plane test.

        Built once per mesh (the cut and jump tests compare every pair of neighbours).
        """
        if self._face is not None and self._face[0] is self.points:
            return self._face[1]
        low, high = self.points[:, :2].min(axis=0), self.points[:, :2].max(axis=0)
        box = (int(low[0]), int(low[1]), math.ceil(high[0]), math.ceil(high[1]))
        landmarks = tuple(
            (float(self.points[i, 0]), float(self.points[i, 1])) for i in FIVE_POINT_INDEXES
        )
        face = DetectedFace(box=box, score=self.presence, landmarks=landmarks)
        self._face = (self.points, face)
        return face


def track(
    frames: Sequence[Frame],
    *,
    mirrored: bool = False,
    thumbnails: Sequence[np.ndarray] | None = None,
    known_faces: Mapping[int, Sequence[DetectedFace]] | None = None,
) -> list[TrackedFrame]:
    """Mesh every frame, detecting where needed (see the module docstring).

    `thumbnails` are `frames.thumbnail` of each frame when the caller already made them;
    `known_faces` are `detect_faces`' answers for some frames (by index: the worker's face
    match), used where the detector would run on them.
    """
    known_faces = known_faces or {}
    tracked: list[TrackedFrame] = []
    previous: np.ndarray | None = None
    previous_t_ms = -math.inf
    previous_prompt: str | None = None
    anchor_side: float | None = None
    for index, frame in enumerate(frames):
        item = TrackedFrame(
            index=index,
            prompt=frame.prompt,
            t_ms=frame.t_ms,
            thumbnail=thumbnails[index] if thumbnails is not None else thumbnail(frame.rgb),
        )
        # The first frame of each prompt and the first after a pause are detected afresh; the
        # crop from the previous mesh is then only the fallback when that finds no face.
        fresh_start = frame.t_ms - previous_t_ms > MAX_CONTINUOUS_GAP_MS or (
            frame.prompt != previous_prompt
        )
        followed = None if fresh_start else _tracked_mesh(frame, previous)
        drifted = followed is not None and _drifted(followed, anchor_side)
        mesh = None if drifted else followed
        if mesh is None:
            faces = list(known_faces[index]) if index in known_faces else detect_faces(frame.rgb)
            item.face_count = len(faces)
            if faces:
                item.detected = faces[0]
                item.second_face_large = len(faces) > 1 and (
                    faces[1].width_px >= SECOND_FACE_WIDTH_RATIO * faces[0].width_px
                )
                # After a pause the face may be elsewhere: crop where the detector found it
                # now, not where the previous frame had it.
                fresh = face_mesh.run_mesh(frame.rgb, face_mesh.crop_from_box(faces[0].box))
                mesh = fresh if fresh.found else None
            if mesh is None and drifted:
                mesh = followed  # the detector missed it: the followed mesh is all there is
            if mesh is None and fresh_start:
                mesh = _tracked_mesh(frame, previous)
            if mesh is not None:
                # the size the next frames are held to: the detection's mesh, or where the
                # detector missed, the followed one (else every later frame would look again,
                # and a miss costs ~180 ms)
                anchor_side = face_mesh.crop_from_points(mesh.points)[2]
        previous_t_ms = frame.t_ms
        previous_prompt = frame.prompt
        if mesh is not None:
            _measure(item, mesh, mirrored)
        previous = item.points
        tracked.append(item)
    return tracked


def _drifted(mesh: face_mesh.Mesh, anchor_side: float | None) -> bool:
    """Whether the followed mesh's size left the band around `anchor_side`, the crop side of the
    mesh the last detection gave, or the followed one where it missed (MESH_DRIFT_RATIO)."""
    if anchor_side is None:
        return False
    side = face_mesh.crop_from_points(mesh.points)[2]
    return not 1 / MESH_DRIFT_RATIO <= side / anchor_side <= MESH_DRIFT_RATIO


def _tracked_mesh(frame: Frame, previous: np.ndarray | None) -> face_mesh.Mesh | None:
    """The mesh in the crop around the previous frame's mesh, if it finds the face there.

    When the face moved far from that crop's centre (CROP_RECENTRE_OFFSET), the mesh is run again
    on the crop around its own points: the model reads a face off-centre in its crop with errors.
    """
    if previous is None:
        return None
    crop = face_mesh.crop_from_points(previous)
    mesh = face_mesh.run_mesh(frame.rgb, crop)
    if not mesh.found:
        return None
    centred = face_mesh.crop_from_points(mesh.points)
    if math.hypot(centred[0] - crop[0], centred[1] - crop[1]) > CROP_RECENTRE_OFFSET * crop[2]:
        again = face_mesh.run_mesh(frame.rgb, centred)
        if again.found:
            return again
    return mesh


def _measure(item: TrackedFrame, mesh: face_mesh.Mesh, mirrored: bool) -> None:
    points = mesh.points
    item.points = points
    item.presence = mesh.presence
    item.eye_openness = mesh_measures.eye_openness(points)
    item.mouth_width, item.mouth_lift, item.mouth_opening, item.mouth_corners_x = (
        mesh_measures.mouth_measures(points)
    )
    item.yaw_deg, item.pitch_deg, item.roll_deg = mesh_measures.head_pose(points, mirrored=mirrored)
