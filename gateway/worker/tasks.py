"""The verification task: Huey's wiring around ``verification_job.run_verification``.

Retries are Huey's: a transient store error re-raised by the job is retried with exponential
backoff (10 s, 30 s, 90 s: long enough for PocketBase to restart); the job itself decides what
counts as transient and what happens when retries are exhausted.
"""

from __future__ import annotations

import time

import structlog
from huey.api import Task

from gateway.worker.intake_tasks import after_decision
from gateway.worker.queue import huey, worker_services
from gateway.worker.verification_job import run_verification
from gateway.worker.webhook_tasks import dispatch_webhook_events

log = structlog.get_logger("gateway.worker")

RETRIES = 3
RETRY_DELAY_S = 10
RETRY_BACKOFF = 3


@huey.on_startup()
def warm_models() -> None:
    """Load the face models once per worker process, before the first job pays for it."""
    from gateway.verification.faces.recognition import get_face_models

    started = time.perf_counter()
    get_face_models()
    log.info("face_models_loaded", load_ms=round((time.perf_counter() - started) * 1e3))


@huey.task(retries=RETRIES, retry_delay=RETRY_DELAY_S, retry_backoff=RETRY_BACKOFF, context=True)
def verify_profile(
    profile_id: str, request_id: str | None = None, task: Task | None = None
) -> str | None:
    """Verify one submitted profile; returns the status it ended in, or None if not ours.

    ``request_id`` is that of the request that queued the job (none for the reconciler's
    re-enqueues), bound for the job's log lines.
    """
    retries_left = task.retries if task is not None else 0
    bound = {"request_id": request_id} if request_id else {}
    with structlog.contextvars.bound_contextvars(**bound):
        return run_verification(
            worker_services(),
            profile_id,
            retries_left=retries_left,
            on_decided=lambda: _decided(profile_id),
        )


def _decided(profile_id: str) -> None:
    """The outcome is stored: deliver its webhooks now rather than at the next minute's sweep
    (which still finds them if this fails), and write a KYC Service result to its PostgreSQL."""
    try:
        dispatch_webhook_events()
    finally:
        after_decision(profile_id)


def enqueue_verification(profile_id: str, request_id: str | None = None) -> None:
    """Queue the verification of a submitted profile (``request_id``: the queuing request's).

    Losing this enqueue loses nothing: the reconciler re-enqueues profiles left in ``submitted``.
    """
    verify_profile(profile_id, request_id=request_id)
