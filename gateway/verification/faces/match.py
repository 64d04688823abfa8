"""Is the face in one image the face in another? Pure functions over RGB arrays.

A comparison only happens when each side holds exactly one face big enough to embed. Anything
else (no face, several faces, a face too small) is returned as a coded result with
`match: false` and `similarity: None`: the caller decides whether to ask for a new photo; this
module never guesses which of two faces was meant.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from gateway.verification.faces.recognition import (
    DEFAULT_THRESHOLD,
    EER_DISTANCE,
    MIN_FACE_PX,
    DetectedFace,
    detect_faces,
    distance_to_similarity,
    embed_face,
    face_distance,
    is_face_too_small,
)

MATCH = "match"
NO_MATCH = "no_match"
INCONSISTENT_FRAMES = "inconsistent_selfie_frames"
# The hosted flow's liveness burst holds ~100 frames (10 per second); detection and embedding
# cost ~120 ms per frame here, so the match examines at most this many, spread evenly over the
# frames it is given (the median of 5 is as robust to one bad frame as the median of 50).
MAX_SELFIE_FRAMES = 5


@dataclass(frozen=True)
class FaceCheck:
    """What one image held: its faces and, when usable, the one face's embedding."""

    faces: list[DetectedFace]
    problem: str | None  # "no_face", "multiple_faces", "face_too_small" or None when usable
    embedding: np.ndarray | None = None

    def describe(self, side: str, min_face_px: int) -> str:
        """A plain sentence for reasons and logs (no pixels, no identities)."""
        if self.problem == "no_face":
            return f"no face found in the {side} image"
        if self.problem == "multiple_faces":
            return f"{len(self.faces)} faces found in the {side} image, exactly one is needed"
        if self.problem == "face_too_small":
            return (
                f"the face in the {side} image is {self.faces[0].width_px} px wide, "
                f"below the {min_face_px} px minimum"
            )
        return f"one face found in the {side} image"


@dataclass(frozen=True)
class FaceMatchResult:
    """Outcome of `match_faces`; `code` is `match`, `no_match` or `<problem>:<side>`."""

    match: bool
    similarity: float | None
    threshold: float
    code: str
    detail: str
    distance: float | None = None
    faces: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return _json_fields(self)


def check_image_faces(
    rgb: np.ndarray, *, min_face_px: int = MIN_FACE_PX, embed: bool = True
) -> FaceCheck:
    """Detect faces and embed the single usable one; report why not otherwise."""
    faces = detect_faces(rgb)
    if not faces:
        return FaceCheck(faces=faces, problem="no_face")
    if len(faces) > 1:
        return FaceCheck(faces=faces, problem="multiple_faces")
    if is_face_too_small(faces[0], min_face_px):
        return FaceCheck(faces=faces, problem="face_too_small")
    embedding = embed_face(rgb, faces[0]) if embed else None
    return FaceCheck(faces=faces, problem=None, embedding=embedding)


def compare_embeddings(
    source_embedding: np.ndarray, target_embedding: np.ndarray, threshold: float
) -> tuple[bool, float, float]:
    """(match, similarity, distance) for two embeddings at a similarity threshold."""
    distance = face_distance(source_embedding, target_embedding)
    similarity = distance_to_similarity(distance)
    return similarity >= threshold, similarity, distance


def match_faces(
    source_rgb: np.ndarray,
    target_rgb: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    min_face_px: int = MIN_FACE_PX,
) -> FaceMatchResult:
    """Compare the one face of `source_rgb` with the one face of `target_rgb`.

    `threshold` is on the calibrated similarity scale (see `faces.distance_to_similarity`).
    The source is checked first, so when both sides are unusable `code` names the source and
    `detail` lists both.
    """
    _check_threshold(threshold)
    checks = {
        "source": check_image_faces(source_rgb, min_face_px=min_face_px),
        "target": check_image_faces(target_rgb, min_face_px=min_face_px),
    }
    faces = {side: [face.as_dict() for face in check.faces] for side, check in checks.items()}
    problems = [(side, check) for side, check in checks.items() if check.problem]
    if problems:
        side, check = problems[0]
        return FaceMatchResult(
            match=False,
            similarity=None,
            threshold=threshold,
            code=f"{check.problem}:{side}",
            detail="; ".join(c.describe(s, min_face_px) for s, c in problems),
            faces=faces,
        )
    source_embedding = checks["source"].embedding
    target_embedding = checks["target"].embedding
    assert source_embedding is not None and target_embedding is not None
    matched, similarity, distance = compare_embeddings(
        source_embedding, target_embedding, threshold
    )
    return FaceMatchResult(
        match=matched,
        similarity=similarity,
        threshold=threshold,
        code=MATCH if matched else NO_MATCH,
        detail=_similarity_sentence(similarity, threshold),
        distance=distance,
        faces=faces,
    )


