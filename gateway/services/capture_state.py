"""What the hosted page is shown of a capture: the step to resume at and what it needs to draw.

Read-only views of a ``CaptureSession`` (no store call): ``CaptureService.state`` serves them to
the page, and the service's steps use the same document type and sides to decide what an
upload completes.
"""

from __future__ import annotations

from typing import Any

from gateway.services.capture_link import CaptureSession
from gateway.services.capture_rules import accepted_document_types, branding
from gateway.services.partner_settings import retention_days
from gateway.services.pb_time import iso
from gateway.verification.documents.normalize import DOCUMENT_TYPES

TWO_SIDED_TYPES = frozenset({"id_card", "driver_license", "residence_permit"})


def page_state(session: CaptureSession, *, lang: str, max_upload_bytes: int) -> dict[str, Any]:
    """What the page needs to draw itself and resume at the right step."""
    profile = session.profile
    capture = session.capture
    document = capture.get("document") or {}
    document_type = document_type_of(session)
    frames = capture.get("frames") or []
    resubmission = capture.get("resubmission")
    return {
        "profile_id": profile["id"],
        "status": profile["status"],
        "lang": lang,
        "step": next_step(profile, capture, document_type),
        "branding": branding(session.settings, session.partner_name),
        "retention_days": retention_days(session.settings),
        "consent_at": iso(profile.get("consent_at")),
        "document": {
            "type": document_type,
            "country": (
                document.get("country")
                or profile.get("document_country")
                or profile.get("country")
                or ""
            ).upper(),
            "needs_back": document_type in TWO_SIDED_TYPES,
            # The choices the page offers: only the types the partner accepts.
            "types": accepted_document_types(session.settings),
        },
        "captured": {
            "document_front": bool(profile.get("document_front")),
            "document_back": bool(profile.get("document_back")),
            "selfie": bool(profile.get("selfie")),
            "selfie_frames": len(frames),
        },
        "resubmission": (
            {"step": resubmission["step"], "reason": resubmission["reason"]}
            if resubmission
            else None
        ),
        "max_upload_bytes": max_upload_bytes,
    }


def next_step(profile: dict[str, Any], capture: dict[str, Any], document_type: str) -> str:
    """The first step the applicant has not completed: consent, document, selfie, review."""
    if not profile.get("consent_at"):
        return "consent"
    if not document_type or not profile.get("document_front"):
        return "document"
    if document_type in TWO_SIDED_TYPES and not profile.get("document_back"):
        return "document"
    if not profile.get("selfie") or not capture.get("frames"):
        return "selfie"
    return "review"


def document_type_of(session: CaptureSession) -> str:
    """The applicant's choice, else the type the partner sent with the profile (the page then
    skips the choice and goes straight to the photo), else ""."""
    chosen = (session.capture.get("document") or {}).get("type")
    document_type = chosen or session.profile.get("document_type") or ""
    return document_type if document_type in DOCUMENT_TYPES else ""
