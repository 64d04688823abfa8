"""Webhook delivery: outbox fan-out, signed attempts, retries with backoff, replay.

Runs in the worker, never in a request. Each attempt is claimed with a lease in PocketBase (one
transaction), so two workers, or the engine and a replay, never send the same attempt twice; every
attempt is recorded on its ``webhook_deliveries`` row. A 2xx ends a delivery, a 410 disables the
endpoint, anything else is retried on an exponential schedule with jitter that spans more than
three days; an endpoint that has failed for 24 hours is disabled and the partner told (event + log
+ audit). The worker sends with ``engine.DeliveryEngine``; this module holds the single-delivery
path (a replay) and the synchronous sweep the CLI and tests use.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from gateway.errors import NotFound, StoreError
from gateway.services.pb_time import pb_datetime
from gateway.services.webhooks.attempts import after_recorded, attempt
from gateway.services.webhooks.context import AttemptOutcome, DeliveryContext, RetryPolicy
from gateway.services.webhooks.engine import (
    DeliveryEngine,
    EngineLimits,
    announce_dispatched,
    work_round,
)

__all__ = [
    "AttemptOutcome",
    "DeliveryContext",
    "RetryPolicy",
    "attempt_delivery",
    "dispatch_events",
    "due_deliveries",
    "sweep",
]


def dispatch_events(ctx: DeliveryContext, limit: int = 1000) -> list[str]:
    """Create the deliveries of every event not yet dispatched; returns the new delivery ids.

    Safe to run twice: a delivery is unique per (event, endpoint). ``limit`` events per round
    trip, as many round trips as the outbox needs.
    """
    created: list[str] = []
    while True:
        work = work_round(ctx, ctx.clock(), dispatch_limit=limit, claim_limit=0)
        created.extend(work["created"])
        announce_dispatched(ctx, work["dispatched"])
        if len(work["dispatched"]) < limit:
            return created


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


def _claim(ctx: DeliveryContext, delivery_id: str) -> dict[str, Any] | None:
    now = ctx.clock()
    response = ctx.pb.request(
        "POST",
        f"/api/ekyc/webhooks/deliveries/{delivery_id}/claim",
        json={
            "now": pb_datetime(now),
            "lease_until": pb_datetime(now + timedelta(seconds=ctx.lease_s())),
        },
    )
    if response.status_code in (404, 409):
        return None
    if response.status_code != 200:
        raise StoreError(f"PocketBase refused a delivery claim: {response.status_code}")
    return response.json()["delivery"]


def attempt_delivery(ctx: DeliveryContext, delivery_id: str) -> AttemptOutcome:
    """Send one attempt of a due delivery and record it; a no-op if it is not due or leased."""
    delivery = _claim(ctx, delivery_id)
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
    made = attempt(ctx, delivery, endpoint, event, ctx.clock())
    try:
        ctx.pb.update("webhook_deliveries", delivery_id, made.record)
    except NotFound:  # the endpoint was deleted during the attempt (its deliveries cascade)
        return AttemptOutcome(
            delivery_id, attempted=True, status="gone", status_code=made.outcome.status_code
        )
    after_recorded(ctx, endpoint, made)
    return made.outcome


def sweep(ctx: DeliveryContext, limits: EngineLimits | None = None) -> dict[str, int]:
    """Fan out new events, then send every due delivery, concurrently, until none is left.

    For the CLI, tests and benches; the worker runs the engine continuously instead.
    """
    engine = DeliveryEngine(ctx, limits)
    try:
        counts: Counter[str] = engine.drain()
    finally:
        engine.close()
    return {
        "dispatched": counts["dispatched"],
        "attempted": counts["attempted"],
        "succeeded": counts["succeeded"],
        "failed": counts["failed"],
    }
