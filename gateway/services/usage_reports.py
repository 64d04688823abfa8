"""Usage read back: per check or per day, for one partner or every partner.

The sums are made by the data layer (``POST /api/ekyc/usage/summary``, one grouped SQL query over
the ``(partner, module, created)`` index), so a month of a busy partner is not carried row by row
into Python. ``calls`` counts every metered call, ``billed`` those that ran to a result (what an
invoice prices), ``refused`` the rest (bad input, a check that could not start).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from gateway.errors import StoreError, ValidationFailed
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase
from gateway.services.quotas import QUOTA_CHECKS, month_period, monthly_quota

GROUPS = ("check", "day")
MAX_RANGE_DAYS = 366


def summary_rows(
    pb: PocketBase,
    partner_id: str | None,
    start: datetime,
    end: datetime,
    *,
    by_day: bool = False,
) -> list[dict[str, Any]]:
    """``[{partner, module, day, calls, billed, counted, processing_ms}]`` for ``[start, end)``;
    every partner when ``partner_id`` is None."""
    body: dict[str, Any] = {"from": pb_datetime(start), "to": pb_datetime(end), "by_day": by_day}
    if partner_id:
        body["partner"] = partner_id
    response = pb.request("POST", "/api/ekyc/usage/summary", json=body)
    if response.status_code != 200:
        raise StoreError(f"PocketBase refused a usage summary: {response.status_code}")
    return list(response.json()["items"])


def date_range(date_from: date | None, date_to: date | None, today: date) -> tuple[date, date]:
    """The inclusive days a report covers: this month so far unless given; at most a year."""
    first = date_from or today.replace(day=1)
    last = date_to or max(today, first)
    if last < first:
        raise ValidationFailed("`to` is before `from`", errors={"to": ["must not be before from"]})
    if (last - first).days >= MAX_RANGE_DAYS:
        raise ValidationFailed(
            f"A report covers at most {MAX_RANGE_DAYS} days",
            errors={"to": [f"at most {MAX_RANGE_DAYS} days after from"]},
        )
    return first, last


def usage_report(
    pb: PocketBase,
    partner_id: str | None,
    date_from: date,
    date_to: date,
    group: str = "check",
) -> dict[str, Any]:
    """Usage from ``date_from`` to ``date_to`` (both included, UTC days), grouped by ``group``.

    With ``partner_id`` None every partner is reported and each item names its partner.
    """
    if group not in GROUPS:
        raise ValidationFailed("group is day or check", errors={"group": ["day or check"]})
    start = datetime.combine(date_from, time(), tzinfo=UTC)
    end = datetime.combine(date_to + timedelta(days=1), time(), tzinfo=UTC)
    rows = summary_rows(pb, partner_id, start, end, by_day=group == "day")
    items = []
    for row in rows:
        item: dict[str, Any] = {}
        if partner_id is None:
            item["partner_id"] = row["partner"]
        if group == "day":
            item["day"] = row["day"]
        calls, billed = int(row["calls"]), int(row["billed"])
        item.update(
            {
                "check": row["module"],
                "calls": calls,
                "billed": billed,
                "refused": calls - int(row["counted"]),
                "processing_ms_avg": round(float(row["processing_ms"]) / calls, 1)
                if calls
                else 0.0,
            }
        )
        items.append(item)
    return {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "group": group,
        "items": items,
        "totals": {
            "calls": sum(item["calls"] for item in items),
            "billed": sum(item["billed"] for item in items),
        },
    }


def month_used(pb: PocketBase, partner_id: str, now: datetime) -> dict[str, int]:
    """``{check: units held}`` of a partner in the month of ``now`` (billed plus running)."""
    period = month_period(now)
    used: dict[str, int] = {}
    for row in summary_rows(pb, partner_id, period.start, period.end):
        used[row["module"]] = used.get(row["module"], 0) + int(row["counted"])
    return used


def quota_status(
    pb: PocketBase, partner_id: str, settings: dict[str, Any], *, now: datetime
) -> dict[str, Any]:
    """This month's quotas of a partner: ``{period, resets_at, checks: {check: {monthly, used,
    remaining}}}``; ``used`` counts billed checks and those running now (they hold a unit)."""
    period = month_period(now)
    limits = {check: monthly_quota(settings, check) for check in QUOTA_CHECKS}
    used: dict[str, int] = {}
    if any(limit is not None for limit in limits.values()):
        used = month_used(pb, partner_id, now)
    return {
        "period": period.label,
        "resets_at": period.end.isoformat().replace("+00:00", "Z"),
        "checks": {
            check: {
                "monthly": limit,
                "used": used.get(check, 0),
                "remaining": max(0, limit - used.get(check, 0)),
            }
            for check, limit in limits.items()
            if limit is not None
        },
    }


@dataclass
class UsageReports:
    """The partner's own usage report (the operator's goes through ``OperatorService``, which
    audits each read)."""

    pb: PocketBase

    def partner_usage(
        self,
        partner_id: str,
        settings: dict[str, Any],
        date_from: date | None,
        date_to: date | None,
        group: str,
        *,
        now: datetime,
    ) -> dict[str, Any]:
        """A partner's usage over the days asked (this month by default) and its quotas now."""
        first, last = date_range(date_from, date_to, now.astimezone(UTC).date())
        report = usage_report(self.pb, partner_id, first, last, group)
        report["quotas"] = quota_status(self.pb, partner_id, settings, now=now)
        return report
