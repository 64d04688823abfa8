"""Partner routes for webhook endpoints, their secrets and their deliveries."""

from __future__ import annotations

from typing import Any

import structlog
from flask import Blueprint, request

from gateway.auth import current_principal, limiter, partner_rate_limit, require_scope, services
from gateway.routes import json_body
from gateway.schemas.webhooks import (
    DeliveryListQuerySchema,
    RotateSchema,
    WebhookCreateSchema,
    WebhookUpdateSchema,
)
from gateway.services.webhooks import delivery, endpoints

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")
limiter.limit(partner_rate_limit)(bp)
log = structlog.get_logger("gateway.routes.webhooks")

_create_schema = WebhookCreateSchema()
_update_schema = WebhookUpdateSchema()
_rotate_schema = RotateSchema()
_deliveries_schema = DeliveryListQuerySchema()


@bp.get("")
@require_scope("partner")
def list_webhooks() -> dict[str, Any]:
    """The partner's webhook endpoints."""
    return {"items": endpoints.list_endpoints(services().pb, current_principal().partner_id)}


@bp.post("")
@require_scope("partner")
def create_webhook() -> tuple[dict[str, Any], int]:
    """Register an endpoint; the response carries its signing secret, shown this once."""
    data = _create_schema.load(json_body())
    settings = services().settings
    created = endpoints.create_endpoint(
        services().pb,
        settings.data_key,
        current_principal().partner_id,
        data["url"],
        data["events"],
        allow_private=settings.webhook_allow_private,
        description=data.get("description", ""),
    )
    return created, 201


@bp.get("/deliveries")
@require_scope("partner")
def list_deliveries() -> dict[str, Any]:
    """The partner's deliveries, newest first, with every attempt."""
    query = _deliveries_schema.load(request.args.to_dict())
    return delivery.list_deliveries(services().pb, current_principal().partner_id, **query)


@bp.get("/deliveries/<delivery_id>")
@require_scope("partner")
def get_delivery(delivery_id: str) -> dict[str, Any]:
    """One delivery with every attempt."""
    record = delivery.load_delivery(services().pb, current_principal().partner_id, delivery_id)
    return delivery.delivery_view(record)


@bp.post("/deliveries/<delivery_id>/replay")
@require_scope("partner")
def replay_delivery(delivery_id: str) -> tuple[dict[str, Any], int]:
    """Send a delivery again, with the same webhook-id; the worker sends it."""
    view = delivery.replay_delivery(services().pb, current_principal().partner_id, delivery_id)
    _enqueue(view["id"])
    return view, 202


@bp.get("/<endpoint_id>")
@require_scope("partner")
def get_webhook(endpoint_id: str) -> dict[str, Any]:
    """One endpoint."""
    record = endpoints.load_endpoint(services().pb, current_principal().partner_id, endpoint_id)
    return endpoints.endpoint_view(record)


@bp.patch("/<endpoint_id>")
@require_scope("partner")
def update_webhook(endpoint_id: str) -> dict[str, Any]:
    """Change an endpoint's URL, events, description or enabled flag."""
    data = _update_schema.load(json_body())
    return endpoints.update_endpoint(
        services().pb,
        current_principal().partner_id,
        endpoint_id,
        data,
        allow_private=services().settings.webhook_allow_private,
    )


@bp.delete("/<endpoint_id>")
@require_scope("partner")
def delete_webhook(endpoint_id: str) -> tuple[str, int]:
    """Remove an endpoint and its deliveries."""
    endpoints.delete_endpoint(services().pb, current_principal().partner_id, endpoint_id)
    return "", 204


@bp.post("/<endpoint_id>/rotate")
@require_scope("partner")
def rotate_webhook_secret(endpoint_id: str) -> dict[str, Any]:
    """A new signing secret (shown once); the old one keeps signing during the overlap."""
    body = json_body() if request.content_length else {}
    data = _rotate_schema.load(body)
    return endpoints.rotate_secret(
        services().pb,
        services().settings.data_key,
        current_principal().partner_id,
        endpoint_id,
        overlap_s=data["overlap_s"],
    )


def _enqueue(delivery_id: str) -> None:
    """Wake the worker; if the queue is down the periodic sweeper sends it within a minute."""
    try:
        from gateway.worker.webhook_tasks import deliver_webhook

        deliver_webhook(delivery_id)
    except Exception:
        log.warning("webhook_enqueue_failed", delivery_id=delivery_id, exc_info=True)
