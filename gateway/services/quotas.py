"""Monthly quotas per partner and check, taken atomically from the usage events.

A partner's settings may hold ``quotas: {<check>: {monthly: N}}``. A check takes one unit before it
runs: the data layer counts the period's usage rows that hold a unit and appends the new one in
one transaction (``POST /api/ekyc/usage/take`` in ``pb_hooks/usage.pb.js``), so two gateway
processes cannot both take the last unit. The unit is given back when the check was refused (a
bad image is not billed, and does not use the quota either). Past the quota the answer is
``QuotaExceeded``: 429 ``quota_exceeded`` with ``Retry-After`` up to the next period, which starts
on the first day of the next month at 00:00 UTC.

Reaching 80 % and 100 % of a quota writes a ``quota.threshold_reached`` event to the webhook
outbox, once per partner, check, period and threshold, in the transaction that makes the unit
used for good: the one that settles a held unit as billed (``settle_unit``), or the take itself for
a row billed when written (a verification already run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.errors import QuotaExceeded, StoreError, ValidationFailed
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase

# The checks a quota (and a plan's price) may name: one per kind of usage event.
QUOTA_CHECKS = (
    "liveness",
    "document_ocr",
    "document_validate",
    "face_match",
    "verification",
)
THRESHOLDS_PERCENT = (80, 100)
MAX_MONTHLY_QUOTA = 100_000_000
MONTH_YEARS = (2000, 2999)
# A unit still held (row `pending`) this long after its check began belongs to a process that died
# before settling it: no check runs that long (gunicorn stops a request after 60 s).
HELD_UNIT_STALE_AFTER_S = 300


@dataclass(frozen=True)
class Period:
    """One calendar month in UTC: ``[start, end)``, named ``YYYY-MM``."""

    label: str
    start: datetime
    end: datetime

    @property
    def start_text(self) -> str:
        """The start as PocketBase datetime text (for bound comparisons with ``created``)."""
        return pb_datetime(self.start)

    @property
    def end_text(self) -> str:
        """The end as PocketBase datetime text."""
        return pb_datetime(self.end)


def month_period(moment: datetime) -> Period:
    """The calendar month (UTC) ``moment`` falls in."""
    moment = moment.astimezone(UTC)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return Period(label=f"{start:%Y-%m}", start=start, end=end)


def parse_month(text: str) -> Period:
    """``YYYY-MM`` as a period; ``ValidationFailed`` otherwise."""
    try:
        moment = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
    except (TypeError, ValueError) as error:
        raise ValidationFailed(
            "The month must read YYYY-MM", errors={"month": ["must read YYYY-MM"]}
        ) from error
    # The days the usage reports accept (schemas/usage.py): 9999-12 would end in the year 10000,
    # which datetime cannot hold, and year 1 has no four-digit label.
    if not MONTH_YEARS[0] <= moment.year <= MONTH_YEARS[1]:
        raise ValidationFailed(
            f"The month must be from {MONTH_YEARS[0]}-01 to {MONTH_YEARS[1]}-12",
            errors={"month": [f"from {MONTH_YEARS[0]}-01 to {MONTH_YEARS[1]}-12"]},
        )
    return month_period(moment)


def monthly_quota(settings: dict[str, Any], check: str) -> int | None:
    """The partner's monthly quota of ``check`` from its effective settings; None: no quota."""
    quotas = settings.get("quotas") or {}
    entry = quotas.get(check) if isinstance(quotas, dict) else None
    value = entry.get("monthly") if isinstance(entry, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def validate_quotas(value: Any) -> dict[str, list[str]]:
    """Problems of a ``quotas`` setting, keyed by dotted path (empty when it is valid)."""
    if not isinstance(value, dict):
        return {"quotas": ["must be an object of {check: {monthly: N}}"]}
    problems: dict[str, list[str]] = {}
    for check, entry in value.items():
        path = f"quotas.{check}"
        if check not in QUOTA_CHECKS:
            problems[path] = [f"unknown check; one of {', '.join(QUOTA_CHECKS)}"]
        elif not isinstance(entry, dict) or set(entry) != {"monthly"}:
            problems[path] = ["must be {monthly: N}"]
        else:
            monthly = entry["monthly"]
            if (
                not isinstance(monthly, int)
                or isinstance(monthly, bool)
                or not 0 <= monthly <= MAX_MONTHLY_QUOTA
            ):
                problems[f"{path}.monthly"] = [f"must be an integer from 0 to {MAX_MONTHLY_QUOTA}"]
    return problems


def take_unit(
    pb: PocketBase,
    partner_id: str,
    check: str,
    quota: int | None,
    row: dict[str, Any],
    *,
    now: datetime,
    force: bool = False,
) -> dict[str, Any]:
    """Append one usage row, taking a unit of ``quota`` when the row is counted.

    Returns ``{taken, id, used, quota}``; raises ``QuotaExceeded`` when the period's quota is
    used up (unless ``force``: usage that already happened is recorded whatever the quota).
    """
    response = pb.request(
        "POST",
        "/api/ekyc/usage/take",
        json={
            "partner": partner_id,
            "module": check,
            "quota": quota,
            **_period_terms(now),
            "force": force,
            "stale_before": pb_datetime(now - timedelta(seconds=HELD_UNIT_STALE_AFTER_S)),
            "row": row,
        },
    )
    if response.status_code != 200:
        raise StoreError(f"PocketBase refused a usage row: {response.status_code}")
    taken = response.json()
    if not taken["taken"]:
        raise quota_exceeded(check, quota or 0, int(taken["used"]), now)
    return taken


def _period_terms(moment: datetime) -> dict[str, Any]:
    """What the usage hooks need of the month ``moment`` falls in to count and announce a unit."""
    period = month_period(moment)
    return {
        "period": period.label,
        "period_start": period.start_text,
        "period_end": period.end_text,
        "resets_at": period.end.isoformat().replace("+00:00", "Z"),
        "thresholds": list(THRESHOLDS_PERCENT),
    }


def settle_unit(
    pb: PocketBase,
    usage_id: str,
    quota: int | None,
    fields: dict[str, Any],
    *,
    taken_at: datetime,
) -> None:
    """Write the outcome of a check that held a unit (``take_unit`` with a ``pending`` row).

    ``fields`` (``billed``, ``counted``, ``outcome``, ``processing_ms``): a refused check gives
    its unit back. One that ran to a result keeps it and announces the thresholds it reaches, in
    the period of ``taken_at`` (the row's), since a unit merely held may still be given back.
    """
    response = pb.request(
        "POST",
        "/api/ekyc/usage/settle",
        json={"id": usage_id, "quota": quota, **_period_terms(taken_at), "row": fields},
    )
    if response.status_code != 200:
        raise StoreError(f"PocketBase refused a usage outcome: {response.status_code}")


def quota_exceeded(check: str, quota: int, used: int, now: datetime) -> QuotaExceeded:
    """The 429 of a used-up quota, with ``Retry-After`` up to the next period."""
    period = month_period(now)
    resets_at = period.end.isoformat().replace("+00:00", "Z")
    return QuotaExceeded(
        f"The monthly quota of {quota} {check} checks is used up until {period.end:%Y-%m-%d}"
        " 00:00 UTC",
        headers={"Retry-After": str(max(1, math.ceil((period.end - now).total_seconds())))},
        extra={
            "check": check,
            "quota": quota,
            "used": used,
            "period": period.label,
            "resets_at": resets_at,
        },
    )
