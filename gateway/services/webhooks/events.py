"""Webhook event names, the outbox writer for events the gateway emits itself, and the body sent.

Status events (created, started, submitted, approved...) are written by ``pb_hooks/events.pb.js``
in the transaction of the status change; this module writes the events that have no status change
behind them (document expiring, profile erased, endpoint disabled) to the same outbox.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.errors import StoreError
from gateway.services.pb_time import iso
from gateway.services.pocketbase import PocketBase

PROFILE_EVENTS = (
    "profile.created",
    "profile.started",
    "profile.submitted",
    "profile.status_changed",
    "profile.approved",
    "profile.rejected",
    "profile.manual_review",
    "profile.resubmission_requested",
    "profile.document_expiring",
    "profile.document_expired",
    "profile.erased",
)
ENDPOINT_DISABLED = "webhook.endpoint_disabled"
# Written by pb_hooks/usage.pb.js with the unit that reaches 80 % or 100 % of a monthly quota:
# {check, threshold_percent, used, quota, period, resets_at}.
QUOTA_THRESHOLD_REACHED = "quota.threshold_reached"
EVENT_TYPES = (*PROFILE_EVENTS, ENDPOINT_DISABLED, QUOTA_THRESHOLD_REACHED)
ALL_EVENTS = "*"
# The only keys a payload may carry: a guard against a future caller adding PII by accident.
PAYLOAD_KEYS = frozenset(
    {
        "profile_id",
        "external_ref",
        "status",
        "previous_status",
        "decision",
        "score",
        "reasons",
        "changed_by",
        "history_id",
        "document_expires_on",
        "days_left",
        "threshold_days",
        "endpoint_id",
        "reason",
    }
)


def emit_event(
    pb: PocketBase,
    partner_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    profile_id: str = "",
    dedupe_key: str = "",
) -> dict[str, Any] | None:
    """Write an event to the outbox; None if no enabled endpoint of the partner subscribes to it
    or an event with ``dedupe_key`` was already written."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type}")
    unknown = set(data) - PAYLOAD_KEYS
    if unknown:
        raise ValueError(f"payload keys not allowed in a webhook: {sorted(unknown)}")
    if not has_subscriber(pb, partner_id, event_type):
        return None
    # `where`, not a filter: only an SQL-bound lookup can use the partial unique index on the key.
    if dedupe_key and pb.find_first("webhook_events", where={"dedupe_key": dedupe_key}):
        return None
    record = {
        "partner": partner_id,
        "type": event_type,
        "profile": profile_id,
        "data": data,
        "dedupe_key": dedupe_key,
    }
    try:
        return pb.create("webhook_events", record)
    except StoreError:
        # Lost a race on the unique dedupe key: the other writer's event stands.
        if dedupe_key and pb.find_first("webhook_events", where={"dedupe_key": dedupe_key}):
            return None
        raise


def has_subscriber(pb: PocketBase, partner_id: str, event_type: str) -> bool:
    """Whether an enabled endpoint of the partner receives ``event_type``: the rule
    ``pb_hooks/lib/outbox.js`` applies to the events it writes (none of the types written here
    feeds the review email, the other reason that file writes an event)."""
    endpoints = pb.find(
        "webhook_endpoints",
        "partner = {:partner} && enabled = true",
        {"partner": partner_id},
        limit=100,
    )
    return any(subscribed(endpoint.get("events"), event_type) for endpoint in endpoints)


def profile_data(profile: dict[str, Any]) -> dict[str, Any]:
    """The thin view of a profile a webhook carries (the same shape the status hook writes)."""
    decision = profile.get("decision") or None
    reasons = profile.get("reasons")
    return {
        "profile_id": profile["id"],
        "external_ref": profile.get("external_ref") or None,
        "status": profile.get("status"),
        "decision": decision,
        "score": profile.get("score") if decision else None,
        "reasons": reasons if isinstance(reasons, list) else [],
    }


def emit_profile_erased(pb: PocketBase, profile: dict[str, Any]) -> dict[str, Any] | None:
    """Announce an erasure (call it in the erasure path, with the record read before erasing).

    The event keeps the ids only: the profile id and the partner's own reference.
    """
    return emit_event(
        pb,
        profile["partner"],
        "profile.erased",
        {
            "profile_id": profile["id"],
            "external_ref": profile.get("external_ref") or None,
            "status": "erased",
        },
        profile_id=profile["id"],
        dedupe_key=f"profile_erased:{profile['id']}",
    )


iso_time = iso  # the event envelope's timestamp: PocketBase's datetime text as ISO 8601


def message_body(event: dict[str, Any]) -> bytes:
    """The JSON body of an event, byte-identical on every attempt (keys sorted)."""
    envelope = {
        "id": event["id"],
        "type": event["type"],
        "timestamp": iso_time(event["created"]),
        "data": event.get("data") or {},
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()


def subscribed(endpoint_events: list[str] | None, event_type: str) -> bool:
    """Whether an endpoint with filter ``endpoint_events`` receives ``event_type``."""
    events = endpoint_events or []
    return ALL_EVENTS in events or event_type in events


def utc_iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with a Z."""
    return moment.isoformat().replace("+00:00", "Z")
