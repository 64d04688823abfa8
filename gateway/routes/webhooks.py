"""Partner routes for webhook endpoints, their secrets and their deliveries."""

from __future__ import annotations

from typing import Any

from flask import request

from gateway.auth import current_principal, require_scope, services
from gateway.openapi import documented
from gateway.routes import json_body, partner_blueprint
from gateway.schemas.webhooks import (
    DeliveryListQuerySchema,
    RotateSchema,
    WebhookCreateSchema,
    WebhookUpdateSchema,
)

bp = partner_blueprint("webhooks", "/api/webhooks")

_create_schema = WebhookCreateSchema()
_update_schema = WebhookUpdateSchema()
_rotate_schema = RotateSchema()
_deliveries_schema = DeliveryListQuerySchema()


@bp.get("")
@require_scope("partner")
def list_webhooks() -> dict[str, Any]:
    """The partner's webhook endpoints."""
    return {"items": services().webhooks.list_endpoints(current_principal().partner_id)}


@bp.post("")
@require_scope("partner")
@documented(body=WebhookCreateSchema, status=201)
def create_webhook() -> tuple[dict[str, Any], int]:
    """Register an endpoint; the response carries its signing secret, shown this once."""
    data = _create_schema.load(json_body())
    created = services().webhooks.create_endpoint(
        current_principal().partner_id,
        data["url"],
        data["events"],
        description=data.get("description", ""),
    )
    return created, 201


@bp.get("/deliveries")
@require_scope("partner")
@documented(query=DeliveryListQuerySchema)
def list_deliveries() -> dict[str, Any]:
    """The partner's deliveries, newest first, with every attempt."""
    query = _deliveries_schema.load(request.args.to_dict())
    return services().webhooks.list_deliveries(current_principal().partner_id, **query)


@bp.get("/deliveries/<delivery_id>")
@require_scope("partner")
def get_delivery(delivery_id: str) -> dict[str, Any]:
    """One delivery with every attempt."""
    return services().webhooks.delivery(current_principal().partner_id, delivery_id)


@bp.post("/deliveries/<delivery_id>/replay")
@require_scope("partner")
@documented(status=202, errors={409: "An attempt is in flight, or the endpoint is disabled"})
def replay_delivery(delivery_id: str) -> tuple[dict[str, Any], int]:
    """Send a delivery again, with the same webhook-id; the worker sends it."""
    return services().webhooks.replay_delivery(current_principal().partner_id, delivery_id), 202


@bp.get("/<endpoint_id>")
@require_scope("partner")
def get_webhook(endpoint_id: str) -> dict[str, Any]:
    """One endpoint."""
    return services().webhooks.endpoint(current_principal().partner_id, endpoint_id)


@bp.patch("/<endpoint_id>")
@require_scope("partner")
@documented(body=WebhookUpdateSchema)
def update_webhook(endpoint_id: str) -> dict[str, Any]:
    """Change an endpoint's URL, events, description or enabled flag."""
    data = _update_schema.load(json_body())
    return services().webhooks.update_endpoint(current_principal().partner_id, endpoint_id, data)


@bp.delete("/<endpoint_id>")
@require_scope("partner")
@documented(status=204)
def delete_webhook(endpoint_id: str) -> tuple[str, int]:
    """Remove an endpoint and its deliveries."""
    services().webhooks.delete_endpoint(current_principal().partner_id, endpoint_id)
    return "", 204


@bp.post("/<endpoint_id>/rotate")
@require_scope("partner")
@documented(body=RotateSchema)
def rotate_webhook_secret(endpoint_id: str) -> dict[str, Any]:
    """A new signing secret (shown once); the old one keeps signing during the overlap."""
    data = _rotate_schema.load(json_body() if request.content_length else {})
    return services().webhooks.rotate_secret(
        current_principal().partner_id, endpoint_id, data["overlap_s"]
    )
