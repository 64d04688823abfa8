"""The verification pipeline: captures and applicant data in, factor results and a decision out.

The document is read first (its MRZ says which way up the photo is, and the face detector
finds upright faces only), then its face is looked for (no face there means a new photo,
nothing else is worth computing), then face match, liveness and KYA. Each factor is
``{status, score, reasons, detail}``; a factor whose service is not installed, or that lacks
its inputs, is ``not_checked`` with the reason, never ``pass``. A photo without a usable face
raises `InvalidPhoto`: the applicant must resubmit, and the worker maps it to
``resubmission_requested`` without retrying. No Flask, no PocketBase here. The inputs are
`captures.py`'s; each stage is a function of `factors.py`, run here in order.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.errors import ValidationFailed
from gateway.verification import scoring
from gateway.verification.captures import Captures, InvalidPhoto
from gateway.verification.faces.recognition import DEFAULT_THRESHOLD, MIN_FACE_PX, DetectedFace
from gateway.verification.factors import (
    apply_document_policy,
    document_factor,
    document_portrait,
    face_factor,
    liveness_factor,
    registry_check,
)
from gateway.verification.images import decode_image
from gateway.verification.kya import MxLookup, dns_mx_lookup, kya_factor
from gateway.verification.scoring import NOT_CHECKED

DEFAULT_MIN_AGE = 18


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
    # The document is read first: its MRZ says which way up the photo is, and the face detector
    # finds upright faces only (a page photographed sideways had no portrait).
    document_read, document_fields = document_factor(
        document_rgb, back_rgb, applicant, min_age=effective["min_age"], today=today
    )
    apply_document_policy(document_read, document_fields, effective)
    lap("document")
    # Then presence on the whole card (turned upright) decides INVALID_PHOTO:document, as an
    # unreadable photo already may have; the embedding is taken once, on the portrait cut-out,
    # and serves both the face match and liveness's same-person check.
    front_turns = int(document_read["detail"].get("front_quarter_turns") or 0)
    document = document_portrait(document_rgb, front_turns)
    if document.card.problem:
        raise InvalidPhoto("document", document.card.describe("document", MIN_FACE_PX))
    assert document.portrait_rgb is not None and document.portrait is not None
    portrait_rgb, portrait_face = document.portrait_rgb, document.portrait
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
    factors["face_match"]["detail"]["document_card_faces"] = [
        face.as_dict() for face in document.card.faces
    ]
    factors["face_match"]["detail"]["document_quarter_turns"] = front_turns
    lap("face_match")
    factors["liveness"] = liveness_factor(
        captures, portrait_face.embedding, frames_rgb, selfie_embeddings, selfie_faces
    )
    lap("liveness")
    factors["document"] = document_read
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
