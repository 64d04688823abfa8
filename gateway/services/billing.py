"""Plans and invoice statements priced from the metered usage.

A plan (``plans`` collection) has a currency, a monthly fee, the units of each check the fee
includes and the price of each further unit. A partner is invoiced on the plan set on its record
(``partners.plan``) in that month (``partners.plan_periods``: a plan assigned in a month prices
it and the months after, never the months before). A month's statement is the fee plus, per
check, the billed units beyond the included ones times the unit price. Money is computed in
``Decimal`` and written as strings with two decimals (unit prices with up to four), never as
binary floats. Quotas (``quotas.py``) cap what a partner may use; the plan prices what it used:
the two are set apart.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from gateway.errors import Conflict, NotFound, ValidationFailed
from gateway.services.pb_time import iso
from gateway.services.pocketbase import PocketBase
from gateway.services.quotas import QUOTA_CHECKS, Period, parse_month
from gateway.services.usage_reports import summary_rows

PLAN_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
CENT = Decimal("0.01")
MAX_PRICE = Decimal("1000000")
CSV_COLUMNS = ("item", "description", "used", "included", "quantity", "unit_price", "amount")


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _unit_price(value: Any) -> Decimal:
    return Decimal(str(value)).normalize() if value is not None else Decimal(0)


def _unit_price_text(value: Decimal) -> str:
    """A unit price as written: its own decimals, in plain notation (``normalize`` alone turns
    100 into ``1E+2``)."""
    return f"{value:f}"


def _price(value: Any) -> Decimal | None:
    """A non-negative price with at most 4 decimals, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        return None
    if (
        not price.is_finite()
        or price < 0
        or price > MAX_PRICE
        or price != price.quantize(Decimal("0.0001"))
    ):
        return None
    return price


def validate_plan(code: str, body: dict[str, Any]) -> dict[str, Any]:
    """The plan record for ``code`` and ``body`` ``{name, currency, monthly_fee, included,
    unit_prices}``; ``ValidationFailed`` naming every wrong field."""
    errors: dict[str, list[str]] = {}
    if not isinstance(code, str) or not PLAN_CODE.match(code):
        errors["code"] = ["1-60 characters of a-z, 0-9, '-' and '_'"]
    if not isinstance(body, dict):
        raise ValidationFailed("A plan is a JSON object", errors={"plan": ["must be an object"]})
    unknown = set(body) - {"name", "currency", "monthly_fee", "included", "unit_prices"}
    for key in sorted(unknown):
        errors[key] = ["unknown field"]
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        errors["name"] = ["1 to 200 characters"]
    currency = body.get("currency")
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        errors["currency"] = ["an ISO 4217 code such as EUR"]
    fee = _price(body.get("monthly_fee", 0))
    if fee is None:
        errors["monthly_fee"] = ["a non-negative amount with at most 4 decimals"]
    included = body.get("included", {})
    prices = body.get("unit_prices", {})
    for field, table in (("included", included), ("unit_prices", prices)):
        if not isinstance(table, dict):
            errors[field] = ["an object keyed by check"]
            continue
        for check, value in table.items():
            if check not in QUOTA_CHECKS:
                errors[f"{field}.{check}"] = [f"unknown check; one of {', '.join(QUOTA_CHECKS)}"]
            elif field == "included" and (
                not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**9
            ):
                errors[f"{field}.{check}"] = ["a whole number of units from 0"]
            elif field == "unit_prices" and _price(value) is None:
                errors[f"{field}.{check}"] = ["a non-negative amount with at most 4 decimals"]
    if errors:
        raise ValidationFailed("Invalid plan", errors=errors)
    return {
        "code": code,
        "name": name.strip(),
        "currency": currency,
        "monthly_fee": float(fee),
        "included": dict(included),
        "unit_prices": {check: float(_price(value)) for check, value in prices.items()},
    }


def plan_view(record: dict[str, Any]) -> dict[str, Any]:
    """A plan as the API shows it."""
    return {
        "code": record["code"],
        "name": record["name"],
        "currency": record["currency"],
        "monthly_fee": _money(Decimal(str(record.get("monthly_fee") or 0))),
        "included": record.get("included") or {},
        "unit_prices": {
            check: _unit_price_text(_unit_price(price))
            for check, price in (record.get("unit_prices") or {}).items()
        },
        "updated": iso(record.get("updated")),
    }


def find_plan(pb: PocketBase, code: str) -> dict[str, Any]:
    """The plan record with ``code``; ``NotFound`` otherwise."""
    plan = pb.find_first("plans", where={"code": code}) if isinstance(code, str) else None
    if plan is None:
        raise NotFound(f"No plan {code!r}")
    return plan


