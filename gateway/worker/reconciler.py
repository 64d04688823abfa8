"""The periodic reconciler: a lost enqueue or a killed worker loses no verification.

Every minute it (1) re-enqueues profiles left in ``submitted`` for longer than a grace period
that are not already waiting in the queue, and (2) takes back ``processing`` profiles whose lease
ran out: to ``submitted`` (and re-enqueued) while they have had fewer than the allowed attempts,
then to ``manual_review`` with ``processing_timeout`` so a profile that kills its worker every
time stops doing so. Queries bind their values (``pb.find``) on the (status, lease_until) index.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from huey import crontab

from gateway.container import Services
from gateway.errors import IllegalTransition
from gateway.services.pb_time import pb_datetime
from gateway.worker.queue import huey, worker_services
from gateway.worker.tasks import enqueue_verification

log = structlog.get_logger("gateway.reconciler")

ACTOR = "system"

# A profile submitted this recently may still be on its way through a healthy queue.
SUBMITTED_GRACE_S = 60
BATCH_LIMIT = 200


def max_attempts(services: Services) -> int:
    """How many claims a profile gets before it goes to a person (setting, default 3)."""
    return services.settings.max_processing_attempts


def queued_profile_ids() -> set[str]:
    """Profiles with a verification already waiting (queued or scheduled for a retry)."""
    ids = set()
    for task in [*huey.pending(), *huey.scheduled()]:
        if task.name.endswith("verify_profile") and task.args:
            ids.add(str(task.args[0]))
    return ids


def reconcile_once(
    services: Services,
    *,
    now: datetime | None = None,
    grace_s: int = SUBMITTED_GRACE_S,
    limit: int = BATCH_LIMIT,
    partner_id: str | None = None,
) -> dict[str, list[str]]:
    """One pass; returns the profile ids it re-enqueued, released and timed out.

    `partner_id` limits the pass to one partner (an operator's targeted run, and tests that
    share a PocketBase).
    """
    pb = services.pb
    now = now or datetime.now(UTC)
    outcome: dict[str, list[str]] = {"reenqueued": [], "released": [], "timed_out": []}
    waiting = queued_profile_ids()
    scope, scope_params = (
        ("", {})
        if partner_id is None
        else (
            " && partner = {:partner}",
            {"partner": partner_id},
        )
    )

    expired = pb.find(
        "profiles",
        "status = 'processing' && lease_until != '' && lease_until < {:now}" + scope,
        {"now": pb_datetime(now), **scope_params},
        sort="lease_until",
        limit=limit,
    )
    for profile in expired:
        attempts = int(profile.get("processing_attempts") or 0)
        if attempts >= max_attempts(services):
            if _move(
                services,
                profile,
                "manual_review",
                "processing_timeout",
                {
                    "decision": "",
                    "score": None,
                    "reasons": [f"processing_timeout: no worker finished in {attempts} attempts"],
                },
            ):
                outcome["timed_out"].append(profile["id"])
        elif _move(services, profile, "submitted", "lease expired", {}):
            outcome["released"].append(profile["id"])
            enqueue_verification(profile["id"])
            waiting.add(profile["id"])

    stale = pb.find(
        "profiles",
        "status = 'submitted' && updated < {:cutoff}" + scope,
        {"cutoff": pb_datetime(now - timedelta(seconds=grace_s)), **scope_params},
        sort="updated",
        limit=limit,
    )
    for profile in stale:
        if profile["id"] in waiting:
            continue
        enqueue_verification(profile["id"])
        outcome["reenqueued"].append(profile["id"])
    if any(outcome.values()):
        log.info("reconciled", **{name: len(ids) for name, ids in outcome.items()})
    return outcome


def _move(
    services: Services, profile: dict[str, Any], to_status: str, reason: str, extra: dict
) -> bool:
    try:
        services.pb.transition(
            profile["id"],
            to_status,
            actor=ACTOR,
            reason=reason,
            expected_from=["processing"],
            set_fields={"lease_until": "", **extra},
        )
    except IllegalTransition:
        return False  # the worker finished (or another reconciler acted) in the meantime
    return True


@huey.periodic_task(crontab(minute="*"))
def reconcile() -> dict[str, list[str]]:
    """Every minute: recover lost enqueues and killed workers."""
    return reconcile_once(worker_services())
