"""The pipeline's stages, one factor each: face match, liveness, document, registry.

Each returns ``{status, score, reasons, detail}`` (``scoring.factor``); a stage that cannot run
says ``not_checked`` with the reason, never ``pass``; a photo without a usable face raises
`InvalidPhoto`. `pipeline.run_pipeline` calls them in order and passes what one stage computed
(decoded frames, embeddings) to the next, so nothing is computed twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.errors import ValidationFailed
from gateway.verification import names
from gateway.verification.captures import Captures, InvalidPhoto, SelfieFrame
from gateway.verification.documents.normalize import DOCUMENT_HINTS
from gateway.verification.documents.service import analyze_document
from gateway.verification.faces.match import (
    MAX_SELFIE_FRAMES,
    FaceCheck,
    check_image_faces,
    evenly_spread,
    match_document_to_selfies,
)
from gateway.verification.faces.recognition import (
    EER_DISTANCE,
    DetectedFace,
    embed_face,
    face_distance,
    is_face_too_small,
)
from gateway.verification.liveness.challenge import Challenge
from gateway.verification.liveness.verify import verify_challenge
from gateway.verification.registry import RegistrySubject, registry_factor
from gateway.verification.scoring import FAIL, NOT_CHECKED, PASS, factor

# Prompts under which the applicant faces the camera: the frames the face match prefers, because
# a turned head matches a frontal document portrait worse and says nothing about identity.
FRONTAL_PROMPTS = frozenset({"neutral", "blink", "smile", ""})


def face_match_frames(frames: Sequence[SelfieFrame]) -> list[int]:
    """The frontal frames the face match examines: at most MAX_SELFIE_FRAMES of them.

    The first frame of the capture and of each frontal prompt come first: the applicant has
    not yet reacted to the prompt there, so the face is at its most neutral, and liveness's
    tracking runs the detector on exactly those frames, so the face match's detections serve
    both (three detections, ~0.1 s of a challenge). The rest are filled evenly spread over
    the other frontal frames, as before.
    """
    frontal = [i for i, frame in enumerate(frames) if frame.prompt in FRONTAL_PROMPTS]
    if not frontal:
        frontal = list(range(len(frames)))
    starts = [i for i in frontal if i == 0 or frames[i - 1].prompt != frames[i].prompt]
    chosen = [starts[k] for k in evenly_spread(len(starts), MAX_SELFIE_FRAMES)]
    taken = set(chosen)
    rest = [i for i in frontal if i not in taken]
    room = MAX_SELFIE_FRAMES - len(chosen)
    if room > 0 and rest:
        chosen += [rest[k] for k in evenly_spread(len(rest), room)]
    return sorted(chosen)


def portrait_region(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The document cut around its one face (the face plus most of its width on every side).

    The matcher detects the face again; on the cut-out a small portrait is found in the first
    detection pass instead of the upsampled second pass (about four times the detection cost)
    a small face on a full document photo needs. The pixels are the document's own, at full
    resolution, so the embedding is the one the full photo would give.
    """
    left, top, right, bottom = box
    margin = right - left
    height, width = rgb.shape[:2]
    return np.ascontiguousarray(
        rgb[
            max(0, top - margin) : min(height, bottom + margin),
            max(0, left - margin) : min(width, right + margin),
        ]
    )


@dataclass(frozen=True)
class DocumentPortrait:
    """The document's face: `card` is the whole photo's face check (it decides
    INVALID_PHOTO:document); when it is usable, `portrait_rgb` is the cut-out around its face and
    `portrait` that cut-out's face, embedded."""

    card: FaceCheck
    portrait_rgb: np.ndarray | None = None
    portrait: FaceCheck | None = None


def document_portrait(document_rgb: np.ndarray, quarter_turns: int = 0) -> DocumentPortrait:
    """Find the document's face on the photo turned `quarter_turns` counter-clockwise (the turn
    that stands it the way its MRZ, or a KTP's NIK, reads: analyze_document's
    `front_quarter_turns`) and cut the portrait out; `card`'s boxes and the cut-out are in that
    turned photo.

    The HOG detector finds upright faces only. Without such a read the photo is taken as given,
    never turned on the detector's word: searching the quarter turns for a face took a
    false face in a turned copy of an upright passport whose portrait the detector misses
    (100_pass-lux), which would have been compared instead of asking for a new photo
    (docs/face-match.md).
    """
    document_rgb = np.ascontiguousarray(np.rot90(document_rgb, quarter_turns % 4))
    card = check_image_faces(document_rgb, embed=False)
    if card.problem == "multiple_faces":
        card = _holder_portrait(document_rgb, card)
    if card.problem:
        return DocumentPortrait(card)
    portrait_rgb = portrait_region(document_rgb, card.faces[0].box)
    return DocumentPortrait(card, portrait_rgb, check_image_faces(portrait_rgb))


