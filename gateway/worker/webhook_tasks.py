"""Webhook work in the worker: the delivery engine the consumer runs, and the Huey tasks around it.

The engine (``start_delivery_engine``, in the consumer's main process) fans out outbox events and
sends every due delivery, retries included, within half a second. The tasks are small: a fan-out
right after the worker's own decision, one attempt when a partner replays a delivery, the review
emails, and the periodic fan-out (``gateway.worker.periodic``) as the safety net.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.container import Services
from gateway.services import notifications
from gateway.services.webhooks.context import DeliveryContext
from gateway.services.webhooks.delivery import attempt_delivery, dispatch_events
from gateway.services.webhooks.engine import DeliveryEngine, EngineLimits
from gateway.settings import Settings
from gateway.worker.queue import huey, worker_services

# An idle engine asks PocketBase for work this often: the longest a webhook waits to leave.
POLL_INTERVAL_S = 0.5

_contexts: dict[int, DeliveryContext] = {}
_lock = threading.Lock()


def delivery_context(services: Services | None = None) -> DeliveryContext:
    """This process's delivery context for ``services`` (one HTTP session, reused)."""
    services = services or worker_services()
    with _lock:
        context = _contexts.get(id(services))
        if context is None:
            context = _new_context(services)
            _contexts.clear()  # services were swapped (tests): drop contexts of the old ones
            _contexts[id(services)] = context
        return context


def _new_context(services: Services) -> DeliveryContext:
    settings = services.settings
    return DeliveryContext(
        pb=services.pb,
        data_key=settings.data_key,
        allow_private=settings.webhook_allow_private,
        ca_bundle=settings.webhook_ca_bundle,
        on_event_dispatched=review_email_hook(settings.smtp_url),
    )


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
    """Attempt one delivery now (a replay); the engine sends its retries when they are due."""
    return attempt_delivery(delivery_context(), delivery_id).status


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
    """Fan out outbox events to deliveries (the engine sends them); the deliveries created."""
    return len(dispatch_events(delivery_context()))


def sweep_webhooks() -> dict[str, int]:
    """Fan out what the engine has not (called by the periodic task)."""
    return {"dispatched": len(dispatch_events(delivery_context()))}


def start_delivery_engine(services: Services | None = None) -> threading.Event:
    """Run the delivery engine in a daemon thread of this process; set the event to stop it.

    Without ``services``, the engine builds its own: the consumer forks its worker processes
    after this, and they must not inherit (and share) the engine's PocketBase connections.
    """
    services = services or Services.build(Settings.from_env())
    settings = services.settings
    engine = DeliveryEngine(
        _new_context(services),
        EngineLimits(
            concurrency=settings.webhook_concurrency,
            per_endpoint=settings.webhook_endpoint_concurrency,
        ),
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=engine.run, args=(stop, POLL_INTERVAL_S), name="webhook-engine", daemon=True
    )
    thread.start()
    return stop
