"""One attempt at a claimed delivery: send the signed event, work out what to store (outcome,
retry on the backoff schedule, attempt log), keep the endpoint's health, disable it when due.

Callers store the delivery's record themselves: one update for a single attempt
(``delivery.attempt_delivery``), a batch for the worker's engine (``engine``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
import urllib3

from gateway.errors import NotFound
from gateway.services.audit import append_audit
from gateway.services.pb_time import parse_pb_time, pb_datetime
from gateway.services.webhooks.context import AttemptOutcome, DeliveryContext
from gateway.services.webhooks.endpoints import active_secrets, disable_endpoint
from gateway.services.webhooks.events import ENDPOINT_DISABLED, emit_event, iso_time, message_body
from gateway.services.webhooks.signing import webhook_headers
from gateway.services.webhooks.ssrf import RefusedPeer, UrlRefused, check_url

log = structlog.get_logger("gateway.webhooks")

RESPONSE_KEPT_CHARS = 1000
RESPONSE_READ_BYTES = 8192
ATTEMPT_LOG_KEPT = 60
FAILING_DISABLES_AFTER_S = 24 * 3600
SUCCESS_MARK_EVERY_S = 60
MARKS_KEPT = 10_000


@dataclass(frozen=True)
class Attempt:
    """An attempt made: the delivery fields to store, its outcome, why the endpoint is to be
    disabled (empty: it is not)."""

    record: dict[str, Any]
    outcome: AttemptOutcome
    disabled_reason: str = ""


def attempt(
    ctx: DeliveryContext,
    delivery: dict[str, Any],
    endpoint: dict[str, Any],
    event: dict[str, Any],
    now: datetime,
) -> Attempt:
    """Send a claimed delivery and work out what to store; the delivery itself is not written."""
    status_code, latency_ms, response_text, error = _send(ctx, endpoint, delivery, event)
    succeeded = status_code is not None and 200 <= status_code < 300
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
        _mark_success(ctx, endpoint, now)
    else:
        if status_code == 410:
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
    log.info(
        "webhook_attempt",
        delivery_id=delivery["id"],
        endpoint_id=endpoint["id"],
        partner_id=delivery["partner"],
        event_type=delivery["event_type"],
        status_code=status_code,
        latency_ms=round(latency_ms, 1),
        outcome=record["status"],
        # The kind of error only: its text may quote the URL, whose query may hold a token.
        error=error.split(":", 1)[0] if error else None,
    )
    outcome = AttemptOutcome(
        delivery["id"],
        attempted=True,
        status=record["status"],
        status_code=status_code,
        next_attempt_at=next_attempt,
        endpoint_disabled=bool(disabled_reason),
    )
    return Attempt(record, outcome, disabled_reason)


def after_recorded(ctx: DeliveryContext, endpoint: dict[str, Any], made: Attempt) -> None:
    """What follows the stored attempt: disabling the endpoint when it is due."""
    if made.disabled_reason:
        _disable(ctx, endpoint, made.disabled_reason)


def _claimed_state(ctx: DeliveryContext, endpoint: dict[str, Any]) -> tuple[str, str, str]:
    """The key of ``ctx.endpoint_marks`` for the endpoint as it was claimed."""
    if len(ctx.endpoint_marks) > MARKS_KEPT:
        ctx.endpoint_marks.clear()
    failing, success = endpoint.get("failing_since") or "", endpoint.get("last_success_at") or ""
    return endpoint["id"], failing, success


def _mark_success(ctx: DeliveryContext, endpoint: dict[str, Any], now: datetime) -> None:
    """Clear the endpoint's failure and stamp its last success, once a minute at most (a write
    per delivery would halve throughput)."""
    state = _claimed_state(ctx, endpoint)
    written, _ = ctx.endpoint_marks.get(state, ("", None))
    _, failing, success = state
    if written == "success" or (
        not failing
        and success
        and (now - parse_pb_time(success)).total_seconds() < SUCCESS_MARK_EVERY_S
    ):
        return
    ctx.endpoint_marks[state] = ("success", now)
    ctx.pb.update(
        "webhook_endpoints",
        endpoint["id"],
        {"failing_since": "", "last_success_at": pb_datetime(now)},
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
        response = ctx.http().request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=ctx.timeout_s, read=ctx.timeout_s),
            redirect=False,
            retries=False,
            preload_content=False,
        )
        try:
            raw = response.read(RESPONSE_READ_BYTES, decode_content=True) or b""
        finally:
            response.release_conn()
        text = raw.decode("utf-8", errors="replace")[:RESPONSE_KEPT_CHARS]
        return response.status, (time.monotonic() - started) * 1000, text, None
    except UrlRefused as exc:
        return None, (time.monotonic() - started) * 1000, "", f"refused: {exc.detail}"[:500]
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return None, (time.monotonic() - started) * 1000, "", _error_text(ctx, exc)


def _error_text(ctx: DeliveryContext, exc: Exception) -> str:
    """What the partner sees of a failed connection: its kind first (SSLError, ConnectionError,
    a timeout), the names a requests-based sender gave them before."""
    if isinstance(exc, urllib3.exceptions.SSLError):
        kind = "SSLError"
    elif isinstance(exc, urllib3.exceptions.NewConnectionError | RefusedPeer):
        kind = "ConnectionError"
    elif isinstance(exc, urllib3.exceptions.TimeoutError):
        return f"timeout after {ctx.timeout_s}s"
    elif isinstance(exc, urllib3.exceptions.ProtocolError | OSError):
        kind = "ConnectionError"
    else:
        kind = type(exc).__name__
    return f"{kind}: {str(exc)[:400]}"


def _failing_too_long(ctx: DeliveryContext, endpoint: dict[str, Any], now: datetime) -> str:
    """Record that the endpoint fails; the disable reason once it has failed for 24 h."""
    state = _claimed_state(ctx, endpoint)
    written, at = ctx.endpoint_marks.get(state, ("", None))
    if written == "failing":
        since = at
    elif written == "success" or not state[1]:
        since = None  # not failing, or a success since the claim cleared it
    else:
        since = parse_pb_time(state[1])
    if since is None:
        ctx.endpoint_marks[state] = ("failing", now)
        ctx.pb.update("webhook_endpoints", endpoint["id"], {"failing_since": pb_datetime(now)})
        return ""
    if (now - since).total_seconds() >= FAILING_DISABLES_AFTER_S:
        return "every attempt failed for 24 hours"
    return ""


def _disable(ctx: DeliveryContext, endpoint: dict[str, Any], reason: str) -> None:
    """Disable the endpoint and tell the partner, once: the engine sends up to 16 of an
    endpoint's deliveries at once, and each of their 410s (or 24 h failures) asks for it."""
    try:
        current = ctx.pb.get("webhook_endpoints", endpoint["id"])
    except NotFound:
        return  # deleted meanwhile
    if not current.get("enabled"):
        return  # disabled already: by another of its attempts, another worker or the partner
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
        # One notice per time it was enabled, even when two workers disable it together.
        dedupe_key=f"endpoint_disabled:{endpoint['id']}:{current.get('updated') or ''}",
    )
