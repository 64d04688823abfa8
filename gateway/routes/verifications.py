"""Partners' server-side verification: send the images, get a profile id, poll or await webhooks.

``POST /v1/liveness/challenge`` first when liveness frames are sent; then
``POST /api/verifications`` as JSON, or multipart with the JSON in a ``data`` field and files
``document_front``, ``document_back``, ``selfie``, ``selfie_frames`` (one per ``frames`` entry).
"""

from __future__ import annotations

import json
from typing import Any

from flask import request

from gateway.auth import current_principal, require_scope, services
from gateway.errors import BadRequest
from gateway.openapi import IDEMPOTENCY_KEY, documented
from gateway.routes import json_body, partner_blueprint
from gateway.schemas.verifications import VerificationCreateSchema

bp = partner_blueprint("verifications")

_schema = VerificationCreateSchema()
FILE_FIELDS = ("document_front", "document_back", "selfie")
VERIFICATION_FORM = {
    "type": "object",
    "description": "The same request as multipart: the JSON body in `data`, images as files.",
    "properties": {
        "data": {"type": "string", "description": "The JSON body's fields, as JSON"},
        **{name: {"type": "string", "contentMediaType": "image/jpeg"} for name in FILE_FIELDS},
        "selfie_frames": {
            "type": "array",
            "items": {"type": "string", "contentMediaType": "image/jpeg"},
        },
    },
}


def _body_and_files() -> tuple[dict[str, Any], dict[str, bytes], list[bytes]]:
    if request.mimetype != "multipart/form-data":
        return _schema.load(json_body()), {}, []
    try:
        raw = json.loads(request.form.get("data") or "{}")
    except ValueError as exc:
        raise BadRequest("The data field must be JSON") from exc
    if not isinstance(raw, dict):
        raise BadRequest("The data field must be a JSON object")
    uploads = {name: request.files[name].read() for name in FILE_FIELDS if name in request.files}
    frames = [upload.read() for upload in request.files.getlist("selfie_frames")]
    return _schema.load(raw), uploads, frames


@bp.post("/api/verifications")
@require_scope("partner")
@documented(
    body=VerificationCreateSchema,
    form=VERIFICATION_FORM,
    status=202,
    errors={
        409: "The partner's profile of this reference is not open for new captures",
        502: "The object store refused the gateway (`object_store_denied`)",
    },
    headers=IDEMPOTENCY_KEY,
)
def create_verification() -> tuple[dict[str, Any], int]:
    """Create or reuse a profile with its images and queue its verification."""
    data, uploads, frames = _body_and_files()
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise BadRequest("Idempotency-Key must be 1 to 255 characters")
    accepted = services().verifications.submit_request(
        current_principal(), data, uploads, frames, idempotency_key
    )
    return accepted, 202


@bp.post("/v1/liveness/challenge")
@require_scope("partner")
@documented(status=200)
def liveness_challenge() -> dict[str, Any]:
    """A server-issued liveness challenge for frames captured by the partner's own client."""
    return services().verifications.issue_challenge(current_principal())
