"""Partner routes: create or reuse a profile, read it, its history, list, new link."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from gateway.auth import current_principal, require_scope, services
from gateway.errors import BadRequest
from gateway.openapi import IDEMPOTENCY_KEY, documented
from gateway.routes import json_body, partner_blueprint
from gateway.schemas.profiles import (
    CHANGES_RESPONSE,
    HISTORY_LIST_RESPONSE,
    LINK_RESPONSE,
    PROFILE_LIST_RESPONSE,
    PROFILE_RESPONSE,
    ProfileChangesQuerySchema,
    ProfileCreateSchema,
    ProfileListQuerySchema,
)
from gateway.services.profile_reads import Conditional

bp = partner_blueprint("profiles", "/api/profiles")

_create_schema = ProfileCreateSchema()
_list_schema = ProfileListQuerySchema()
_changes_schema = ProfileChangesQuerySchema()
CONDITIONAL = {200: "Success, with an `ETag`", 304: "Not modified: `If-None-Match` is current"}
# What a conditional read takes and answers (README: "How to poll").
IF_NONE_MATCH = {
    "If-None-Match": {
        "type": "string",
        "description": "The `ETag` of your last read: 304 with no body while it is current",
    }
}
ETAG = {"ETag": "The version of this answer; send it back as `If-None-Match`"}


def conditional_response(result: Conditional) -> Response:
    """200 with the body and its ETag, or 304 with the ETag alone."""
    if result.body is None:
        response = Response(status=304)
    elif result.encoded is not None:
        response = Response(result.encoded, mimetype="application/json")
    else:
        response = jsonify(result.body)
    response.headers["ETag"] = result.etag
    return response


@bp.post("")
@bp.post("/create")
@require_scope("partner")
@documented(
    body=ProfileCreateSchema,
    statuses={201: "Created", 200: "An existing profile of the same reference or document"},
    response=LINK_RESPONSE,
    errors={
        409: "The Idempotency-Key was used with another body",
        410: "`profile_erased`: the profile of this reference was erased; use another reference",
    },
    headers=IDEMPOTENCY_KEY,
)
def create_profile() -> tuple[dict[str, Any], int]:
    """Create a profile, or return the existing one for the same reference or document.

    `external_ref` or `document` is required (422 otherwise). While the partner's monthly
    verification quota is used up: 429 `quota_exceeded`.
    """
    principal = current_principal()
    services().usage.require_available(principal.partner_id, "verification", principal.settings)
    body = json_body()
    data = _create_schema.load(body)
    if data.get("date_of_birth"):
        data["date_of_birth"] = data["date_of_birth"].isoformat()
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise BadRequest("Idempotency-Key must be 1 to 255 characters")
    view, created = services().profiles.create_or_reuse(principal, data, idempotency_key)
    return view, 201 if created else 200


@bp.get("")
@require_scope("partner")
@documented(query=ProfileListQuerySchema, response=PROFILE_LIST_RESPONSE)
def list_profiles() -> dict[str, Any]:
    """The partner's profiles, newest first; follow `next_cursor` for the next page."""
    query = _list_schema.load(request.args.to_dict())
    return services().profiles.reads.list(current_principal(), **query)


@bp.get("/changes")
@require_scope("partner")
@documented(query=ProfileChangesQuerySchema, response=CHANGES_RESPONSE)
def list_changes() -> dict[str, Any]:
    """Profiles whose status or decision changed after the cursor `after`, oldest change first.

    Pass `next_cursor` back as `after` to continue; it is set even on an empty page. No change
    is skipped or repeated across pages, including changes that commit while a page is read; a
    profile that changes again appears again, with its new state.
    """
    query = _changes_schema.load(request.args.to_dict())
    return services().profiles.reads.changes(current_principal(), **query)


@bp.get("/<profile_id>")
@require_scope("partner")
@documented(
    statuses=CONDITIONAL, response=PROFILE_RESPONSE, headers=IF_NONE_MATCH, response_headers=ETAG
)
def get_profile(profile_id: str) -> Response:
    """One profile with its decision and latest status change; conditional on `If-None-Match`."""
    return conditional_response(
        services().profiles.reads.view(
            current_principal(), profile_id, request.headers.get("If-None-Match")
        )
    )


@bp.get("/<profile_id>/history")
@require_scope("partner")
@documented(
    statuses=CONDITIONAL,
    response=HISTORY_LIST_RESPONSE,
    headers=IF_NONE_MATCH,
    response_headers=ETAG,
)
def get_history(profile_id: str) -> Response:
    """Every status change, oldest first; conditional on `If-None-Match`."""
    result = services().profiles.reads.history(
        current_principal(), profile_id, request.headers.get("If-None-Match")
    )
    if result.body is not None:
        result = Conditional(result.etag, {"items": result.body})
    return conditional_response(result)


@bp.delete("/<profile_id>")
@require_scope("partner")
@documented(errors={409: "The profile is being verified; erase it once decided"})
def erase_profile(profile_id: str) -> dict[str, Any]:
    """Erase the profile's personal data (captures, applicant data, notes); history stays."""
    return services().profiles.erase(current_principal(), profile_id)


@bp.post("/<profile_id>/link")
@require_scope("partner")
@documented(
    response=LINK_RESPONSE,
    errors={
        409: "`capture_closed`: the profile is being verified or decided, nothing to capture",
        410: "The profile was erased (`profile_erased`): create a new one",
    },
)
def new_link(profile_id: str) -> dict[str, Any]:
    """A fresh capture link (resubmission or re-verification); 429 `quota_exceeded` while the
    monthly verification quota is used up."""
    principal = current_principal()
    services().usage.require_available(principal.partner_id, "verification", principal.settings)
    return services().profiles.new_link(principal, profile_id)
