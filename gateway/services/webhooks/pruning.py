"""The outbox's keeping period: delivered webhook events and their delivery rows are kept
``EKYC_WEBHOOK_RETENTION_DAYS`` (default 30, long enough to look a delivery up and replay it), then
removed by the daily job, with idempotency keys past their expiry.

An event with a delivery still pending is kept whatever its age (its retries span three days). An
event with a dedupe key is kept at least ``KEYED_KEEP_DAYS``: the key is what stops a quota's
80 % notice of this month from being sent twice, so it must outlive the month.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from gateway.errors import StoreError
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase

KEYED_KEEP_DAYS = 62
PRUNE_BATCH = 1000


@dataclass
class PruneReport:
    """What one run removed."""

    events: int = 0
    deliveries: int = 0
    idempotency_keys: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts, for the periodic task's result and the log."""
        return asdict(self)


def prune_outbox(
    pb: PocketBase, retention_days: int, now: datetime, batch: int = PRUNE_BATCH
) -> PruneReport:
    """Remove what is past its keeping period, ``batch`` rows per transaction (a short write lock
    each, so requests are never held behind one long delete)."""
    before = now - timedelta(days=retention_days)
    keyed_before = min(before, now - timedelta(days=KEYED_KEEP_DAYS))
    report = PruneReport()
    while True:
        response = pb.request(
            "POST",
            "/api/ekyc/webhooks/prune",
            json={
                "before": pb_datetime(before),
                "keyed_before": pb_datetime(keyed_before),
                "now": pb_datetime(now),
                "limit": batch,
            },
        )
        if response.status_code != 200:
            raise StoreError(f"PocketBase refused to prune the outbox: {response.status_code}")
        removed = response.json()
        report.events += removed["events"]
        report.deliveries += removed["deliveries"]
        report.idempotency_keys += removed["idempotency_keys"]
        if removed["events"] < batch and removed["idempotency_keys"] < batch:
            return report
