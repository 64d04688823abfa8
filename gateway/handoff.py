"""How the web app hands work to the worker: enqueue a verification, wake a webhook delivery.

Imported lazily: opening the queue creates its SQLite file, which an app that never enqueues (a
test, the CLI) should not do at import time. Losing either message loses nothing: the reconciler
re-enqueues profiles left in ``submitted`` and the sweeper sends due deliveries every minute.
"""

from __future__ import annotations

import structlog

log = structlog.get_logger("gateway.handoff")
READY_TIMEOUT_S = 2.0


def enqueue_verification(profile_id: str) -> None:
    """Queue a submitted profile's verification, with the id of the request that queued it (the
    job's log lines carry it, so one id follows a submit into the worker)."""
    from gateway.worker.tasks import enqueue_verification as enqueue

    enqueue(profile_id, request_id=structlog.contextvars.get_contextvars().get("request_id"))


def enqueue_delivery(delivery_id: str) -> None:
    """Wake the worker for one delivery; a failure is logged, never raised."""
    try:
        from gateway.worker.webhook_tasks import deliver_webhook

        deliver_webhook(delivery_id)
    except Exception:
        log.warning("webhook_enqueue_failed", delivery_id=delivery_id, exc_info=True)


def redis_answers(redis_url: str) -> bool:
    """Whether the Redis of ``REDIS_URL`` answers a PING. It holds the queue and the rate-limit
    counts, so without it no partner route can answer."""
    import redis

    client = redis.Redis.from_url(
        redis_url, socket_connect_timeout=READY_TIMEOUT_S, socket_timeout=READY_TIMEOUT_S
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
