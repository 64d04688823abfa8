"""The document-expiry job: warn partners before an approved document runs out, expire it after.

Runs daily in the worker. For each approved profile whose ``document_expires_on`` falls within 90
days it emits ``profile.document_expiring`` once per threshold (90, 30, 7 days: the tightest one
crossed, so a profile approved 20 days before expiry gets one notice, not three); once the date
has passed (a document is valid through its expiry date) it moves the profile to
``document_expired``, which writes the history row and the ``profile.document_expired`` event in
PocketBase's transaction. ``POST /api/profiles/{id}/link`` then starts a re-verification.

Idempotent: notices carry a unique dedupe key in the outbox and are remembered on the profile
(``expiry_notices``), and the expiry is a transition expected from ``approved``, so running the
job twice on one day, or after a crash half-way, emits nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog

from gateway.errors import IllegalTransition
from gateway.services.pocketbase import PocketBase
from gateway.services.webhooks.events import emit_event

log = structlog.get_logger("gateway.expiry")

NOTICE_THRESHOLDS_DAYS = (90, 30, 7)
PAGE_SIZE = 500


@dataclass
class ExpiryReport:
    """What one run did (counts and profile ids, no PII)."""

    notices: list[tuple[str, int]] = field(default_factory=list)  # (profile id, threshold)
    expired: list[str] = field(default_factory=list)
    unreadable_dates: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts for logs and the CLI."""
        return {
            "notices": len(self.notices),
            "expired": len(self.expired),
            "unreadable_dates": len(self.unreadable_dates),
        }


def _approved_expiring(pb: PocketBase, horizon: date) -> list[dict[str, Any]]:
    """Approved profiles with an expiry date up to ``horizon``, paged by id (a cursor, because
    expiring profiles leave the result set while we walk it)."""
    found: list[dict[str, Any]] = []
    after = ""
    while True:
        page = pb.find(
            "profiles",
            "status = 'approved' && document_expires_on != '' && "
            "document_expires_on <= {:horizon} && id > {:after}",
            {"horizon": horizon.isoformat(), "after": after},
            sort="id",
            limit=PAGE_SIZE,
        )
        found.extend(page)
        if len(page) < PAGE_SIZE:
            return found
        after = page[-1]["id"]


def run_expiry_job(pb: PocketBase, now: datetime | None = None) -> ExpiryReport:
    """One run of the job as of ``now`` (UTC; injected by tests)."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    report = ExpiryReport()
    horizon = today + timedelta(days=max(NOTICE_THRESHOLDS_DAYS))
    for profile in _approved_expiring(pb, horizon):
        try:
            expires_on = date.fromisoformat(profile["document_expires_on"])
        except ValueError:
            report.unreadable_dates.append(profile["id"])
            continue
        days_left = (expires_on - today).days
        if days_left < 0:
            _expire(pb, profile, report)
        else:
            _notify(pb, profile, expires_on, days_left, report)
    log.info("expiry_job_done", **report.as_dict())
    return report


def _expire(pb: PocketBase, profile: dict[str, Any], report: ExpiryReport) -> None:
    try:
        pb.transition(
            profile["id"],
            "document_expired",
            actor="system",
            # Not the date: read from the document, it is erased with the profile's personal
            # data, and this reason is copied to an append-only history row the erasure keeps.
            reason="identity document expired",
            expected_from=["approved"],
        )
    except IllegalTransition:
        return  # changed since we read it (a reviewer, another run): nothing to do
    report.expired.append(profile["id"])


def _notify(
    pb: PocketBase,
    profile: dict[str, Any],
    expires_on: date,
    days_left: int,
    report: ExpiryReport,
) -> None:
    crossed = [days for days in NOTICE_THRESHOLDS_DAYS if days_left <= days]
    if not crossed:
        return
    threshold = min(crossed)
    notices = profile.get("expiry_notices") or {}
    sent = notices.get("sent", []) if notices.get("expires_on") == expires_on.isoformat() else []
    if threshold in sent:
        return
    emitted = emit_event(
        pb,
        profile["partner"],
        "profile.document_expiring",
        {
            "profile_id": profile["id"],
            "external_ref": profile.get("external_ref") or None,
            "status": profile["status"],
            "document_expires_on": expires_on.isoformat(),
            "days_left": days_left,
            "threshold_days": threshold,
        },
        profile_id=profile["id"],
        dedupe_key=f"document_expiring:{profile['id']}:{expires_on.isoformat()}:{threshold}",
    )
    # Larger thresholds count as covered: one notice per crossing, the tightest one.
    pb.update(
        "profiles",
        profile["id"],
        {"expiry_notices": {"expires_on": expires_on.isoformat(), "sent": sorted(crossed)}},
    )
    if emitted is not None:
        report.notices.append((profile["id"], threshold))