def save_plan(pb: PocketBase, code: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create or replace the plan ``code``; returns its view and whether it was created.

    A replaced plan prices every statement made afterwards, past months included: statements
    are computed, not stored, so keep a plan's code for one price list and make a new code for
    new prices.
    """
    record = validate_plan(code, body)
    existing = pb.find_first("plans", where={"code": code})
    if existing is None:
        return plan_view(pb.create("plans", record)), True
    return plan_view(pb.update("plans", existing["id"], record)), False


def list_plans(pb: PocketBase) -> list[dict[str, Any]]:
    """Every plan, by code."""
    return [plan_view(row) for row in pb.find("plans", sort="code", limit=1000)]


def assign_plan(pb: PocketBase, partner_id: str, code: str | None) -> dict[str, Any]:
    """Invoice a partner on the plan ``code`` (None: on no plan); returns ``{plan}``."""
    plan_id = find_plan(pb, code)["id"] if code is not None else ""
    pb.update("partners", partner_id, {"plan": plan_id})
    return {"partner_id": partner_id, "plan": code}


def statement(
    partner: dict[str, Any],
    plan: dict[str, Any],
    period: Period,
    billed: dict[str, int],
    *,
    now: datetime,
) -> dict[str, Any]:
    """The invoice statement of one partner for one month, priced from ``plan``."""
    fee = Decimal(str(plan.get("monthly_fee") or 0))
    included = plan.get("included") or {}
    prices = plan.get("unit_prices") or {}
    lines: list[dict[str, Any]] = [
        {
            "item": "monthly_fee",
            "description": f"{plan['name']} ({plan['code']}), {period.label}",
            "used": None,
            "included": None,
            "quantity": 1,
            "unit_price": _money(fee),
            "amount": _money(fee),
        }
    ]
    total = fee.quantize(CENT, rounding=ROUND_HALF_UP)
    for check in QUOTA_CHECKS:
        used = int(billed.get(check, 0))
        if not used and check not in included and check not in prices:
            continue
        free = int(included.get(check, 0))
        quantity = max(0, used - free)
        price = _unit_price(prices.get(check))
        amount = (price * quantity).quantize(CENT, rounding=ROUND_HALF_UP)
        total += amount
        lines.append(
            {
                "item": check,
                "description": f"{check} checks billed",
                "used": used,
                "included": free,
                "quantity": quantity,
                "unit_price": _unit_price_text(price),
                "amount": _money(amount),
            }
        )
    return {
        "statement_id": f"{partner['slug']}-{period.label}",
        "partner": {"id": partner["id"], "slug": partner["slug"], "name": partner["name"]},
        "period": {
            "month": period.label,
            "from": period.start.isoformat().replace("+00:00", "Z"),
            "to": period.end.isoformat().replace("+00:00", "Z"),
        },
        # A statement of a month not yet over is provisional: usage keeps coming in.
        "final": now >= period.end,
        "plan": {"code": plan["code"], "name": plan["name"]},
        "currency": plan["currency"],
        "lines": lines,
        "total": _money(total),
        "generated_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def billed_by_partner(pb: PocketBase, partner_id: str | None, period: Period) -> dict[str, dict]:
    """``{partner_id: {check: billed units}}`` of a month (one partner, or every partner)."""
    result: dict[str, dict[str, int]] = {}
    for row in summary_rows(pb, partner_id, period.start, period.end):
        checks = result.setdefault(row["partner"], {})
        checks[row["module"]] = checks.get(row["module"], 0) + int(row["billed"])
    return result


def plan_of_month(partner: dict[str, Any], period: Period) -> str:
    """The id of the plan that prices ``period`` for ``partner`` ("" for none).

    ``plan_periods`` (kept by ``pb_hooks/partner_plans.pb.js``) says from which month each plan
    applied: the last one assigned in or before the month prices it, so moving a partner to
    another plan leaves the months already closed as they were. A record without periods (a
    store not migrated yet) is priced on its plan now.
    """
    periods = partner.get("plan_periods")
    if not isinstance(periods, list) or not periods:
        return partner.get("plan") or ""
    plan = ""
    for entry in periods:
        if isinstance(entry, dict) and str(entry.get("from", "")) <= period.label:
            plan = str(entry.get("plan") or "")
    return plan


def partner_statement(
    pb: PocketBase, partner: dict[str, Any], period: Period, *, now: datetime
) -> dict[str, Any]:
    """One partner's statement for a month; ``Conflict`` when it was on no plan that month."""
    plan_id = plan_of_month(partner, period)
    if not plan_id:
        raise Conflict(
            f"Partner {partner['slug']} is on no plan for {period.label}: assign one to invoice it"
        )
    plan = pb.get("plans", plan_id)
    billed = billed_by_partner(pb, partner["id"], period).get(partner["id"], {})
    return statement(partner, plan, period, billed, now=now)


def own_statement(pb: PocketBase, partner_id: str, month: str, *, now: datetime) -> dict:
    """A partner's own statement for ``month`` (YYYY-MM), as the partner API shows it."""
    return partner_statement(pb, pb.get("partners", partner_id), parse_month(month), now=now)


def all_statements(pb: PocketBase, period: Period, *, now: datetime) -> dict[str, Any]:
    """Statements of every partner on a plan for a month, and the usage of those on none."""
    billed = billed_by_partner(pb, None, period)
    plans = {row["id"]: row for row in pb.find("plans", limit=1000)}
    statements, unpriced = [], []
    for partner in pb.find("partners", sort="created", limit=1000):
        plan_id = plan_of_month(partner, period)
        if plan_id in plans:
            statements.append(
                statement(partner, plans[plan_id], period, billed.get(partner["id"], {}), now=now)
            )
        elif partner["id"] in billed:
            unpriced.append({"partner_id": partner["id"], "billed": billed[partner["id"]]})
    return {"month": period.label, "statements": statements, "unpriced": unpriced}


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def statement_csv(statements: list[dict[str, Any]]) -> str:
    """Statements as CSV: one row per line, each naming its statement, partner and currency."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("statement_id", "partner_id", "month", "currency", *CSV_COLUMNS))
    for item in statements:
        prefix = (item["statement_id"], item["partner"]["id"], item["period"]["month"])
        for line in item["lines"]:
            writer.writerow(
                (
                    *prefix,
                    item["currency"],
                    *(
                        "" if line[column] is None else _cell(line[column])
                        for column in CSV_COLUMNS
                    ),
                )
            )
        writer.writerow((*prefix, item["currency"], "total", "", "", "", "", "", item["total"]))
    return out.getvalue()
