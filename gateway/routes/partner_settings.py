"""``GET/PATCH /api/settings``: a partner reads and changes its own settings."""

from __future__ import annotations

from typing import Any

from gateway.auth import current_principal, require_scope, services
from gateway.openapi import documented
from gateway.routes import json_body, partner_blueprint
from gateway.services import partner_settings

SETTINGS_PATCH = {
    "type": "object",
    "description": "A JSON merge patch (RFC 7396) of the settings that GET returns",
}

bp = partner_blueprint("partner_settings", "/api/settings")


@bp.get("")
@require_scope("partner")
def get_settings() -> dict[str, Any]:
    """The partner's effective settings (defaults included, credentials redacted)."""
    return partner_settings.get_partner_settings(services().pb, current_principal().partner_id)


@bp.patch("")
@require_scope("partner")
@documented(body=SETTINGS_PATCH)
def patch_settings() -> dict[str, Any]:
    """Change settings with a JSON merge patch (``null`` restores a default); validated whole.

    Other gateway processes apply the change within their key cache's 10 s.
    """
    principal = current_principal()
    updated = partner_settings.set_partner_settings(
        services().pb, principal.partner_id, json_body(), actor=principal.actor
    )
    services().keys.forget_partner(principal.partner_id)
    return updated
