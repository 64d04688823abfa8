"""Reviewer routes: change status, attach documents, notes (keys with the ``reviewer`` scope)."""

from __future__ import annotations

from typing import Any

from flask import request

from gateway.auth import current_principal, require_scope, services
from gateway.errors import BadRequest, UnsupportedMediaType
from gateway.openapi import documented
from gateway.routes import json_body, partner_blueprint
from gateway.schemas.profiles import NoteSchema, StatusChangeSchema
from gateway.services.profiles import DOCUMENT_FIELDS
from gateway.services.uploads import accept_upload

bp = partner_blueprint("reviewer", "/api/profiles")

DOCUMENTS_FORM = {
    "type": "object",
    "description": "One or more files in these fields; `other` also takes a PDF.",
    "properties": {
        name: {"type": "array", "items": {"type": "string", "contentMediaType": "image/jpeg"}}
        for name in DOCUMENT_FIELDS
    },
}
_status_schema = StatusChangeSchema()
_note_schema = NoteSchema()


@bp.patch("/<profile_id>/status")
@require_scope("reviewer")
@documented(body=StatusChangeSchema, errors={409: "The data layer refuses that transition"})
def change_status(profile_id: str) -> dict[str, Any]:
    """Move a profile to another status; the data layer checks the transition.

    `reason` is required to approve or reject (422 otherwise).
    """
    data = _status_schema.load(json_body())
    return services().profiles.change_status(
        current_principal(), profile_id, data["status"], data.get("reason")
    )


@bp.post("/<profile_id>/documents")
@require_scope("reviewer")
@documented(
    form=DOCUMENTS_FORM, status=201, errors={410: "The profile was erased (`profile_erased`)"}
)
def attach_documents(profile_id: str) -> tuple[dict[str, Any], int]:
    """Attach documents (multipart) as protected files, each through the upload policy."""
    if not request.mimetype.startswith("multipart/"):
        raise UnsupportedMediaType("Send documents as multipart/form-data")
    unknown = sorted(set(request.files) - set(DOCUMENT_FIELDS))
    if unknown or not request.files:
        raise BadRequest(
            f"Send files in the fields {', '.join(DOCUMENT_FIELDS)}",
            errors={name: ["unknown field"] for name in unknown} or None,
        )
    files: dict[str, list[tuple[str, bytes, str]]] = {}
    limit = services().settings.max_upload_bytes
    for field_name in request.files:
        for upload in request.files.getlist(field_name):
            stored = accept_upload(
                field_name, upload.read(limit + 1), max_bytes=limit, allow_pdf=field_name == "other"
            )
            files.setdefault(field_name, []).append(
                (stored.filename, stored.content, stored.mime_type)
            )
    return services().profiles.attach_documents(current_principal(), profile_id, files), 201


@bp.post("/<profile_id>/notes")
@require_scope("reviewer")
@documented(body=NoteSchema, status=201, errors={410: "The profile was erased (`profile_erased`)"})
def add_note(profile_id: str) -> tuple[dict[str, Any], int]:
    """Attach a note to a profile."""
    data = _note_schema.load(json_body())
    return services().profiles.add_note(current_principal(), profile_id, data["body"]), 201


@bp.get("/<profile_id>/notes")
@require_scope("reviewer")
def list_notes(profile_id: str) -> dict[str, Any]:
    """A profile's notes, oldest first."""
    return {"items": services().profiles.notes(current_principal(), profile_id)}
