"""Webhook deliveries as a partner (or the operator) sees them, and replay on request.

Kept apart from ``delivery`` (the engine the worker runs): these read and reset rows for the
API and the CLI, and send nothing themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.errors import IllegalTransition
from gateway.services.pb_time import parse_pb_time, pb_datetime
from gateway.services.pocketbase import PocketBase
from gateway.services.webhooks.events import iso_time


def delivery_view(record: dict[str, Any]) -> dict[str, Any]:
    """A delivery as the API shows it."""

    def when(value: str | None) -> str | None:
        return iso_time(value) if value else None

    return {
        "id": record["id"],
        "endpoint_id": record["endpoint"],
        "event_id": record["event"],
        "event_type": record["event_type"],
        "message_id": record["message_id"],
        "status": record["status"],
        "attempts": int(record.get("attempts") or 0),
        "next_attempt_at": when(record.get("next_attempt_at")),
        "last_status_code": record.get("last_status_code") or None,
        "last_latency_ms": record.get("last_latency_ms") if record.get("attempts") else None,
        "last_response": record.get("last_response") or None,
        "last_error": record.get("last_error") or None,
        "delivered_at": when(record.get("delivered_at")),
        "attempt_log": record.get("attempt_log") or [],
        "created": when(record["created"]),
    }


def load_delivery(pb: PocketBase, partner_id: str | None, delivery_id: str) -> dict[str, Any]:
    """A delivery of ``partner_id`` (None: the operator), else ``NotFound``."""
    return pb.get_owned("webhook_deliveries", delivery_id, partner_id, "webhook delivery")


def list_deliveries(
    pb: PocketBase,
    partner_id: str,
    *,
    status: str | None = None,
    endpoint_id: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    """The partner's deliveries, newest first."""
    clauses = ["partner = {:partner}"]
    params: dict[str, Any] = {"partner": partner_id}
    if status:
        clauses.append("status = {:status}")
        params["status"] = status
    if endpoint_id:
        clauses.append("endpoint = {:endpoint}")
        params["endpoint"] = endpoint_id
    listing = pb.find_page(
        "webhook_deliveries", " && ".join(clauses), params, page=page, per_page=per_page
    )
    listing["items"] = [delivery_view(row) for row in listing["items"]]
    return listing


def replay_delivery(
    pb: PocketBase, partner_id: str | None, delivery_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """Send a delivery again (same ``webhook-id``), with a fresh retry schedule.

    Refused while an attempt is in flight, and while its endpoint is disabled (re-enable it first).
    """
    record = load_delivery(pb, partner_id, delivery_id)
    moment = now or datetime.now(UTC)
    if record.get("lease_until") and parse_pb_time(record["lease_until"]) > moment:
        raise IllegalTransition("An attempt of this delivery is in flight; try again shortly")
    endpoint = pb.get("webhook_endpoints", record["endpoint"])
    if not endpoint.get("enabled"):
        raise IllegalTransition("The endpoint is disabled; enable it before replaying")
    updated = pb.update(
        "webhook_deliveries",
        record["id"],
        {"status": "pending", "retry_step": 0, "next_attempt_at": pb_datetime(moment)},
    )
    return delivery_view(updated)
