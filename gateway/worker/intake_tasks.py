"""The worker's side of the KYC Service intake: its result written to PostgreSQL (the watchdog
is in ``periodic``).

``after_decision`` runs once a verification's outcome is stored (the verification task's
``on_decided``): it writes the KYC Service's row at once, and when PostgreSQL does not take the
write it queues ``write_kyc_result``, which Huey retries with backoff (5 s, 10 s, 20 s ... about
10 minutes in all). The decision itself is already safe in PocketBase, so a retry re-reads the
profile and writes the same result; writing it twice is harmless (the same UPDATE).
"""

from __future__ import annotations

import structlog

from gateway.errors import StoreUnavailable
from gateway.services.result_sink import ResultSinkUnavailable
from gateway.worker.queue import huey, worker_services

log = structlog.get_logger("gateway.worker")

SINK_RETRIES = 7
SINK_RETRY_DELAY_S = 5
SINK_RETRY_BACKOFF = 2


def write_result_now(profile_id: str) -> bool:
    """Write the profile's result if it is a KYC Service one and a sink is configured.

    Raises ``ResultSinkUnavailable`` when PostgreSQL did not take it.
    """
    services = worker_services()
    if services.result_sink is None:
        return False
    profile = services.pb.get("profiles", profile_id)
    if not services.kyc_intake.owns(profile):  # not another partner's look-alike metadata
        return False
    return services.result_sink.write(profile)


@huey.task(retries=SINK_RETRIES, retry_delay=SINK_RETRY_DELAY_S, retry_backoff=SINK_RETRY_BACKOFF)
def write_kyc_result(profile_id: str) -> bool:
    """The retried write (PostgreSQL was down when the verification ended)."""
    return write_result_now(profile_id)


def after_decision(profile_id: str) -> None:
    """Hand a decided profile's result to the KYC Service now, or queue the retried write."""
    try:
        write_result_now(profile_id)
    except (ResultSinkUnavailable, StoreUnavailable):
        # PostgreSQL (or PocketBase, to re-read the profile) is down: Huey retries the write.
        log.warning("kyc_result_deferred", profile_id=profile_id)
        write_kyc_result(profile_id)
