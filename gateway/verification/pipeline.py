"""The verification pipeline: captures and applicant data in, factor results and a decision out.

Factors run in the order that lets the cheapest refusal happen first: the document face (no
face there means a new photo, nothing else is worth computing), then face match, liveness,
document reading and KYA. Each factor is ``{status, score, reasons, detail}``; a factor whose
service is not installed, or that lacks its inputs, is ``not_checked`` with the reason, never
``pass``. A photo without a usable face raises `InvalidPhoto`: the applicant must resubmit, and
the worker maps it to ``resubmission_requested`` without retrying. No Flask, no PocketBase here.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.errors import ValidationFailed
from gateway.verification import names, scoring
from gateway.verification.documents.normalize import DOCUMENT_HINTS
from gateway.verification.documents.service import analyze_document
from gateway.verification.faces.match import FaceCheck, check_image_faces, match_document_to_selfies
from gateway.verification.faces.recognition import DEFAULT_THRESHOLD, DetectedFace
from gateway.verification.images import decode_image
from gateway.verification.kya import MxLookup, dns_mx_lookup, kya_factor
from gateway.verification.liveness.challenge import Challenge
from gateway.verification.liveness.verify import verify_challenge
from gateway.verification.registry import RegistrySubject, registry_factor
from gateway.verification.scoring import FAIL, NOT_CHECKED, PASS, factor

# Prompts under which the applicant faces the camera: the frames the face match prefers, because
# a turned head matches a frontal document portrait worse and says nothing about identity.
FRONTAL_PROMPTS = frozenset({"neutral", "blink", "smile", ""})
DEFAULT_MIN_AGE = 18


class InvalidPhoto(Exception):
    """No usable face (or an undecodable image) on one side: the applicant must take it again."""

    def __init__(self, side: str, detail: str) -> None:
        super().__init__(detail)
        self.side = side
        self.detail = detail

    @property
    def code(self) -> str:
        return f"INVALID_PHOTO:{self.side}"


@dataclass(frozen=True)
class SelfieFrame:
    """One captured selfie frame as stored: image bytes, its prompt and capture time."""

    image: bytes
    prompt: str = ""
    t_ms: float = 0.0


@dataclass(frozen=True)
class Captures:
    """Everything the applicant submitted, as bytes (the worker downloads it from PocketBase).

    `challenge_checked_at` is the Unix time at which the challenge's expiry is judged: the time
    the frames were uploaded, not the time a (possibly retried) job happens to run. `mirrored`
    says the client flipped its frames left-right (turns then appear reversed).
    """

    document_front: bytes | None
    selfie_frames: Sequence[SelfieFrame]
    document_back: bytes | None = None
    liveness_challenge: Mapping[str, Any] | None = None
    challenge_checked_at: float | None = None
    mirrored: bool = False


@dataclass
class PipelineResult:
    """Each factor's output, the decision, and the effective settings and timings used."""

    factors: dict[str, dict[str, Any]]
    decision: scoring.Decision
    effective: dict[str, Any]
    timings_ms: dict[str, float] = field(default_factory=dict)
    document_fields: dict[str, Any] = field(default_factory=dict)

    @property
    def document_expires_on(self) -> str | None:
        """The document's expiry date (ISO) as read, for the document-expiry job."""
        value = self.document_fields.get("expiry_date")
        return str(value) if value else None

    def scores(self) -> dict[str, Any]:
        """What is stored in the profile's ``scores``: every factor and the settings used."""
        return {
            "factors": self.factors,
            "points": self.decision.points,
            "settings": self.effective,
            "timings_ms": self.timings_ms,
        }


def pipeline_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The effective pipeline settings of a partner, with the issue's defaults."""
    settings = settings or {}
    kya = settings.get("kya") or {}
    registry = settings.get("registry") or {}
    return {
        **scoring.scoring_settings(settings).as_dict(),
        "face_match_threshold": float(settings.get("face_match_threshold", DEFAULT_THRESHOLD)),
        "min_age": int(settings.get("min_age", DEFAULT_MIN_AGE)),
        "allowed_document_types": list(settings.get("allowed_document_types") or []),
        "allowed_countries": list(settings.get("allowed_countries") or []),
        "kya": {
            "email_mx": bool(kya.get("email_mx", kya.get("check_mx", False))),
            "phone": bool(kya.get("phone", True)),
            "country_coherence": bool(kya.get("country_coherence", True)),
            "name_coherence": bool(kya.get("name_coherence", True)),
        },
        "registry_enabled": bool(registry.get("enabled", False)),
    }


def _decode(image: bytes | None, side: str, what: str) -> np.ndarray:
    if not image:
        raise InvalidPhoto(side, f"no {what} was submitted")
    try:
        return decode_image(image, field=what)
    except ValidationFailed as error:
        raise InvalidPhoto(side, error.detail) from error