def _holder_portrait(rgb: np.ndarray, card: FaceCheck) -> FaceCheck:
    """Several faces on a document: usable when they are all the holder, the largest first.

    Many cards print the portrait twice (a smaller, faint ghost image, or a second portrait):
    refusing them sent the applicant back for a photo no retake can fix. The largest face is the
    main portrait; every other face must be the same person as it (distance at most the
    calibrated equal-error distance, the face match's own bar), else the photo stays refused as
    `multiple_faces` (two people, or a ghost too poor to tell). The faces stay listed.
    """
    main, *others = card.faces
    if is_face_too_small(main):
        return card
    main_embedding = embed_face(rgb, main)
    for face in others:
        if face_distance(main_embedding, embed_face(rgb, face)) > EER_DISTANCE:
            return card
    return FaceCheck(faces=card.faces, problem=None)


def face_factor(
    document_rgb: np.ndarray,
    frames_rgb: Sequence[np.ndarray],
    frames: Sequence[SelfieFrame],
    threshold: float,
    document_check: FaceCheck | None = None,
    embeddings_out: dict[int, np.ndarray] | None = None,
    faces_out: dict[int, tuple[DetectedFace, ...]] | None = None,
) -> dict[str, Any]:
    """Document portrait vs the frontal selfie frames (median distance, see face_match).

    `embeddings_out`, when given, receives the selfie embeddings taken, by frame index (the
    liveness identity check reuses them); `faces_out` the detections of every frame examined
    (liveness's tracking reuses them).
    """
    indexes = face_match_frames(frames)
    result = match_document_to_selfies(
        document_rgb,
        [frames_rgb[i] for i in indexes],
        threshold=threshold,
        document_check=document_check,
    )
    for frame in result.frames:
        if embeddings_out is not None and frame.embedding is not None:
            embeddings_out[indexes[frame.index]] = frame.embedding
        if faces_out is not None:
            faces_out[indexes[frame.index]] = frame.faces
    detail = {**result.as_dict(), "frame_indexes": indexes}
    side = result.code.partition(":")[2]
    if side in {"document", "selfie"}:
        raise InvalidPhoto(side, result.detail)
    if result.code == "match":
        return factor(PASS, result.similarity, [result.detail], detail)
    return factor(FAIL, result.similarity or 0.0, [result.detail], detail)


def liveness_factor(
    captures: Captures,
    reference_embedding: np.ndarray | None,
    frames_rgb: Sequence[np.ndarray] | None = None,
    known_embeddings: Mapping[int, np.ndarray] | None = None,
    known_faces: Mapping[int, Sequence[DetectedFace]] | None = None,
) -> dict[str, Any]:
    """The challenge verified from the frames, with the document face as the reference.

    `frames_rgb` are the frames already decoded, `known_embeddings` the selfie embeddings and
    `known_faces` the detections the face match took (run_pipeline's): none is computed a
    second time.
    """
    if not captures.liveness_challenge:
        return factor(NOT_CHECKED, None, ["no liveness challenge was issued for this capture"])
    try:
        challenge = Challenge.from_dict(dict(captures.liveness_challenge))
    except ValueError as error:
        return factor(NOT_CHECKED, None, [f"the stored liveness challenge is unreadable: {error}"])
    # The bytes as well as the pixels: the service hashes them to catch one file sent twice.
    frames = [
        {"image": frame.image, "prompt": frame.prompt, "t_ms": frame.t_ms}
        for frame in captures.selfie_frames
    ]
    if frames_rgb is not None:
        for frame, rgb in zip(frames, frames_rgb, strict=True):
            frame["rgb"] = rgb
    try:
        result = verify_challenge(
            challenge,
            frames,
            now=captures.challenge_checked_at,
            reference_embedding=reference_embedding,
            mirrored=captures.mirrored,
            known_embeddings=known_embeddings,
            known_faces=known_faces,
        ).as_dict()
    except ValidationFailed as error:
        return factor(NOT_CHECKED, None, [f"the selfie frames are malformed: {error.detail}"])
    confidence = float(result.get("confidence") or 0.0)
    drawn = _challenges_drawn(captures.liveness_challenge)
    said = [f"{drawn} challenges were drawn for this capture; the last was answered"]
    if drawn:
        result["challenges_drawn"] = drawn
    if result.get("is_live") is True:
        reasons = ["the challenge was followed live", *(said if drawn > 1 else [])]
        return factor(PASS, confidence, reasons, result)
    hints = [str(hint) for hint in result.get("hints") or []] or ["not live"]
    return factor(FAIL, 0.0, [*hints, *(said if drawn > 1 else [])], result)


def _challenges_drawn(record: Mapping[str, Any]) -> int:
    """How many orders the applicant was shown for this capture (the hosted flow's ``attempt``;
    0 where the record does not say): a recording made in advance for one order waits for it
    to be drawn, so many draws before a pass are worth a reviewer's look."""
    attempt = record.get("attempt")
    return attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 0


