"""The retention job: erase a profile's personal data once its retention period has ended.

At consent the applicant reads that the images "are kept for N days, then deleted" (the partner's
``retention_days``), and each profile carries that date (``retention_until``, set at creation).
This job keeps the promise. It runs daily in the worker and erases exactly what a partner's
``DELETE /api/profiles/{id}`` erases (``ProfileService.erase_record``):
- gone: personal fields, the document's number and expiry date, capture files, reviewer notes,
  the per-factor details, the text of reasons reviewers typed (it reads "[erased]");
- kept: every status history row, the decision, score and the worker's reasons;
- the partner gets ``profile.erased``.

A profile still being verified (submitted, processing) waits for the next run, so a verification
never loses its images half-way. Idempotent: an erased profile has ``erased_at`` and is not
selected again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from gateway.errors import Conflict, IllegalTransition
from gateway.services.pb_time import pb_datetime
from gateway.services.profiles import ProfileService

log = structlog.get_logger("gateway.retention")

ACTOR = "system:retention"
REASON = "personal data erased: retention period ended"
PAGE_SIZE = 200


@dataclass
class RetentionReport:
    """What one run did (profile ids, no PII)."""

    erased: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """Counts, for logs and the periodic task's result."""
        return {"erased": len(self.erased), "deferred": len(self.deferred)}


def _due(profiles: ProfileService, now: datetime) -> list[dict[str, Any]]:
    """The oldest profiles past their retention date, not erased and not being verified. No
    cursor: an erased profile leaves the result set (ordered by the indexed date)."""
    return profiles.pb.find(
        "profiles",
        "retention_until != '' && retention_until <= {:now} && erased_at = '' && "
        "status != 'submitted' && status != 'processing'",
        {"now": pb_datetime(now)},
        sort="retention_until",
        limit=PAGE_SIZE,
    )


def run_retention_job(profiles: ProfileService, now: datetime | None = None) -> RetentionReport:
    """One run as of ``now`` (UTC; injected by tests)."""
    now = now or datetime.now(UTC)
    report = RetentionReport()
    seen: set[str] = set()
    while True:
        page = _due(profiles, now)
        fresh = [profile for profile in page if profile["id"] not in seen]
        for profile in fresh:
            seen.add(profile["id"])
            try:
                profiles.erase_record(profile, actor=ACTOR, reason=REASON)
            except (Conflict, IllegalTransition):  # a worker claimed it since we read it
                report.deferred.append(profile["id"])
                continue
            report.erased.append(profile["id"])
        if not fresh or len(page) < PAGE_SIZE:
            break
    log.info("retention_job_done", **report.as_dict())
    return report
