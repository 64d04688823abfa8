"""The operator's ``ekyc`` commands for partners, keys, settings, backups and the daily jobs.

Thin on purpose: each command parses its arguments, calls one service function with operator
rights, and prints the result (JSON with ``--json`` where scripts need it). Secrets (API keys,
webhook signing secrets) are printed once, when they are made, and never again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.container import Services
from gateway.settings import Settings

# How the CLI's actions are named in the audit log (the operator API's: operator:<key id>).
CLI_ACTOR = "operator:cli"


def _audit(services: Services, action: str, target: str, detail: Any) -> None:
    """Record an operator action taken from the CLI (ids and codes only, never a secret)."""
    from gateway.services.audit import append_audit

    append_audit(services.pb, CLI_ACTOR, action, target, detail)


def _key_partner(services: Services, key_id: str) -> str:
    key = services.pb.find_first("api_keys", where={"key_id": key_id})
    return key["partner"] if key else ""


def _scopes(text: str) -> tuple[str, ...]:
    return tuple(scope.strip() for scope in text.split(",") if scope.strip())


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _json_argument(text: str, what: str) -> Any:
    """A JSON command-line argument, or the same 422 problem the API gives for bad JSON."""
    from gateway.errors import ValidationFailed

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"The {what} is not JSON: {exc}") from exc


def day_argument(text: str) -> datetime:
    """A ``YYYY-MM-DD`` argument from 2000 to 2999 (the days the reports take; the jobs add weeks
    to it) as midnight UTC; argparse's own error (exit 2) otherwise."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from error
    if not 2000 <= day.year <= 2999:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day from 2000 to 2999")
    return day


def positive_int_argument(text: str) -> int:
    """A whole number from 1; argparse's own error (exit 2) otherwise."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return value


def _partner_id(services: Services, ref: str) -> str:
    from gateway.services.partners import find_partner

    return find_partner(services.pb, ref)["id"]


def _print_new_key(created: dict[str, Any], as_json: bool) -> None:
    """A freshly minted key, the only time it is shown: one JSON line for scripts, or lines."""
    if as_json:
        print(json.dumps(created))
        return
    for name in ("partner_id", "slug", "key_id", "api_key", "signing_secret"):
        if name in created:
            print(f"{name + ':':<16}{created[name]}")
    print("Store the secrets now: they are not shown again.")


def partner_create(services: Services, args: argparse.Namespace) -> int:
    """Create a partner and print its first API key, once."""
    from gateway.services import partners

    scopes = _scopes(args.scopes)
    created = partners.create_partner(
        services.pb, args.name, scopes, data_key=services.settings.data_key
    )
    _audit(
        services,
        "operator.tenant_created",
        created["partner_id"],
        {"key_id": created["key_id"], "scopes": list(scopes), "plan": None},
    )
    _print_new_key(created, args.json)
    return 0


def partner_list(services: Services, args: argparse.Namespace) -> int:
    """Every partner with its id and slug, which (like its name) the other commands accept."""
    from gateway.services import partners

    rows = partners.list_partners(services.pb)
    if args.json:
        _print(rows)
        return 0
    for row in rows:
        print(f"{row['id']}  {row['slug']:<32} {row['status']:<10} {row['name']}")
    return 0


def key_create(services: Services, args: argparse.Namespace) -> int:
    """Add a key to a partner (e.g. before revoking the old one)."""
    from gateway.services import partners

    partner_id = _partner_id(services, args.partner)
    scopes = _scopes(args.scopes)
    created = partners.create_key(
        services.pb, partner_id, scopes, data_key=services.settings.data_key
    )
    _audit(
        services,
        "operator.key_created",
        partner_id,
        {"key_id": created["key_id"], "scopes": list(scopes)},
    )
    _print_new_key(created, args.json)
    return 0


def key_list(services: Services, args: argparse.Namespace) -> int:
    """A partner's keys: ids, scopes, use, revocation; never secrets."""
    from gateway.services import partners

    for key in partners.list_keys(services.pb, args.partner):
        state = f"revoked {key['revoked']}" if key["revoked"] else "active"
        print(
            f"{key['key_id']}  {','.join(key['scopes']):<24} created {key['created']}"
            f"  last used {key['last_used'] or '-'}  {state}"
        )
    return 0


def key_signing_secret(services: Services, args: argparse.Namespace) -> int:
    """Give a key a new signing secret (shown once); the old one stops working."""
    from gateway.services import partners

    created = partners.new_key_signing_secret(services.pb, services.settings.data_key, args.key_id)
    _audit(
        services,
        "operator.key_signing_secret_replaced",
        _key_partner(services, args.key_id),
        {"key_id": args.key_id},
    )
    _print_new_key(created, args.json)
    return 0


def key_revoke(services: Services, args: argparse.Namespace) -> int:
    """Revoke a key for good."""
    from gateway.services import partners

    partners.revoke_key(services.pb, args.key_id)
    partner_id = _key_partner(services, args.key_id)
    _audit(services, "operator.key_revoked", partner_id, {"key_id": args.key_id})
    print(f"revoked {args.key_id}")
    return 0


def settings_show(services: Services, args: argparse.Namespace) -> int:
    """A partner's effective settings (credentials redacted)."""
    from gateway.services.partner_settings import get_partner_settings

    _print(get_partner_settings(services.pb, _partner_id(services, args.partner)))
    return 0


