"""Huey tasks that deliver webhooks: one attempt per task run, the next attempt scheduled by eta.

The periodic sweeper (``gateway.worker.periodic``) is the safety net: it fans out new outbox
events and re-enqueues every due delivery, so a lost task or a restarted worker delays a webhook
by at most a minute and loses none.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from gateway.container import Services
from gateway.services import notifications
from gateway.services.webhooks.delivery import (
    DeliveryContext,
    attempt_delivery,
    dispatch_events,
    due_deliveries,
)
from gateway.worker.app import huey, worker_services

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
                on_event_dispatched=notifications.review_notifier(
                    services.pb, services.settings.smtp_url
                ),
            )
            _contexts.clear()  # services were swapped (tests): drop contexts of the old ones
            _contexts[id(services)] = context
        return context


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