@dataclass(frozen=True)
class SelfieFrameResult:
    """One selfie frame: its face check and, when usable, its distance to the document face."""

    index: int
    code: str  # "usable" or the problem ("no_face", "multiple_faces", "face_too_small")
    face_count: int
    distance: float | None = None
    similarity: float | None = None
    # Kept for the caller (liveness reuses it instead of embedding the frame again); not JSON.
    embedding: np.ndarray | None = field(
        default=None, repr=False, compare=False, metadata={"json": False}
    )
    # detect_faces' answer for the frame, kept for liveness's tracking likewise; not JSON.
    faces: tuple[DetectedFace, ...] = field(
        default=(), repr=False, compare=False, metadata={"json": False}
    )

    def as_dict(self) -> dict[str, Any]:
        return _json_fields(self)


@dataclass(frozen=True)
class DocumentSelfieMatch:
    """Outcome of `match_document_to_selfies`: one decision plus every frame's figures."""

    match: bool
    similarity: float | None
    threshold: float
    code: str
    detail: str
    distance: float | None
    aggregate: str
    used_frames: int
    frame_spread: float | None
    document_faces: list[dict[str, Any]]
    frames: list[SelfieFrameResult]

    def as_dict(self) -> dict[str, Any]:
        return _json_fields(self)


