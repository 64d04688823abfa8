"""A decided profile as the KYC Service reads it: ``ocr_complete`` or ``ocr_failed`` and a result.

The error codes are that service's own, kept exactly so its back end needs no change:
``INVALID_PHOTO:passport:<why>`` (a passport photo that cannot be read for its quality, or no
usable face on it), ``INVALID_PHOTO:selfie:<why>``
(none on the selfie), ``FACE_MISMATCH:<similarity>:<why>`` (similarity below the threshold,
0.75 by default), and ``PROCESSING_FAILED:<why>`` when no decision could be reached. The result
holds what was read and measured, never the images.
"""

from __future__ import annotations

from typing import Any

from gateway.services.sealed_scores import reveal_scores

OCR_COMPLETE = "ocr_complete"
OCR_FAILED = "ocr_failed"
PENDING = "pending"
# document_expired: approved, then the passport ran out (the expiry job); the job stays decided.
DECIDED_STATUSES = frozenset(
    {"approved", "manual_review", "rejected", "resubmission_requested", "document_expired"}
)
SIDE_NAMES = {"document": "passport", "selfie": "selfie"}
RESULT_VERSION = 1


def job_id_for(kyc_id: int) -> str:
    """The job id the KYC Service gets back, and the profile's ``external_ref``."""
    return f"kyc-{kyc_id}"


def _first_reason(profile: dict[str, Any]) -> str:
    reasons = profile.get("reasons") or []
    return str(reasons[0]) if reasons else ""


def error_code(profile: dict[str, Any]) -> str | None:
    """The KYC Service error for a decided profile, or None when the OCR step succeeded."""
    reason = _first_reason(profile)
    if profile.get("status") == "resubmission_requested" and reason.startswith("INVALID_PHOTO:"):
        code, _, detail = reason.partition(": ")
        side = SIDE_NAMES.get(code.partition(":")[2], code.partition(":")[2])
        return f"INVALID_PHOTO:{side}:{detail}"
    if reason.startswith(("processing_failed", "processing_timeout")):
        # No decision: the worker gave up, or the reconciler after the attempts ran out.
        return f"PROCESSING_FAILED:{reason.partition(': ')[2] or reason}"
    face = ((profile.get("scores") or {}).get("factors") or {}).get("face_match") or {}
    if face.get("status") == "fail":
        similarity = float(face.get("score") or 0.0)
        why = "; ".join(str(item) for item in face.get("reasons") or []) or "faces differ"
        return f"FACE_MISMATCH:{similarity:.3f}:{why}"
    return None


def kyc_status(profile: dict[str, Any]) -> str:
    """``ocr_complete``, ``ocr_failed`` or ``pending`` (not decided yet)."""
    if profile.get("status") not in DECIDED_STATUSES:
        return PENDING
    return OCR_FAILED if error_code(profile) else OCR_COMPLETE


def build_result(profile: dict[str, Any], *, data_key: str) -> dict[str, Any]:
    """The JSON the KYC Service receives (sealed into ``ocrResult``, or from the status route).

    The store keeps what was read from the document masked, the full values sealed with the data
    key; the KYC Service is entitled to the OCR result itself, so they are revealed here.
    """
    intake = (profile.get("metadata") or {}).get("kyc_service") or {}
    factors = reveal_scores(data_key, profile.get("scores") or {}).get("factors") or {}
    face = factors.get("face_match") or {}
    face_detail = face.get("detail") or {}
    document = factors.get("document") or {}
    document_detail = document.get("detail") or {}
    result: dict[str, Any] = {
        "version": RESULT_VERSION,
        "jobId": job_id_for(intake.get("kycId")) if intake.get("kycId") is not None else None,
        "kycId": intake.get("kycId"),
        "userId": intake.get("userId"),
        "profileId": profile.get("id"),
        "status": kyc_status(profile),
        "error": error_code(profile),
        "decision": profile.get("decision") or None,
        "profileStatus": profile.get("status"),
        "score": profile.get("score"),
        "reasons": list(profile.get("reasons") or []),
        "faceMatch": {
            "status": face.get("status"),
            "similarity": face.get("score"),
            "threshold": face_detail.get("threshold"),
        }
        if face
        else None,
        "document": {
            "status": document.get("status"),
            "valid": document_detail.get("document_valid"),
            "type": document_detail.get("document_type"),
            "fields": document_detail.get("fields") or {},
            "checks": [
                {"name": item.get("name"), "status": item.get("status")}
                for item in document_detail.get("checks") or []
                if isinstance(item, dict)
            ],
        }
        if document
        else None,
        "decidedAt": profile.get("updated"),
    }
    return result