def document_factor(
    front_rgb: np.ndarray,
    back_rgb: np.ndarray | None,
    applicant: Mapping[str, Any],
    *,
    min_age: int,
    today: dt.date | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document engineer's reading and checks; returns (factor, fields read).

    The reader is not asked to look for the portrait: the pipeline does, on the photo turned
    the way this read says (`front_quarter_turns`), after it. An unreadable document whose
    photo has quality problems (blur, glare, cut off) is an `InvalidPhoto`: a better photo will
    fix it, a reviewer cannot; one that is sharp but has no zone the reader reads is
    `not_checked` (a person decides). A valid document on which the
    minimum age or a comparison with the partner's data could not run is `not_checked`, naming
    those checks, never `pass`.
    """
    result = analyze_document(
        front_rgb,
        back_rgb,
        applicant=dict(applicant),
        min_age=min_age,
        document_hint=applicant.get("document_type")
        if applicant.get("document_type") in DOCUMENT_HINTS
        else "auto",
        country_hint=applicant.get("document_country") or "auto",
        today=today,
        detect_face=False,
    )
    fields = dict(result.get("fields") or {})
    checks = list(result.get("checks") or [])
    failed = [item for item in checks if item.get("status") == FAIL]
    confidence = result.get("confidence")
    # The partner's minimum age and the partner's own data are what the partner verifies the
    # applicant against: a document read without them (a birth date that is no date, a field
    # not read) may be genuine, but the applicant was not verified. A person decides.
    unchecked = [
        item
        for item in checks
        if item.get("status") == NOT_CHECKED and _checked_for_the_partner(str(item.get("name")))
    ]
    if result.get("document_valid") is True and not failed and unchecked:
        reasons = [f"{item.get('name')}: {item.get('detail')}" for item in unchecked]
        return factor(NOT_CHECKED, None, reasons, result), fields
    if result.get("document_valid") is True and not failed:
        reasons = ["document checks passed", *names.partial_notes(checks)]
        return factor(PASS, confidence, reasons, result), fields
    unread = [item for item in failed if item.get("name") == "mrz_read"]
    quality_issues = (result.get("quality") or {}).get("issues") or []
    if unread and not fields and quality_issues:
        messages = "; ".join(str(issue.get("message")) for issue in quality_issues)
        raise InvalidPhoto("document", f"the document could not be read: {messages}")
    if result.get("document_valid") is None:
        return factor(NOT_CHECKED, None, ["the document could not be read"], result), fields
    if unread and not fields:
        # A sharp photo without a zone this reader reads (a driving licence, an unsupported
        # card): the check could not run. Failed, it would cost the applicant its points.
        why = "; ".join(str(item.get("detail")) for item in unread)
        reasons = [f"the document could not be read: {why}"]
        return factor(NOT_CHECKED, None, reasons, result), fields
    uncertain = [item for item in checks if item.get("status") == "uncertain"]
    if uncertain and not failed:
        # read, but a person must confirm some field: not passed, and not the applicant's fault
        reasons = [f"{item.get('name')}: {item.get('detail')}" for item in uncertain]
        return factor(NOT_CHECKED, None, reasons, result), fields
    reasons = [f"{item.get('name')}: {item.get('detail')}" for item in failed]
    return factor(FAIL, 0.0, reasons or ["the document is not valid"], result), fields


def _checked_for_the_partner(check_name: str) -> bool:
    """Whether a document check verifies the applicant against the partner's settings or data."""
    return check_name == "minimum_age" or check_name.startswith("applicant_")


def apply_document_policy(
    document: dict[str, Any], fields: Mapping[str, Any], effective: Mapping[str, Any]
) -> None:
    """The partner's accepted document types and countries, as failed checks of the document."""
    if document["status"] == NOT_CHECKED:
        return
    problems = []
    allowed_types = effective["allowed_document_types"]
    document_type = fields.get("document_type")
    if allowed_types and document_type and document_type not in allowed_types:
        problems.append(f"document type {document_type} is not accepted by this partner")
    allowed_countries = effective["allowed_countries"]
    issuer = fields.get("issuing_state")
    if allowed_countries and issuer and issuer not in allowed_countries:
        problems.append(f"documents issued by {issuer} are not accepted by this partner")
    if problems:
        if document["status"] == PASS:
            document["reasons"] = []
        document.update(status=FAIL, score=0.0)
        document["reasons"] += problems


def registry_check(
    partner_settings: Mapping[str, Any],
    applicant: Mapping[str, Any],
    document_fields: Mapping[str, Any],
) -> dict[str, Any]:
    """The optional registry connector (national ID or professional register)."""
    kind = str((partner_settings.get("registry") or {}).get("kind") or "national_id")
    full_name = " ".join(
        str(part)
        for part in (document_fields.get("given_names"), document_fields.get("surname"))
        if part
    ) or str(document_fields.get("name") or "")
    subject = RegistrySubject(
        kind=kind,
        id_number=document_fields.get("nik")
        or document_fields.get("document_number")
        or applicant.get("document_number"),
        registration_number=applicant.get("registration_number"),
        full_name=full_name or None,
    )
    result = dict(registry_factor(dict(partner_settings), subject))
    status = result.pop("status", NOT_CHECKED)
    reasons = [str(reason) for reason in result.pop("reasons", [])]
    return factor(status, 1.0 if status == PASS else 0.0, reasons, result)