def _frontal_indexes(frames: Sequence[SelfieFrame]) -> list[int]:
    frontal = [i for i, frame in enumerate(frames) if frame.prompt in FRONTAL_PROMPTS]
    return frontal or list(range(len(frames)))


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
    indexes = _frontal_indexes(frames)
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
    if result.get("is_live") is True:
        return factor(PASS, confidence, ["the challenge was followed live"], result)
    hints = [str(hint) for hint in result.get("hints") or []] or ["not live"]
    return factor(FAIL, 0.0, hints, result)


def document_factor(
    front_rgb: np.ndarray,
    back_rgb: np.ndarray | None,
    applicant: Mapping[str, Any],
    *,
    min_age: int,
    today: dt.date | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document engineer's reading and checks; returns (factor, fields read).

    The portrait was already checked by the pipeline, so the reader is asked not to look for it
    again. An unreadable document whose photo has quality problems (blur, glare, cut off) is an
    `InvalidPhoto`: a better photo will fix it, a reviewer cannot.
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
    uncertain = [item for item in checks if item.get("status") == "uncertain"]
    if uncertain and not failed:
        # read, but a person must confirm some field: not passed, and not the applicant's fault
        reasons = [f"{item.get('name')}: {item.get('detail')}" for item in uncertain]
        return factor(NOT_CHECKED, None, reasons, result), fields
    reasons = [f"{item.get('name')}: {item.get('detail')}" for item in failed]
    return factor(FAIL, 0.0, reasons or ["the document is not valid"], result), fields


def _apply_document_policy(
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


def run_pipeline(
    captures: Captures,
    applicant: Mapping[str, Any],
    partner_settings: Mapping[str, Any] | None = None,
    *,
    today: dt.date | None = None,
    mx_lookup: MxLookup | None = None,
) -> PipelineResult:
    """Run every factor and decide. Raises `InvalidPhoto`; transient errors propagate."""
    effective = pipeline_settings(partner_settings)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        timings[name] = round((now - started) * 1000.0, 1)
        started = now

    document_rgb = _decode(captures.document_front, "document", "document_front")
    back_rgb = (
        _decode(captures.document_back, "document", "document_back")
        if captures.document_back
        else None
    )
    if not captures.selfie_frames:
        raise InvalidPhoto("selfie", "no selfie frames were submitted")
    frames_rgb = [
        _decode(frame.image, "selfie", f"selfie_frames[{index}]")
        for index, frame in enumerate(captures.selfie_frames)
    ]
    lap("decode")
    # Presence on the whole card decides INVALID_PHOTO:document; the embedding is taken once, on
    # the portrait cut-out, and serves both the face match and liveness's same-person check.
    document_face = check_image_faces(document_rgb, embed=False)
    if document_face.problem:
        raise InvalidPhoto("document", document_face.describe("document", 80))
    portrait_rgb = portrait_region(document_rgb, document_face.faces[0].box)
    portrait_face = check_image_faces(portrait_rgb)
    lap("document_face")

    factors: dict[str, dict[str, Any]] = {}
    selfie_embeddings: dict[int, np.ndarray] = {}
    selfie_faces: dict[int, tuple[DetectedFace, ...]] = {}
    factors["face_match"] = face_factor(
        portrait_rgb,
        frames_rgb,
        captures.selfie_frames,
        effective["face_match_threshold"],
        document_check=portrait_face,
        embeddings_out=selfie_embeddings,
        faces_out=selfie_faces,
    )
    lap("face_match")
    factors["liveness"] = liveness_factor(
        captures, portrait_face.embedding, frames_rgb, selfie_embeddings, selfie_faces
    )
    lap("liveness")
    factors["document"], document_fields = document_factor(
        document_rgb, back_rgb, applicant, min_age=effective["min_age"], today=today
    )
    _apply_document_policy(factors["document"], document_fields, effective)
    lap("document")
    kya = effective["kya"]
    lookup = mx_lookup
    if lookup is None and kya["email_mx"]:
        lookup = dns_mx_lookup()
    factors["kya"] = kya_factor(applicant, document_fields, mx_lookup=lookup, enabled=kya)
    if kya["email_mx"] and lookup is None:
        factors["kya"]["detail"].setdefault("checks", []).append(
            {
                "name": "email_mx",
                "status": NOT_CHECKED,
                "detail": "MX lookup enabled but no DNS resolver library is installed",
            }
        )
    lap("kya")
    if effective["registry_enabled"] or "registry" in effective["required_checks"]:
        factors["registry"] = registry_check(partner_settings or {}, applicant, document_fields)
        lap("registry")
    decision = scoring.decide(factors, scoring.scoring_settings(partner_settings))
    return PipelineResult(factors, decision, effective, timings, dict(document_fields))
