"""Webhook delivery: outbox fan-out, signed attempts, retries with backoff, replay.

Runs in the worker, never in a request. Each attempt is claimed with a lease in PocketBase (one
transaction), so the sweeper and a scheduled retry never send the same attempt twice; every attempt
is recorded on its ``webhook_deliveries`` row. A 2xx ends a delivery, a 410 disables the endpoint,
anything else is retried on an exponential schedule with jitter that spans more than three days;
an endpoint that has failed for 24 hours is disabled and the partner told (event + log + audit).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import structlog

from gateway.errors import NotFound, StoreError, UrlRefused
from gateway.services.audit import append_audit
from gateway.services.pb_time import parse_pb_time, pb_datetime
from gateway.services.pocketbase import PocketBase
from gateway.services.webhooks.endpoints import active_secrets, disable_endpoint
from gateway.services.webhooks.events import (
    ENDPOINT_DISABLED,
    emit_event,
    iso_time,
    message_body,
    subscribed,
)
from gateway.services.webhooks.signing import webhook_headers
from gateway.services.webhooks.ssrf import check_url, guarded_session

log = structlog.get_logger("gateway.webhooks")

TIMEOUT_S = 10.0
RESPONSE_KEPT_CHARS = 1000
RESPONSE_READ_BYTES = 8192
ATTEMPT_LOG_KEPT = 60
FAILING_DISABLES_AFTER_S = 24 * 3600
LEASE_MARGIN_S = 30
SUCCESS_MARK_EVERY_S = 60


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``base * factor**step`` capped, stretched by up to
    ``jitter`` (never shortened, so the schedule never spans less than its nominal total)."""

    base_delay_s: float = 60.0
    factor: float = 3.0
    max_delay_s: float = 12 * 3600.0
    max_retries: int = 12
    jitter: float = 0.2

    def nominal_delay_s(self, step: int) -> float:
        """Delay before retry number ``step + 1``, before jitter."""
        return min(self.base_delay_s * self.factor**step, self.max_delay_s)

    def delay_s(self, step: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``step + 1``, with jitter."""
        return self.nominal_delay_s(step) * (1.0 + (rng or random).uniform(0.0, self.jitter))

    def nominal_span_s(self) -> float:
        """Time from the first attempt to the last retry, before jitter."""
        return sum(self.nominal_delay_s(step) for step in range(self.max_retries))


@dataclass
class DeliveryContext:
    """What delivering needs: the store, the key that opens secrets, the SSRF policy, a clock."""

    pb: PocketBase
    data_key: str
    allow_private: bool = False
    ca_bundle: str = ""
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = TIMEOUT_S
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    on_event_dispatched: Callable[[dict[str, Any]], None] | None = None
    rng: random.Random = field(default_factory=random.Random)
    session: requests.Session | None = None

    def http(self) -> requests.Session:
        """The guarded session (built on first use)."""
        if self.session is None:
            self.session = guarded_session(self.allow_private, self.ca_bundle)
        return self.session

    def close(self) -> None:
        """Close the HTTP session."""
        if self.session is not None:
            self.session.close()
            self.session = None


@dataclass(frozen=True)
class AttemptOutcome:
    """What one call of ``attempt_delivery`` did."""

    delivery_id: str
    attempted: bool
    status: str
    status_code: int | None = None
    next_attempt_at: datetime | None = None
    endpoint_disabled: bool = False


# -- fan-out -------------------------------------------------------------------------------------


def dispatch_events(ctx: DeliveryContext, limit: int = 500, max_batches: int = 10) -> list[str]:
    """Create the deliveries of events not yet dispatched; returns the new delivery ids.

    Safe to run twice: a delivery is unique per (event, endpoint). Works through up to
    ``max_batches`` pages of ``limit`` events, so a backlog drains within a few sweeps.
    """
    now = ctx.clock()
    created: list[str] = []
    endpoints_by_partner: dict[str, list[dict[str, Any]]] = {}
    for _ in range(max_batches):
        # `where`, not the filter `dispatched_at = ''`: PocketBase compiles that filter to
        # `(dispatched_at = '' OR dispatched_at IS NULL)`, which no index serves, so every sweep
        # scanned the whole (ever-growing) outbox.
        events = ctx.pb.find(
            "webhook_events", where={"dispatched_at": ""}, sort="@rowid", limit=limit
        )
        for event in events:
            created.extend(_dispatch_one(ctx, event, endpoints_by_partner, now))
        if len(events) < limit:
            break
    return created


def _dispatch_one(
    ctx: DeliveryContext,
    event: dict[str, Any],
    endpoints_by_partner: dict[str, list[dict[str, Any]]],
    now: datetime,
) -> list[str]:
    partner_id = event["partner"]
    if partner_id not in endpoints_by_partner:
        endpoints_by_partner[partner_id] = ctx.pb.find(
            "webhook_endpoints",
            "partner = {:partner} && enabled = true",
            {"partner": partner_id},
            limit=100,
        )
    created: list[str] = []
    for endpoint in endpoints_by_partner[partner_id]:
        if not subscribed(endpoint.get("events"), event["type"]):
            continue
        delivery = _create_delivery(ctx.pb, event, endpoint, now)
        if delivery is not None:
            created.append(delivery["id"])
    if ctx.on_event_dispatched is not None:
        try:
            ctx.on_event_dispatched(event)
        except Exception:  # a notification must never hold back webhooks
            log.exception("event_side_effect_failed", event_id=event["id"], type=event["type"])
    ctx.pb.update("webhook_events", event["id"], {"dispatched_at": pb_datetime(now)})
    return created


def _create_delivery(
    pb: PocketBase, event: dict[str, Any], endpoint: dict[str, Any], now: datetime
) -> dict[str, Any] | None:
    try:
        return pb.create(
            "webhook_deliveries",
            {
                "partner": event["partner"],
                "endpoint": endpoint["id"],
                "event": event["id"],
                "event_type": event["type"],
                "message_id": f"msg_{event['id']}",
                "status": "pending",
                "attempts": 0,
                "retry_step": 0,
                "next_attempt_at": pb_datetime(now),
                "attempt_log": [],
            },
        )
    except StoreError:
        existing = pb.find_first(
            "webhook_deliveries",
            "event = {:event} && endpoint = {:endpoint}",
            {"event": event["id"], "endpoint": endpoint["id"]},
        )
        if existing is not None:
            return None  # dispatched before a crash: the delivery already exists
        raise


# -- attempts ------------------------------------------------------------------------------------


def due_deliveries(ctx: DeliveryContext, limit: int = 1000) -> list[str]:
    """Ids of pending deliveries whose next attempt is due."""
    rows = ctx.pb.find(
        "webhook_deliveries",
        "status = 'pending' && next_attempt_at <= {:now}",
        {"now": pb_datetime(ctx.clock())},
        sort="next_attempt_at",
        limit=limit,
    )
    return [row["id"] for row in rows]


def _claim(ctx: DeliveryContext, delivery_id: str, now: datetime) -> dict[str, Any] | None:
    lease_until = now + timedelta(seconds=ctx.timeout_s * 2 + LEASE_MARGIN_S)
    response = ctx.pb.request(
        "POST",
        f"/api/ekyc/webhooks/deliveries/{delivery_id}/claim",
        json={"now": pb_datetime(now), "lease_until": pb_datetime(lease_until)},
    )
    if response.status_code in (404, 409):
        return None
    if response.status_code != 200:
        raise StoreError(f"PocketBase refused a delivery claim: {response.status_code}")
    return response.json()["delivery"]


def attempt_delivery(ctx: DeliveryContext, delivery_id: str) -> AttemptOutcome:
    """Send one attempt of a due delivery and record it; a no-op if it is not due or leased."""
    now = ctx.clock()
    delivery = _claim(ctx, delivery_id, now)
    if delivery is None:
        return AttemptOutcome(delivery_id, attempted=False, status="not_due")
    try:
        endpoint = ctx.pb.get("webhook_endpoints", delivery["endpoint"])
        event = ctx.pb.get("webhook_events", delivery["event"])
    except NotFound:
        return AttemptOutcome(delivery_id, attempted=False, status="gone")
    if not endpoint.get("enabled"):
        ctx.pb.update(
            "webhook_deliveries",
            delivery_id,
            {"status": "failed", "lease_until": "", "last_error": "endpoint disabled"},
        )
        return AttemptOutcome(delivery_id, attempted=False, status="failed")

    status_code, latency_ms, response_text, error = _send(ctx, endpoint, delivery, event)
    try:
        return _record_attempt(
            ctx, delivery, endpoint, now, status_code, latency_ms, response_text, error
        )
    except NotFound:  # the endpoint was deleted during the attempt (its deliveries cascade)
        return AttemptOutcome(delivery_id, attempted=True, status="gone", status_code=status_code)


def _record_attempt(
    ctx: DeliveryContext,
    delivery: dict[str, Any],
    endpoint: dict[str, Any],
    now: datetime,
    status_code: int | None,
    latency_ms: float,
    response_text: str,
    error: str | None,
) -> AttemptOutcome:
    """Store the attempt's outcome, schedule the retry, disable the endpoint when due."""
    delivery_id = delivery["id"]
    succeeded = status_code is not None and 200 <= status_code < 300
    gone = status_code == 410
    record: dict[str, Any] = {
        "attempts": int(delivery.get("attempts") or 0) + 1,
        "last_status_code": status_code or 0,
        "last_latency_ms": round(latency_ms, 1),
        "last_response": response_text,
        "last_error": error or "",
        "lease_until": "",
    }
    next_attempt: datetime | None = None
    disabled_reason = ""
    if succeeded:
        record.update(status="succeeded", delivered_at=pb_datetime(now), next_attempt_at="")
        last_success = endpoint.get("last_success_at")
        if (
            endpoint.get("failing_since")
            or not last_success
            or (now - parse_pb_time(last_success)).total_seconds() >= SUCCESS_MARK_EVERY_S
        ):
            # One endpoint write a minute at most: a write per delivery would halve throughput.
            ctx.pb.update(
                "webhook_endpoints",
                endpoint["id"],
                {"failing_since": "", "last_success_at": pb_datetime(now)},
            )
    else:
        if gone:
            disabled_reason = "the receiver answered 410 Gone"
        else:
            disabled_reason = _failing_too_long(ctx, endpoint, now)
        step = int(delivery.get("retry_step") or 0)
        if disabled_reason or step >= ctx.policy.max_retries:
            record.update(status="failed", next_attempt_at="")
        else:
            next_attempt = now + timedelta(seconds=ctx.policy.delay_s(step, ctx.rng))
            record.update(
                status="pending", retry_step=step + 1, next_attempt_at=pb_datetime(next_attempt)
            )
    entry = {
        "at": iso_time(pb_datetime(now)),
        "status_code": status_code,
        "latency_ms": round(latency_ms, 1),
        "response": response_text[:200],
        "error": error,
        "next_attempt_at": iso_time(pb_datetime(next_attempt)) if next_attempt else None,
    }
    record["attempt_log"] = [*(delivery.get("attempt_log") or []), entry][-ATTEMPT_LOG_KEPT:]
    ctx.pb.update("webhook_deliveries", delivery_id, record)
    log.info(
        "webhook_attempt",
        delivery_id=delivery_id,
        endpoint_id=endpoint["id"],
        partner_id=delivery["partner"],
        event_type=delivery["event_type"],
        status_code=status_code,
        latency_ms=round(latency_ms, 1),
        outcome=record["status"],
        # The kind of error only: its text may quote the URL, whose query may hold a token.
        error=error.split(":", 1)[0] if error else None,
    )
    if disabled_reason:
        _disable(ctx, endpoint, disabled_reason)
    return AttemptOutcome(
        delivery_id,
        attempted=True,
        status=record["status"],
        status_code=status_code,
        next_attempt_at=next_attempt,
        endpoint_disabled=bool(disabled_reason),
    )


def _send(
    ctx: DeliveryContext, endpoint: dict[str, Any], delivery: dict[str, Any], event: dict[str, Any]
) -> tuple[int | None, float, str, str | None]:
    """POST the signed event: ``(status code, latency ms, response text, error)``."""
    body = message_body(event)
    secrets_in_use = active_secrets(ctx.data_key, endpoint, ctx.clock())
    headers = webhook_headers(secrets_in_use, delivery["message_id"], int(time.time()), body)
    headers["user-agent"] = "ekyc-gateway-webhooks/1"
    started = time.monotonic()
    try:
        url = check_url(endpoint["url"], allow_private=ctx.allow_private)
        with ctx.http().post(
            url,
            data=body,
            headers=headers,
            timeout=(ctx.timeout_s, ctx.timeout_s),
            allow_redirects=False,
            stream=True,
        ) as response:
            raw = response.raw.read(RESPONSE_READ_BYTES, decode_content=True) or b""
            text = raw.decode("utf-8", errors="replace")[:RESPONSE_KEPT_CHARS]
            return response.status_code, (time.monotonic() - started) * 1000, text, None
    except UrlRefused as exc:
        return None, (time.monotonic() - started) * 1000, "", f"refused: {exc.detail}"[:500]
    except requests.Timeout:
        return None, (time.monotonic() - started) * 1000, "", f"timeout after {ctx.timeout_s}s"
    except requests.RequestException as exc:
        return (
            None,
            (time.monotonic() - started) * 1000,
            "",
            type(exc).__name__ + ": " + str(exc)[:400],
        )


def _failing_too_long(ctx: DeliveryContext, endpoint: dict[str, Any], now: datetime) -> str:
    """Record that the endpoint fails; the disable reason once it has failed for 24 h."""
    since = endpoint.get("failing_since")
    if not since:
        ctx.pb.update("webhook_endpoints", endpoint["id"], {"failing_since": pb_datetime(now)})
        return ""
    if (now - parse_pb_time(since)).total_seconds() >= FAILING_DISABLES_AFTER_S:
        return "every attempt failed for 24 hours"
    return ""


def _disable(ctx: DeliveryContext, endpoint: dict[str, Any], reason: str) -> None:
    disable_endpoint(ctx.pb, endpoint["id"], reason)
    log.warning(
        "webhook_endpoint_disabled",
        endpoint_id=endpoint["id"],
        partner_id=endpoint["partner"],
        reason=reason,
    )
    append_audit(
        ctx.pb,
        "system",
        "webhook.endpoint_disabled",
        endpoint["id"],
        {"partner": endpoint["partner"], "reason": reason},
    )
    emit_event(
        ctx.pb,
        endpoint["partner"],
        ENDPOINT_DISABLED,
        {"endpoint_id": endpoint["id"], "reason": reason},
    )


def sweep(ctx: DeliveryContext, limit: int = 1000) -> dict[str, int]:
    """Fan out new events, then attempt every due delivery in this process, one after another.

    For the CLI and tests; the worker enqueues each attempt as its own task instead.
    """
    created = dispatch_events(ctx)
    counts = {"dispatched": len(created), "attempted": 0, "succeeded": 0, "failed": 0}
    for delivery_id in due_deliveries(ctx, limit=limit):
        outcome = attempt_delivery(ctx, delivery_id)
        if outcome.attempted:
            counts["attempted"] += 1
            if outcome.status == "succeeded":
                counts["succeeded"] += 1
            elif outcome.status == "failed":
                counts["failed"] += 1
    return counts