def settings_set(services: Services, args: argparse.Namespace) -> int:
    """Apply a JSON merge patch to a partner's settings, validated, with operator rights."""
    from gateway.services.partner_settings import set_partner_settings

    patch = _json_argument(args.patch, "patch")
    _print(
        set_partner_settings(
            services.pb,
            _partner_id(services, args.partner),
            patch,
            actor="operator",
            operator=True,
        )
    )
    return 0


def expiry_run(services: Services, args: argparse.Namespace) -> int:
    """Run the document-expiry job now (or as of an earlier ``--date``)."""
    from gateway.errors import ValidationFailed
    from gateway.services.expiry import run_expiry_job

    now = datetime.now(UTC)
    if args.date is not None and args.date.date() > now.date():
        # As of a day ahead the job would expire documents still valid, and the notices it sent
        # early are remembered, so the real ones would never go (as `retention run` takes no day).
        raise ValidationFailed(
            "The expiry job does not run as of a day ahead: it would expire documents still valid",
            errors={"date": ["today (UTC) or earlier"]},
        )
    _print(run_expiry_job(services.pb, now=args.date or now).as_dict())
    return 0


def command_group(commands: argparse._SubParsersAction, name: str, help: str):
    """``ekyc <name> ...``: a command whose subcommands are required."""
    return commands.add_parser(name, help=help).add_subparsers(
        dest=f"{name}_command", required=True
    )


def subcommand(
    group: argparse._SubParsersAction,
    name: str,
    handler: Callable[[Services, argparse.Namespace], int],
    help: str,
    *positionals: str | tuple[str, str],
    json_flag: bool = False,
) -> argparse.ArgumentParser:
    """One subcommand run by ``handler``; ``positionals`` are names or (name, help) pairs."""
    parser = group.add_parser(name, help=help)
    for positional in positionals:
        arg_name, arg_help = positional if isinstance(positional, tuple) else (positional, None)
        parser.add_argument(arg_name, help=arg_help)
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(admin_handler=handler)
    return parser


PARTNER_REF = ("partner", "partner id, slug or name")


def add_admin_commands(commands: argparse._SubParsersAction) -> None:
    """Register the admin subcommands on the ``ekyc`` parser; each sets ``admin_handler``."""
    partner = command_group(commands, "partner", "manage partners")
    create = subcommand(
        partner,
        "create",
        partner_create,
        "create a partner and its first key",
        "name",
        json_flag=True,
    )
    create.add_argument("--scopes", default="partner", help="comma-separated: partner,reviewer")
    subcommand(partner, "list", partner_list, "every partner: id, slug, name", json_flag=True)

    key = command_group(commands, "key", "manage API keys")
    subcommand(key, "list", key_list, "list a partner's keys", PARTNER_REF)
    adding = subcommand(
        key, "create", key_create, "add a key to a partner", PARTNER_REF, json_flag=True
    )
    adding.add_argument("--scopes", default="partner")
    subcommand(key, "revoke", key_revoke, "revoke a key", "key_id")
    subcommand(
        key,
        "signing-secret",
        key_signing_secret,
        "a new signing secret for a key",
        "key_id",
        json_flag=True,
    )

    settings = command_group(commands, "settings", "per-partner settings")
    subcommand(settings, "show", settings_show, "a partner's effective settings", "partner")
    subcommand(
        settings,
        "set",
        settings_set,
        "apply a JSON merge patch",
        "partner",
        ("patch", 'e.g. \'{"thresholds": {"approve": 85}}\''),
    )

    expiry = command_group(commands, "expiry", "the document-expiry job")
    run = subcommand(expiry, "run", expiry_run, "run it now")
    run.add_argument(
        "--date", type=day_argument, default=None, help="as of this day, not ahead (YYYY-MM-DD)"
    )

    retention = command_group(commands, "retention", "the retention job")
    subcommand(retention, "run", retention_run, "erase what is past its date, now")

    backup = command_group(commands, "backup", "PocketBase backups (database and files)")
    subcommand(backup, "create", backup_create, "back up now")
    subcommand(backup, "list", backup_list, "list the backups")


def retention_run(services: Services, args: argparse.Namespace) -> int:
    """Run the retention job now (no other date: a date ahead would erase early)."""
    from gateway.services.retention import run_retention_job

    _print(run_retention_job(services.profiles).as_dict())
    return 0


def backup_create(services: Services, args: argparse.Namespace) -> int:
    """Back up PocketBase's data now; say where it is and what it does not hold."""
    name = f"ekyc_{datetime.now(UTC):%Y%m%d_%H%M%S}.zip"
    services.pb.create_backup(name)
    [made] = [item for item in services.pb.backups() if item["key"] == name]
    _print(made)
    print(
        f"In pb_data/backups/ of the PocketBase at {services.settings.pocketbase_url}"
        " (EKYC_HOME/pb_data under `ekyc up`); download or restore it in the admin UI,"
        " Settings > Backups.\n"
        "Not in it: EKYC_HOME/secrets.json (or your EKYC_DATA_KEY and EKYC_LINK_SECRET). Without"
        " the data key, the document numbers and webhook secrets it holds cannot be read: keep"
        " the key too, apart from the backup.",
        file=sys.stderr,
    )
    return 0


def backup_list(services: Services, args: argparse.Namespace) -> int:
    """The backups PocketBase holds, newest first."""
    _print(sorted(services.pb.backups(), key=lambda item: item["modified"], reverse=True))
    return 0


def run_admin_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run the admin command ``args`` names."""
    return args.admin_handler(Services.build(settings), args)
