"""Webhook endpoints and their signing secrets.

A secret is shown once, when it is made, and kept encrypted with the gateway's data key (the worker
must sign with it, so a hash would not do). A rotation adds a new secret and keeps the previous one
for an overlap period; during the overlap both signatures are sent, so the partner can switch
its receiver to the new secret at its own pace.

Rotations can follow each other faster than the overlap runs out (a partner's script in a loop).
The set of secrets is bounded so that a rotation never fails on the stored field's size: the
newest ``MAX_SIGNING_SECRETS`` are kept and older ones still in their overlap are retired at once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.errors import ValidationFailed
from gateway.services import crypto
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase
from gateway.services.webhooks.events import ALL_EVENTS, EVENT_TYPES, iso_time
from gateway.services.webhooks.signing import generate_secret
from gateway.services.webhooks.ssrf import check_url

ROTATION_OVERLAP_S = 24 * 3600
# The longest an old secret keeps signing after a rotation, for every caller (API and CLI).
MAX_ROTATION_OVERLAP_S = 7 * 86_400
MAX_ENDPOINTS_PER_PARTNER = 20
# The new secret plus three still in overlap. One sealed entry is ~200 characters, so four stay
# far under PocketBase's 4,000-character text field that the probe's 18th rotation overflowed;
# and a receiver checks at most four signatures per delivery.
MAX_SIGNING_SECRETS = 4


def validate_events(events: Any) -> list[str]:
    """A de-duplicated event filter: known event names, or ``["*"]``."""
    if not isinstance(events, list) or not events:
        raise ValidationFailed(
            'events must be a non-empty list of event names or ["*"]',
            errors={"events": ["must be a non-empty list"]},
        )
    unknown = [name for name in events if name != ALL_EVENTS and name not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"Unknown events: {', '.join(map(str, unknown))}",
            errors={"events": [f"unknown: {name}" for name in unknown]},
        )
    if ALL_EVENTS in events:
        return [ALL_EVENTS]
    return sorted(set(events))


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _seal(data_key: str, entries: list[dict[str, Any]]) -> str:
    return crypto.encrypt_text(data_key, json.dumps(entries))


def _unseal(data_key: str, sealed: str) -> list[dict[str, Any]]:
    return json.loads(crypto.decrypt_text(data_key, sealed)) if sealed else []


def active_secrets(
    data_key: str, endpoint: dict[str, Any], now: datetime | None = None
) -> list[str]:
    """The secrets to sign with now, newest first (two during a rotation's overlap)."""
    moment = _now(now)
    entries = _unseal(data_key, endpoint.get("signing_secrets") or "")
    live = [
        entry
        for entry in entries
        if not entry.get("expires_at") or datetime.fromisoformat(entry["expires_at"]) > moment
    ]
    live.sort(key=lambda entry: entry["created"], reverse=True)
    return [entry["secret"] for entry in live]


def endpoint_view(record: dict[str, Any]) -> dict[str, Any]:
    """An endpoint as the API shows it (never its secrets)."""
    return {
        "id": record["id"],
        "url": record["url"],
        "description": record.get("description") or None,
        "events": record.get("events") or [],
        "enabled": bool(record.get("enabled")),
        "disabled_reason": record.get("disabled_reason") or None,
        "failing_since": iso_time(record["failing_since"]) if record.get("failing_since") else None,
        "created": iso_time(record["created"]),
        "updated": iso_time(record["updated"]),
    }


def create_endpoint(
    pb: PocketBase,
    data_key: str,
    partner_id: str,
    url: str,
    events: list[str],
    *,
    allow_private: bool,
    description: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Register an endpoint; the view includes ``secret``, the only time it is shown."""
    checked_url = check_url(url, allow_private=allow_private)
    event_filter = validate_events(events)
    existing = pb.find(
        "webhook_endpoints",
        "partner = {:partner}",
        {"partner": partner_id},
        limit=MAX_ENDPOINTS_PER_PARTNER + 1,
    )
    if len(existing) >= MAX_ENDPOINTS_PER_PARTNER:
        raise ValidationFailed(f"At most {MAX_ENDPOINTS_PER_PARTNER} endpoints per partner")
    secret = generate_secret()
    record = pb.create(
        "webhook_endpoints",
        {
            "partner": partner_id,
            "url": checked_url,
            "description": description,
            "events": event_filter,
            "enabled": True,
            "signing_secrets": _seal(
                data_key, [{"secret": secret, "created": _now(now).isoformat(), "expires_at": None}]
            ),
        },
    )
    return {**endpoint_view(record), "secret": secret}


def load_endpoint(pb: PocketBase, partner_id: str | None, endpoint_id: str) -> dict[str, Any]:
    """The raw endpoint if it belongs to ``partner_id`` (None: the operator, any partner)."""
    return pb.get_owned("webhook_endpoints", endpoint_id, partner_id, "webhook endpoint")


def list_endpoints(pb: PocketBase, partner_id: str) -> list[dict[str, Any]]:
    """A partner's endpoints, oldest first."""
    rows = pb.find(
        "webhook_endpoints", "partner = {:partner}", {"partner": partner_id}, sort="@rowid"
    )
    return [endpoint_view(row) for row in rows]


def update_endpoint(
    pb: PocketBase,
    partner_id: str | None,
    endpoint_id: str,
    changes: dict[str, Any],
    *,
    allow_private: bool,
) -> dict[str, Any]:
    """Change url, events, description or enabled; re-enabling clears the failure record."""
    record = load_endpoint(pb, partner_id, endpoint_id)
    patch: dict[str, Any] = {}
    if "url" in changes:
        patch["url"] = check_url(changes["url"], allow_private=allow_private)
    if "events" in changes:
        patch["events"] = validate_events(changes["events"])
    if "description" in changes:
        patch["description"] = changes["description"] or ""
    if "enabled" in changes:
        patch["enabled"] = bool(changes["enabled"])
        if patch["enabled"]:
            patch["disabled_reason"] = ""
            patch["failing_since"] = ""
        else:
            patch["disabled_reason"] = "disabled by the partner"
    if not patch:
        return endpoint_view(record)
    return endpoint_view(pb.update("webhook_endpoints", record["id"], patch))


def delete_endpoint(pb: PocketBase, partner_id: str | None, endpoint_id: str) -> None:
    """Remove an endpoint and (by cascade) its deliveries."""
    record = load_endpoint(pb, partner_id, endpoint_id)
    pb.delete("webhook_endpoints", record["id"])


def rotate_secret(
    pb: PocketBase,
    data_key: str,
    partner_id: str | None,
    endpoint_id: str,
    *,
    overlap_s: int = ROTATION_OVERLAP_S,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Add a new secret (shown once); the current one keeps signing for ``overlap_s``.

    At most ``MAX_SIGNING_SECRETS`` are kept, newest first: a rotation never fails for the
    number of earlier rotations.
    """
    if not 0 <= overlap_s <= MAX_ROTATION_OVERLAP_S:
        raise ValidationFailed(
            f"overlap_s must be from 0 to {MAX_ROTATION_OVERLAP_S} seconds (7 days)",
            errors={"overlap_s": [f"from 0 to {MAX_ROTATION_OVERLAP_S}"]},
        )
    record = load_endpoint(pb, partner_id, endpoint_id)
    moment = _now(now)
    previous_expires = moment + timedelta(seconds=overlap_s)
    kept = []
    for entry in _unseal(data_key, record.get("signing_secrets") or ""):
        expires = datetime.fromisoformat(entry["expires_at"]) if entry.get("expires_at") else None
        if expires is not None and expires <= moment:
            continue  # long expired: drop it
        if expires is None or expires > previous_expires:
            entry["expires_at"] = previous_expires.isoformat()
        kept.append(entry)
    secret = generate_secret()
    kept.append({"secret": secret, "created": moment.isoformat(), "expires_at": None})
    kept.sort(key=lambda entry: entry["created"], reverse=True)
    kept = kept[:MAX_SIGNING_SECRETS]  # the oldest overlapping secrets are retired
    pb.update("webhook_endpoints", record["id"], {"signing_secrets": _seal(data_key, kept)})
    return {
        "id": record["id"],
        "secret": secret,
        "previous_secrets_expire_at": pb_datetime(previous_expires).replace(" ", "T", 1),
    }


def disable_endpoint(pb: PocketBase, endpoint_id: str, reason: str) -> dict[str, Any]:
    """Stop deliveries to an endpoint (the worker's 410 and 24 h-failure rules, or the operator)."""
    return pb.update(
        "webhook_endpoints", endpoint_id, {"enabled": False, "disabled_reason": reason[:300]}
    )
