"""How the web app hands work to the worker: enqueue a verification, wake a webhook delivery.

Imported lazily: opening the queue creates its SQLite file, which an app that never enqueues (a
test, the CLI) should not do at import time. Losing either message loses nothing: the reconciler
re-enqueues profiles left in ``submitted`` and the sweeper sends due deliveries every minute.
"""

from __future__ import annotations

import structlog

log = structlog.get_logger("gateway.handoff")


def enqueue_verification(profile_id: str) -> None:
    """Queue a submitted profile's verification."""
    from gateway.worker.tasks import enqueue_verification as enqueue

    enqueue(profile_id)


def enqueue_delivery(delivery_id: str) -> None:
    """Wake the worker for one delivery; a failure is logged, never raised."""
    try:
        from gateway.worker.webhook_tasks import deliver_webhook

        deliver_webhook(delivery_id)
    except Exception:
        log.warning("webhook_enqueue_failed", delivery_id=delivery_id, exc_info=True)
