"""Huey tasks that deliver webhooks: one attempt per task run, the next attempt scheduled by eta.

The periodic sweeper (``gateway.worker.periodic``) is the safety net: it fans out new outbox
events and re-enqueues every due delivery, so a lost task or a restarted worker delays a webhook
by at most a minute and loses none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.container import Services
from gateway.services import notifications
from gateway.services.webhooks.delivery import (
    DeliveryContext,
    attempt_delivery,
    dispatch_events,
    due_deliveries,
)
from gateway.worker.queue import huey, worker_services

_contexts: dict[int, DeliveryContext] = {}
_lock = threading.Lock()


def delivery_context(services: Services | None = None) -> DeliveryContext:
    """This process's delivery context for ``services`` (one HTTP session, reused)."""
    services = services or worker_services()
    with _lock:
        context = _contexts.get(id(services))
        if context is None:
            context = DeliveryContext(
                pb=services.pb,
                data_key=services.settings.data_key,
                allow_private=services.settings.webhook_allow_private,
                ca_bundle=services.settings.webhook_ca_bundle,
                on_event_dispatched=review_email_hook(services.settings.smtp_url),
            )
            _contexts.clear()  # services were swapped (tests): drop contexts of the old ones
            _contexts[id(services)] = context
        return context


def review_email_hook(smtp_url: str) -> Callable[[dict[str, Any]], None] | None:
    """What the dispatcher calls for each event: queue the review email of a manual_review
    event. None when SMTP is not set."""
    if not smtp_url:
        return None
    notifications.parse_smtp_url(smtp_url)  # a bad URL fails when the worker starts, not per email

    def on_event(event: dict[str, Any]) -> None:
        if notifications.wants_review_email(event):
            send_review_email(event["id"])

    return on_event


def _naive_utc(moment: datetime) -> datetime:
    """Huey keeps etas as naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


@huey.task()
def deliver_webhook(delivery_id: str) -> str:
    """Attempt one delivery; schedule the next attempt when it must be retried."""
    outcome = attempt_delivery(delivery_context(), delivery_id)
    if outcome.next_attempt_at is not None:
        deliver_webhook.schedule((delivery_id,), eta=_naive_utc(outcome.next_attempt_at))
    return outcome.status


# Huey's own retries cover a PocketBase outage during an attempt; the mail server's failures are
# retried on the notifications schedule, as the next attempt.
@huey.task(retries=3, retry_delay=60)
def send_review_email(event_id: str, attempt: int = 1) -> str:
    """One attempt at a review email; schedule the next one when the mail server failed."""
    services = worker_services()
    config = notifications.parse_smtp_url(services.settings.smtp_url)
    retry_at = notifications.attempt_review_email(
        services.pb, config, event_id, attempt, datetime.now(UTC)
    )
    if retry_at is None:
        return "done"
    send_review_email.schedule((event_id, attempt + 1), eta=_naive_utc(retry_at))
    return "retry scheduled"


@huey.task()
def dispatch_webhook_events() -> int:
    """Fan out outbox events to deliveries and enqueue their first attempts."""
    created = dispatch_events(delivery_context())
    for delivery_id in created:
        deliver_webhook(delivery_id)
    return len(created)


def sweep_webhooks() -> dict[str, int]:
    """Fan out new events and enqueue every due delivery (called by the periodic task)."""
    context = delivery_context()
    created = dispatch_events(context)
    due = due_deliveries(context)
    for delivery_id in due:
        deliver_webhook(delivery_id)
    return {"dispatched": len(created), "enqueued": len(due)}
