"""Partner routes: create or reuse a profile, read it, its history, list, new link."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from gateway.auth import current_principal, limiter, partner_rate_limit, require_scope, services
from gateway.errors import BadRequest
from gateway.openapi import documented
from gateway.routes import json_body
from gateway.schemas.profiles import ProfileCreateSchema, ProfileListQuerySchema

bp = Blueprint("profiles", __name__, url_prefix="/api/profiles")
limiter.limit(partner_rate_limit)(bp)

_create_schema = ProfileCreateSchema()
_list_schema = ProfileListQuerySchema()


@bp.post("")
@bp.post("/create")
@require_scope("partner")
@documented(
    body=ProfileCreateSchema,
    statuses={201: "Created", 200: "An existing profile of the same reference or document"},
    errors={409: "The Idempotency-Key was used with another body"},
)
def create_profile() -> tuple[dict[str, Any], int]:
    """Create a profile, or return the existing one for the same reference or document.

    While the partner's monthly verification quota is used up: 429 `quota_exceeded`.
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
@documented(query=ProfileListQuerySchema)
def list_profiles() -> dict[str, Any]:
    """The partner's profiles, newest first."""
    query = _list_schema.load(request.args.to_dict())
    return services().profiles.list(current_principal(), **query)


@bp.get("/<profile_id>")
@require_scope("partner")
def get_profile(profile_id: str) -> dict[str, Any]:
    """One profile with its decision and latest status change."""
    return services().profiles.view(current_principal(), profile_id)


@bp.get("/<profile_id>/history")
@require_scope("partner")
def get_history(profile_id: str) -> dict[str, Any]:
    """Every status change, oldest first."""
    return {"items": services().profiles.history(current_principal(), profile_id)}


@bp.delete("/<profile_id>")
@require_scope("partner")
@documented(errors={409: "The profile is being verified; erase it once decided"})
def erase_profile(profile_id: str) -> dict[str, Any]:
    """Erase the profile's personal data (captures, applicant data, notes); history stays."""
    return services().profiles.erase(current_principal(), profile_id)


@bp.post("/<profile_id>/link")
@require_scope("partner")
@documented(errors={409: "The profile's status does not allow a new link"})
def new_link(profile_id: str) -> dict[str, Any]:
    """A fresh capture link (resubmission or re-verification); 429 `quota_exceeded` while the
    monthly verification quota is used up."""
    principal = current_principal()
    services().usage.require_available(principal.partner_id, "verification", principal.settings)
    return services().profiles.new_link(principal, profile_id)
