"""The operator's ``ekyc`` commands for usage, plans, invoices and operator keys.

Each goes through ``OperatorService`` with the actor ``operator:cli``, so the CLI's actions land
in the audit log exactly as the operator API's do.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime

from gateway.cli_admin import (
    CLI_ACTOR,
    PARTNER_REF,
    _json_argument,
    _partner_id,
    _print,
    command_group,
    subcommand,
)
from gateway.container import Services


def usage_report(services: Services, args: argparse.Namespace) -> int:
    """A partner's usage in a month, per check (or per day with ``--by-day``)."""
    from gateway.services.quotas import parse_month

    period = parse_month(args.month)
    last_day = date.fromordinal(period.end.date().toordinal() - 1)
    report = services.operator.usage(
        CLI_ACTOR,
        _partner_id(services, args.partner),
        period.start.date(),
        last_day,
        "day" if args.by_day else "check",
        now=datetime.now(UTC),
    )
    if args.json:
        _print(report)
        return 0
    print(f"usage {report['from']} .. {report['to']}")
    for item in report["items"]:
        day = f"{item['day']}  " if "day" in item else ""
        print(
            f"{day}{item['check']:<18} calls {item['calls']:>8}  billed {item['billed']:>8}"
            f"  refused {item['refused']:>6}"
        )
    totals = report["totals"]
    print(f"{'total':<18} calls {totals['calls']:>8}  billed {totals['billed']:>8}")
    return 0


def invoice(services: Services, args: argparse.Namespace) -> int:
    """The invoice statement of a partner (or every partner on a plan) for a month."""
    from gateway.services.billing import statement_csv

    now = datetime.now(UTC)
    if args.partner:
        result = services.operator.statement(
            CLI_ACTOR, _partner_id(services, args.partner), args.month, now=now
        )
        statements = [result]
    else:
        result = services.operator.statements(CLI_ACTOR, args.month, now=now)
        statements = result["statements"]
    if args.format == "csv":
        print(statement_csv(statements), end="")
    else:
        _print(result)
    return 0


def plan_set(services: Services, args: argparse.Namespace) -> int:
    """Create or replace a plan from its JSON."""
    body = _json_argument(args.plan, "plan")
    plan, _created = services.operator.save_plan(CLI_ACTOR, args.code, body)
    _print(plan)
    return 0


def plan_list(services: Services, args: argparse.Namespace) -> int:
    """Every plan."""
    _print(services.operator.list_plans(CLI_ACTOR)["items"])
    return 0


def plan_assign(services: Services, args: argparse.Namespace) -> int:
    """Invoice a partner on a plan (``none``: on no plan)."""
    code = None if args.code == "none" else args.code
    _print(services.operator.set_plan(CLI_ACTOR, _partner_id(services, args.partner), code))
    return 0


def operator_key_create(services: Services, args: argparse.Namespace) -> int:
    """A new operator key (admin scope only), shown once."""
    from gateway.services.operator import create_operator_key

    created = create_operator_key(services.pb, actor=CLI_ACTOR, data_key=services.settings.data_key)
    if args.json:
        print(json.dumps(created))
    else:
        for name in ("key_id", "api_key", "signing_secret"):
            print(f"{name + ':':<16}{created[name]}")
        print(
            "Store the secrets now: they are not shown again. The key works on /api/operator only."
        )
    return 0


def add_billing_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``usage``, ``invoice``, ``plan`` and ``operator`` on the ``ekyc`` parser."""
    usage = command_group(commands, "usage", "metered usage")
    report = subcommand(
        usage, "report", usage_report, "a partner's usage in a month", PARTNER_REF, json_flag=True
    )
    report.add_argument("--month", required=True, help="YYYY-MM")
    report.add_argument("--by-day", action="store_true", help="one line per day and check")

    statement = commands.add_parser("invoice", help="invoice statements priced from plans")
    statement.add_argument("partner", nargs="?", help="partner id, slug or name (default: all)")
    statement.add_argument("--month", required=True, help="YYYY-MM")
    statement.add_argument("--format", choices=("json", "csv"), default="json")
    statement.set_defaults(admin_handler=invoice)

    plan = command_group(commands, "plan", "plans: monthly fee, included units, unit prices")
    plan_example = (
        'e.g. \'{"name": "Start", "currency": "EUR", "monthly_fee": 99, '
        '"included": {"verification": 100}, "unit_prices": {"verification": 0.5}}\''
    )
    subcommand(plan, "set", plan_set, "create or replace a plan", "code", ("plan", plan_example))
    subcommand(plan, "list", plan_list, "every plan")
    subcommand(
        plan,
        "assign",
        plan_assign,
        "invoice a partner on a plan",
        "partner",
        ("code", "a plan code, or none"),
    )

    operator = command_group(commands, "operator", "operator API keys")
    key = operator.add_parser("key", help="operator keys").add_subparsers(
        dest="operator_key_command", required=True
    )
    subcommand(
        key,
        "create",
        operator_key_create,
        "a new operator key (admin scope), once",
        json_flag=True,
    )
