"""Synchronous partner checks: face match, document OCR and validation, liveness.

Each call is authenticated with a partner key, rate-limited per key, metered as one usage event
(billed only when the check ran; ``UsageMeter.metered``) and answers with ``processing_ms`` and
``usage``; with a monthly quota set for the check, a call past it is a 429 ``quota_exceeded``
(``gateway.services.quotas``). Images come as strict base64 in JSON (multipart files are accepted
for face match): bad base64 is a 422, more than the upload limit a 413, anything but JPEG/PNG/WebP
by its bytes a 415 (``CheckService`` and the upload gate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request

from gateway.auth import current_principal, require_scope, services
from gateway.errors import ValidationFailed
from gateway.openapi import documented
from gateway.routes import json_body, partner_blueprint
from gateway.schemas.checks import (
    DocumentOcrSchema,
    DocumentValidateSchema,
    FaceMatchFormSchema,
    FaceMatchSchema,
    LivenessAnalyzeSchema,
)

bp = partner_blueprint("checks", "/v1")

FACE_MATCH_FORM = {
    "type": "object",
    "description": "Files `image_source` and `image_target` (or their base64 in form fields)",
    "properties": {
        "image_source": {"type": "string", "contentMediaType": "image/jpeg"},
        "image_target": {"type": "string", "contentMediaType": "image/jpeg"},
        "image_source_base64": {"type": "string"},
        "image_target_base64": {"type": "string"},
        "threshold": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    },
}
_face_schema = FaceMatchSchema()
_face_form_schema = FaceMatchFormSchema()
_ocr_schema = DocumentOcrSchema()
_validate_schema = DocumentValidateSchema()
_liveness_schema = LivenessAnalyzeSchema()


def _metered(check: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one check for the calling partner as one usage event (billed only if it completes)."""
    principal = current_principal()
    return services().usage.metered(principal.partner_id, check, run, settings=principal.settings)


def _face_match_input() -> dict[str, Any]:
    """The two images and the threshold, from JSON or from a multipart form."""
    if request.mimetype != "multipart/form-data":
        body = _face_schema.load(json_body())
        return {
            "source": body["image_source_base64"],
            "target": body["image_target_base64"],
            "threshold": body.get("threshold"),
        }
    form = _face_form_schema.load({k: v for k, v in request.form.items() if v != ""})
    images: dict[str, bytes] = {}
    for side in ("source", "target"):
        upload = request.files.get(f"image_{side}")
        if upload is not None:
            images[side] = upload.read()
        elif f"image_{side}_base64" in form:
            images[side] = form[f"image_{side}_base64"]
        else:
            raise ValidationFailed(
                f"image_{side} is required (file or image_{side}_base64)",
                errors={f"image_{side}": ["required"]},
            )
    return {**images, "threshold": form.get("threshold")}


@bp.post("/face/match")
@require_scope("partner")
@documented(body=FaceMatchSchema, form=FACE_MATCH_FORM)
def face_match() -> dict[str, Any]:
    """Is the face in one image the face in another?"""
    principal = current_principal()

    def run() -> dict[str, Any]:
        data = _face_match_input()
        threshold = data["threshold"] or float(principal.settings["face_match_threshold"])
        return services().checks.face_match(data["source"], data["target"], threshold)

    return _metered("face_match", run)


@bp.post("/document/ocr")
@require_scope("partner")
@documented(body=DocumentOcrSchema)
def document_ocr() -> dict[str, Any]:
    """Read a document photo: type, fields, MRZ and its checks."""
    principal = current_principal()

    def run() -> dict[str, Any]:
        body = _ocr_schema.load(json_body())
        return services().checks.document_ocr(
            body["image_front_base64"],
            body.get("image_back_base64"),
            document_hint=body["document_hint"],
            country_hint=body["country_hint"],
            min_age=int(principal.settings["min_age"]),
        )

    return _metered("document_ocr", run)


@bp.post("/document/validate")
@require_scope("partner")
@documented(body=DocumentValidateSchema)
def document_validate() -> dict[str, Any]:
    """Validate an MRZ or extracted fields: check digits, dates, codes."""
    principal = current_principal()

    def run() -> dict[str, Any]:
        body = _validate_schema.load(json_body())
        return services().checks.document_validate(
            body.get("mrz"), body.get("fields_"), min_age=int(principal.settings["min_age"])
        )

    return _metered("document_validate", run)


@bp.post("/liveness/analyze")
@require_scope("partner")
@documented(body=LivenessAnalyzeSchema)
def liveness_analyze() -> dict[str, Any]:
    """Liveness from frames captured under a challenge, or passive evidence from one image."""

    def run() -> dict[str, Any]:
        body = _liveness_schema.load(json_body())
        if "image_live_base64" in body:
            return services().checks.passive_liveness(body["image_live_base64"])
        return services().checks.challenge_liveness(
            body["challenge"], body["frames"], mirrored=body["mirrored"]
        )

    return _metered("liveness", run)