def match_document_to_selfies(
    document_rgb: np.ndarray,
    selfie_frames: Sequence[np.ndarray],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    min_face_px: int = MIN_FACE_PX,
    max_frame_spread: float | None = None,
    document_check: FaceCheck | None = None,
    max_selfie_frames: int = MAX_SELFIE_FRAMES,
) -> DocumentSelfieMatch:
    """Match the document portrait against several selfie frames; decide on their median.

    Only frames with exactly one big-enough face count. The decision uses the MEDIAN distance
    of those frames, not the best one: taking the minimum over N frames lets an impostor try N
    times per submission (the false-accept rate grows with the frame count), while the median
    needs most frames to agree and shrugs off one blurred or turned frame. The frames must also
    show one person: if any two usable frames are farther apart than `max_frame_spread`
    (default: the calibrated equal-error distance) the result is `inconsistent_selfie_frames`,
    a swap of faces during capture, never a match.
    Codes: `match`, `no_match`, `<problem>:document`, `<problem>:selfie`, `inconsistent_...`.
    `document_check` is the caller's own `check_image_faces(document_rgb)` when it already has
    one (the pipeline also needs the document embedding for liveness): one embedding, not two.
    At most `max_selfie_frames` frames, evenly spread, are examined (`frames[].index` keeps
    their positions in `selfie_frames`).
    """
    _check_threshold(threshold)
    spread_limit = EER_DISTANCE if max_frame_spread is None else max_frame_spread
    document = document_check or check_image_faces(document_rgb, min_face_px=min_face_px)
    document_faces = [face.as_dict() for face in document.faces]

    def result(code: str, detail: str, frames: list[SelfieFrameResult], **figures: Any):
        return DocumentSelfieMatch(
            match=code == MATCH,
            similarity=figures.get("similarity"),
            threshold=threshold,
            code=code,
            detail=detail,
            distance=figures.get("distance"),
            aggregate="median",
            used_frames=figures.get("used_frames", 0),
            frame_spread=figures.get("frame_spread"),
            document_faces=document_faces,
            frames=frames,
        )

    if document.problem:
        # The selfie frames are not examined: the applicant must resubmit the document anyway.
        return result(
            f"{document.problem}:document", document.describe("document", min_face_px), []
        )
    if not selfie_frames:
        return result("no_face:selfie", "no selfie frames were given", [])

    frames: list[SelfieFrameResult] = []
    frame_embeddings: list[np.ndarray] = []
    for index in evenly_spread(len(selfie_frames), max_selfie_frames):
        check = check_image_faces(selfie_frames[index], min_face_px=min_face_px)
        if check.problem or check.embedding is None:
            frames.append(
                SelfieFrameResult(
                    index, check.problem or "no_face", len(check.faces), faces=tuple(check.faces)
                )
            )
            continue
        distance = face_distance(document.embedding, check.embedding)
        frames.append(
            SelfieFrameResult(
                index,
                "usable",
                1,
                distance,
                distance_to_similarity(distance),
                check.embedding,
                tuple(check.faces),
            )
        )
        frame_embeddings.append(check.embedding)

    if not frame_embeddings:
        problem = _dominant_frame_problem(frames)
        return result(
            f"{problem}:selfie",
            f"none of the {len(frames)} selfie frames holds exactly one usable face "
            f"({', '.join(frame.code for frame in frames)})",
            frames,
        )

    spread = max(
        (
            face_distance(a, b)
            for i, a in enumerate(frame_embeddings)
            for b in frame_embeddings[i + 1 :]
        ),
        default=0.0,
    )
    distances = [frame.distance for frame in frames if frame.distance is not None]
    median_distance = float(statistics.median(distances))
    similarity = distance_to_similarity(median_distance)
    figures = {
        "similarity": similarity,
        "distance": median_distance,
        "used_frames": len(distances),
        "frame_spread": spread,
    }
    if spread > spread_limit:
        return result(
            INCONSISTENT_FRAMES,
            f"two selfie frames are {spread:.2f} apart (limit {spread_limit:.2f}): "
            "they may not show the same person",
            frames,
            **figures,
        )
    code = MATCH if similarity >= threshold else NO_MATCH
    detail = (
        f"{_similarity_sentence(similarity, threshold)} "
        f"(median of {len(distances)} of {len(frames)} frames)"
    )
    return result(code, detail, frames, **figures)


def evenly_spread(count: int, most: int) -> list[int]:
    """At most `most` indexes out of range(count), evenly spread, first and last included
    (one index: the middle)."""
    if count <= most:
        return list(range(count))
    if most == 1:
        return [(count - 1) // 2]
    return sorted({round(k * (count - 1) / (most - 1)) for k in range(most)})


def _json_fields(result: Any) -> dict[str, Any]:
    """A result dataclass as JSON-ready dict: floats to 4 decimals, nested results expanded."""

    def ready(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 4)
        if isinstance(value, list):
            return [ready(item) for item in value]
        if hasattr(value, "as_dict"):
            return value.as_dict()
        return value

    return {
        item.name: ready(getattr(result, item.name))
        for item in fields(result)
        if item.metadata.get("json", True)
    }


def _dominant_frame_problem(frames: list[SelfieFrameResult]) -> str:
    """The problem to report when no frame was usable: several faces outrank the rest."""
    codes = {frame.code for frame in frames}
    for problem in ("multiple_faces", "face_too_small", "no_face"):
        if problem in codes:
            return problem
    return "no_face"


def _similarity_sentence(similarity: float, threshold: float) -> str:
    """The comparison in words; below the threshold, with the decimals that tell the two apart
    (at two decimals 0.7496 against 0.75 reads "similarity 0.75 < 0.75 threshold")."""
    if similarity >= threshold:
        return f"similarity {similarity:.2f} >= {threshold:.2f} threshold"
    digits = 2
    while digits < 6 and f"{similarity:.{digits}f}" == f"{threshold:.{digits}f}":
        digits += 1
    return f"similarity {similarity:.{digits}f} < {threshold:.{digits}f} threshold"


def _check_threshold(threshold: float) -> None:
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be strictly between 0 and 1")
