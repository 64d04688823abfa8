"""Usage reports, plans and invoice statements: the arithmetic on its own, then the whole path on
the real app and PocketBase (metered calls, ``GET /api/usage``, the ``ekyc`` usage, plan and
invoice commands, their audit rows)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from api_helpers import assert_problem
from flask import Flask
from test_cli_admin import cli_env, run  # noqa: F401  (the operator's shell environment)

from gateway.cli import main
from gateway.errors import Conflict, ValidationFailed
from gateway.services.billing import plan_view, statement, statement_csv, validate_plan
from gateway.services.quotas import month_period, parse_month
from gateway.synthetic.identities import random_identity, td3_lines

VALID_MRZ = "\n".join(td3_lines(random_identity(np.random.default_rng(5))))
PLAN = {
    "name": "Start",
    "currency": "EUR",
    "monthly_fee": 99,
    "included": {"document_validate": 2, "verification": 100},
    "unit_prices": {"document_validate": 0.125, "verification": 0.5, "liveness": 0.2},
}
PARTNER = {"id": "p" * 15, "slug": "acme-1a2b3c", "name": "Acme"}


def test_a_statement_is_the_fee_plus_units_beyond_the_included_ones() -> None:
    plan = {"code": "start", **validate_plan("start", PLAN)}
    period = parse_month("2026-10")
    result = statement(
        PARTNER,
        plan,
        period,
        {"document_validate": 5, "face_match": 3},
        now=datetime(2026, 11, 2, tzinfo=UTC),
    )
    lines = {line["item"]: line for line in result["lines"]}
    assert lines["monthly_fee"]["amount"] == "99.00"
    # 5 billed, 2 included: 3 x 0.125 = 0.375, rounded half up to 0.38.
    assert lines["document_validate"] | {} == {
        "item": "document_validate",
        "description": "document_validate checks billed",
        "used": 5,
        "included": 2,
        "quantity": 3,
        "unit_price": "0.125",
        "amount": "0.38",
    }
    # Unpriced usage is shown at 0; priced checks with no usage are shown too.
    assert lines["face_match"]["amount"] == "0.00" and lines["face_match"]["used"] == 3
    assert lines["verification"]["quantity"] == 0 and lines["liveness"]["amount"] == "0.00"
    assert result["total"] == "99.38" and result["currency"] == "EUR"
    assert result["final"] is True and result["statement_id"] == "acme-1a2b3c-2026-10"
    assert result["period"] == {
        "month": "2026-10",
        "from": "2026-10-01T00:00:00Z",
        "to": "2026-11-01T00:00:00Z",
    }
    provisional = statement(PARTNER, plan, period, {}, now=datetime(2026, 10, 30, tzinfo=UTC))
    assert provisional["final"] is False and provisional["total"] == "99.00"

    rows = list(csv.reader(io.StringIO(statement_csv([result]))))
    assert rows[0][:4] == ["statement_id", "partner_id", "month", "currency"]
    assert rows[-1][-1] == "99.38" and rows[-1][4] == "total"
    [validate_row] = [row for row in rows if row[4] == "document_validate"]
    assert validate_row[-2:] == ["0.125", "0.38"]


def test_csv_cells_never_start_a_formula() -> None:
    plan = {"code": "evil", **validate_plan("evil", {**PLAN, "name": "=HYPERLINK(1)"})}
    text = statement_csv(
        [statement(PARTNER, plan, parse_month("2026-10"), {}, now=datetime.now(UTC))]
    )
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_whole_unit_prices_are_written_as_plain_numbers() -> None:
    """A price of 100 reads "100" on the plan and the statement, never "1E+2"."""
    body = {**PLAN, "included": {}, "unit_prices": {"liveness": 100, "face_match": 10.5}}
    plan = {"code": "round", **validate_plan("round", body)}
    assert plan_view({**plan, "updated": ""})["unit_prices"] == {
        "liveness": "100",
        "face_match": "10.5",
    }
    result = statement(
        PARTNER, plan, parse_month("2026-10"), {"liveness": 2}, now=datetime.now(UTC)
    )
    lines = {line["item"]: line for line in result["lines"]}
    assert (lines["liveness"]["unit_price"], lines["liveness"]["amount"]) == ("100", "200.00")
    assert lines["face_match"]["unit_price"] == "10.5"
    assert ",100,200.00" in statement_csv([result])


@pytest.mark.parametrize(
    ("code", "body", "field"),
    [
        ("Start!", PLAN, "code"),
        ("start", {**PLAN, "currency": "eur"}, "currency"),
        ("start", {**PLAN, "monthly_fee": -1}, "monthly_fee"),
        ("start", {**PLAN, "monthly_fee": 0.00001}, "monthly_fee"),
        ("start", {**PLAN, "included": {"selfie": 3}}, "included.selfie"),
        ("start", {**PLAN, "included": {"liveness": 1.5}}, "included.liveness"),
        ("start", {**PLAN, "unit_prices": {"liveness": True}}, "unit_prices.liveness"),
        ("start", {**PLAN, "discount": 5}, "discount"),
    ],
)
def test_plans_are_validated_field_by_field(code: str, body: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_plan(code, body)
    assert field in caught.value.errors


def test_usage_report_groups_by_check_and_day(app: Flask, partner) -> None:
    client = app.test_client()
    for mrz in (VALID_MRZ, VALID_MRZ, "NOT AN MRZ"):
        client.post("/v1/document/validate", json={"mrz": mrz}, headers=partner.headers)
    today = datetime.now(UTC).date().isoformat()
    by_check = client.get("/api/usage", headers=partner.headers).get_json()
    assert by_check["group"] == "check" and by_check["to"] == today
    assert by_check["items"] == [
        {
            "check": "document_validate",
            "calls": 3,
            "billed": 2,
            "refused": 1,
            "processing_ms_avg": by_check["items"][0]["processing_ms_avg"],
        }
    ]
    assert by_check["totals"] == {"calls": 3, "billed": 2}
    assert by_check["quotas"]["checks"] == {}
    by_day = client.get(
        f"/api/usage?group=day&from={today}&to={today}", headers=partner.headers
    ).get_json()
    assert [(i["day"], i["check"], i["billed"]) for i in by_day["items"]] == [
        (today, "document_validate", 2)
    ]
    before = client.get("/api/usage?from=2026-01-01&to=2026-01-31", headers=partner.headers)
    assert before.get_json()["items"] == []
    wrong = client.get("/api/usage?from=2026-02-01&to=2026-01-31", headers=partner.headers)
    assert_problem(wrong, 422, "validation_failed")
    too_long = client.get("/api/usage?from=2026-01-01&to=2027-06-01", headers=partner.headers)
    assert_problem(too_long, 422, "validation_failed")
    assert_problem(
        client.get("/api/usage?group=week", headers=partner.headers), 422, "validation_failed"
    )


@pytest.mark.usefixtures("cli_env")
def test_usage_report_plan_and_invoice_from_the_cli(
    app: Flask, services, partner, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app.test_client()
    for mrz in (VALID_MRZ, VALID_MRZ, VALID_MRZ, "NOT AN MRZ"):
        client.post("/v1/document/validate", json={"mrz": mrz}, headers=partner.headers)
    month = month_period(datetime.now(UTC)).label

    code, out = run(capsys, "usage", "report", partner.partner_id, "--month", month, "--json")
    assert code == 0
    report = json.loads(out)
    assert [(i["check"], i["calls"], i["billed"], i["refused"]) for i in report["items"]] == [
        ("document_validate", 4, 3, 1)
    ]
    code, out = run(capsys, "usage", "report", partner.partner_id, "--month", month)
    assert "document_validate" in out and "billed        3" in out

    assert main(["invoice", partner.partner_id, "--month", month]) == 2
    assert "is on no plan" in capsys.readouterr().err
    code, out = run(capsys, "plan", "set", "start-test", json.dumps(PLAN))
    assert code == 0 and json.loads(out)["monthly_fee"] == "99.00"
    code, out = run(capsys, "plan", "assign", partner.partner_id, "start-test")
    assert code == 0

    code, out = run(capsys, "invoice", partner.partner_id, "--month", month)
    result = json.loads(out)
    lines = {line["item"]: line for line in result["lines"]}
    assert lines["document_validate"]["quantity"] == 1  # 3 billed, 2 included
    assert result["total"] == "99.13" and result["final"] is False
    code, out = run(capsys, "invoice", partner.partner_id, "--month", month, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[-1]["item"] == "total" and rows[-1]["amount"] == "99.13"
    later = month_period(month_period(datetime.now(UTC)).end).label
    code, out = run(capsys, "invoice", partner.partner_id, "--month", later)
    assert json.loads(out)["total"] == "99.00"  # a month without usage: the fee alone

    code, out = run(capsys, "invoice", "--month", month)
    everyone = json.loads(out)
    mine = [s for s in everyone["statements"] if s["partner"]["id"] == partner.partner_id]
    assert len(mine) == 1 and mine[0]["total"] == "99.13"

    audit = services.pb.find(
        "audit_log", "actor = 'operator:cli' && target = {:t}", {"t": partner.partner_id}
    )
    assert {"operator.plan_assigned", "operator.usage_viewed", "operator.invoice_viewed"} <= {
        row["action"] for row in audit
    }


def test_a_partner_reads_its_own_statement(app: Flask, services, partner) -> None:
    from gateway.services.billing import assign_plan, save_plan

    client = app.test_client()
    month = month_period(datetime.now(UTC)).label
    none_yet = client.get(f"/api/usage/statement?month={month}", headers=partner.headers)
    assert_problem(none_yet, 409, "conflict")
    save_plan(services.pb, "own-statement", PLAN)
    assign_plan(services.pb, partner.partner_id, "own-statement")
    for _ in range(3):
        client.post("/v1/document/validate", json={"mrz": VALID_MRZ}, headers=partner.headers)
    mine = client.get(f"/api/usage/statement?month={month}", headers=partner.headers)
    assert mine.status_code == 200
    assert mine.get_json()["partner"]["id"] == partner.partner_id
    assert mine.get_json()["total"] == "99.13"
    as_csv = client.get(f"/api/usage/statement?month={month}&format=csv", headers=partner.headers)
    assert as_csv.mimetype == "text/csv" and as_csv.get_data(as_text=True).endswith("99.13\n")
    assert_problem(
        client.get("/api/usage/statement?month=2026-13", headers=partner.headers),
        422,
        "validation_failed",
    )


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("month", ["9999-12", "0001-01"])
def test_a_month_out_of_range_is_a_clear_error(
    app: Flask, partner, capsys: pytest.CaptureFixture[str], month: str
) -> None:
    """A month the calendar arithmetic cannot reach is a 422 / a CLI message, not a 500 or a
    traceback (9999-12 ends in the year 10000)."""
    response = app.test_client().get(f"/api/usage/statement?month={month}", headers=partner.headers)
    assert_problem(response, 422, "validation_failed")
    for argv in (
        ["invoice", "--month", month],
        ["usage", "report", partner.partner_id, "--month", month],
    ):
        assert main(argv) == 2
        assert "month" in capsys.readouterr().err


def test_a_new_plan_prices_its_month_on_and_leaves_closed_months_alone(
    app: Flask, services, partner
) -> None:
    """Moving a partner to another plan reprices the month it is made in (the last plan assigned
    in a month prices it) and the months after, never a month already closed."""
    from gateway.services.billing import assign_plan, partner_statement, save_plan

    now = datetime.now(UTC)
    this_month = month_period(now)
    last_month = month_period(this_month.start - timedelta(days=1))
    save_plan(services.pb, "cheap", {**PLAN, "monthly_fee": 10})
    save_plan(services.pb, "dear", {**PLAN, "monthly_fee": 100})
    save_plan(services.pb, "dearest", {**PLAN, "monthly_fee": 1000})

    def total(period) -> str:
        record = services.pb.get("partners", partner.partner_id)
        return partner_statement(services.pb, record, period, now=now)["total"]

    assign_plan(services.pb, partner.partner_id, "cheap")
    # As if "cheap" had been assigned last month: the month is closed, its statement final.
    record = services.pb.get("partners", partner.partner_id)
    [period] = record["plan_periods"]
    assert period["from"] == this_month.label
    services.pb.update(
        "partners", partner.partner_id, {"plan_periods": [{**period, "from": last_month.label}]}
    )
    assert total(last_month) == total(this_month) == "10.00"

    assign_plan(services.pb, partner.partner_id, "dear")
    assign_plan(services.pb, partner.partner_id, "dearest")  # the last of the month prices it

    assert total(last_month) == "10.00"
    assert total(this_month) == "1000.00"
    assert services.pb.get("partners", partner.partner_id)["plan_periods"] == [
        {"from": last_month.label, "plan": period["plan"]},
        {
            "from": this_month.label,
            "plan": services.pb.find_first("plans", where={"code": "dearest"})["id"],
        },
    ]
    earlier = month_period(last_month.start - timedelta(days=1))
    with pytest.raises(Conflict):  # before any plan: nothing to price it on
        total(earlier)
