"""The operator's ``ekyc`` commands for partners, keys, webhooks, settings and the daily jobs.

Thin on purpose: each command parses its arguments, calls one service function with operator
rights, and prints the result (JSON with ``--json`` where scripts need it). Secrets (API keys,
webhook signing secrets) are printed once, when they are made, and never again.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def webhooks_add(services: Services, args: argparse.Namespace) -> int:
    """Register a webhook endpoint; prints its signing secret once."""
    from gateway.services.webhooks.endpoints import create_endpoint

    events = ["*"] if args.events.strip() == "*" else _scopes(args.events)
    _print(
        create_endpoint(
            services.pb,
            services.settings.data_key,
            _partner_id(services, args.partner),
            args.url,
            list(events),
            allow_private=services.settings.webhook_allow_private,
        )
    )
    return 0


def webhooks_list(services: Services, args: argparse.Namespace) -> int:
    """A partner's webhook endpoints."""
    from gateway.services.webhooks.endpoints import list_endpoints

    _print(list_endpoints(services.pb, _partner_id(services, args.partner)))
    return 0


def webhooks_rotate(services: Services, args: argparse.Namespace) -> int:
    """A new signing secret; the old one keeps signing for ``--overlap-s``."""
    from gateway.services.webhooks.endpoints import rotate_secret

    _print(
        rotate_secret(
            services.pb,
            services.settings.data_key,
            None,
            args.endpoint,
            overlap_s=args.overlap_s,
        )
    )
    return 0


def webhooks_enable(services: Services, args: argparse.Namespace) -> int:
    """Enable or disable an endpoint."""
    from gateway.services.webhooks.endpoints import update_endpoint

    _print(
        update_endpoint(
            services.pb,
            None,
            args.endpoint,
            {"enabled": args.webhook_command == "enable"},
            allow_private=services.settings.webhook_allow_private,
        )
    )
    return 0


def webhooks_remove(services: Services, args: argparse.Namespace) -> int:
    """Remove an endpoint and its deliveries."""
    from gateway.services.webhooks.endpoints import delete_endpoint

    delete_endpoint(services.pb, None, args.endpoint)
    print(f"removed {args.endpoint}")
    return 0


def webhooks_deliveries(services: Services, args: argparse.Namespace) -> int:
    """A partner's recent deliveries."""
    from gateway.services.webhooks.delivery_views import list_deliveries

    _print(list_deliveries(services.pb, _partner_id(services, args.partner), status=args.status))
    return 0


def webhooks_replay(services: Services, args: argparse.Namespace) -> int:
    """Send a delivery again with the same webhook-id."""
    from gateway.services.webhooks.delivery_views import replay_delivery

    _print(replay_delivery(services.pb, None, args.delivery))
    return 0


def webhooks_sweep(services: Services, args: argparse.Namespace) -> int:
    """Dispatch pending events and attempt due deliveries now (what the worker does each minute)."""
    from gateway.services.webhooks.delivery import sweep
    from gateway.worker.webhook_tasks import delivery_context

    _print(sweep(delivery_context(services)))
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
    """Run the document-expiry job now (or as of ``--date``)."""
    from gateway.services.expiry import run_expiry_job

    now = (
        datetime.strptime(args.date, "%Y-%m-%d").replace(tzinfo=UTC)
        if args.date
        else datetime.now(UTC)
    )
    _print(run_expiry_job(services.pb, now=now).as_dict())
    return 0


def add_admin_commands(commands: argparse._SubParsersAction) -> None:
    """Register the admin subcommands on the ``ekyc`` parser; each sets ``admin_handler``."""
    partner = commands.add_parser("partner", help="manage partners")
    partner_commands = partner.add_subparsers(dest="partner_command", required=True)
    create = partner_commands.add_parser("create", help="create a partner and its first key")
    create.add_argument("name")
    create.add_argument("--scopes", default="partner", help="comma-separated: partner,reviewer")
    create.add_argument("--json", action="store_true")
    create.set_defaults(admin_handler=partner_create)
    partner_listing = partner_commands.add_parser("list", help="every partner: id, slug, name")
    partner_listing.add_argument("--json", action="store_true", help="print JSON")
    partner_listing.set_defaults(admin_handler=partner_list)

    key = commands.add_parser("key", help="manage API keys")
    key_commands = key.add_subparsers(dest="key_command", required=True)
    listing = key_commands.add_parser("list", help="list a partner's keys")
    listing.add_argument("partner", help="partner id, slug or name")
    listing.set_defaults(admin_handler=key_list)
    adding = key_commands.add_parser("create", help="add a key to a partner")
    adding.add_argument("partner", help="partner id, slug or name")
    adding.add_argument("--scopes", default="partner")
    adding.add_argument("--json", action="store_true")
    adding.set_defaults(admin_handler=key_create)
    revoking = key_commands.add_parser("revoke", help="revoke a key")
    revoking.add_argument("key_id")
    revoking.set_defaults(admin_handler=key_revoke)
    signing = key_commands.add_parser("signing-secret", help="a new signing secret for a key")
    signing.add_argument("key_id")
    signing.add_argument("--json", action="store_true", help="print JSON")
    signing.set_defaults(admin_handler=key_signing_secret)

    webhooks = commands.add_parser("webhooks", help="manage partners' webhook endpoints")
    hooks = webhooks.add_subparsers(dest="webhook_command", required=True)
    add = hooks.add_parser("add", help="register an endpoint (prints its secret once)")
    add.add_argument("partner")
    add.add_argument("url")
    add.add_argument("--events", default="*", help="comma-separated event names, or *")
    add.set_defaults(admin_handler=webhooks_add)
    hook_list = hooks.add_parser("list", help="a partner's endpoints")
    hook_list.add_argument("partner")
    hook_list.set_defaults(admin_handler=webhooks_list)
    rotate = hooks.add_parser("rotate", help="add a new signing secret")
    rotate.add_argument("endpoint")
    rotate.add_argument("--overlap-s", type=int, default=86_400)
    rotate.set_defaults(admin_handler=webhooks_rotate)
    for name in ("enable", "disable"):
        toggle = hooks.add_parser(name, help=f"{name} an endpoint")
        toggle.add_argument("endpoint")
        toggle.set_defaults(admin_handler=webhooks_enable)
    remove = hooks.add_parser("remove", help="remove an endpoint")
    remove.add_argument("endpoint")
    remove.set_defaults(admin_handler=webhooks_remove)
    deliveries = hooks.add_parser("deliveries", help="a partner's recent deliveries")
    deliveries.add_argument("partner")
    deliveries.add_argument("--status", default=None)
    deliveries.set_defaults(admin_handler=webhooks_deliveries)
    replay = hooks.add_parser("replay", help="send a delivery again")
    replay.add_argument("delivery")
    replay.set_defaults(admin_handler=webhooks_replay)
    hooks.add_parser("sweep", help="deliver what is due now").set_defaults(
        admin_handler=webhooks_sweep
    )

    settings = commands.add_parser("settings", help="per-partner settings")
    settings_commands = settings.add_subparsers(dest="settings_command", required=True)
    show = settings_commands.add_parser("show", help="a partner's effective settings")
    show.add_argument("partner")
    show.set_defaults(admin_handler=settings_show)
    change = settings_commands.add_parser("set", help="apply a JSON merge patch")
    change.add_argument("partner")
    change.add_argument("patch", help='e.g. \'{"thresholds": {"approve": 85}}\'')
    change.set_defaults(admin_handler=settings_set)

    expiry = commands.add_parser("expiry", help="the document-expiry job")
    expiry_commands = expiry.add_subparsers(dest="expiry_command", required=True)
    run = expiry_commands.add_parser("run", help="run it now")
    run.add_argument("--date", default=None, help="as of this day (YYYY-MM-DD)")
    run.set_defaults(admin_handler=expiry_run)

    retention = commands.add_parser("retention", help="the retention job")
    retention_commands = retention.add_subparsers(dest="retention_command", required=True)
    erase_now = retention_commands.add_parser("run", help="erase what is past its date, now")
    erase_now.set_defaults(admin_handler=retention_run)

    backup = commands.add_parser("backup", help="PocketBase backups (database and files)")
    backup_commands = backup.add_subparsers(dest="backup_command", required=True)
    backup_commands.add_parser("create", help="back up now").set_defaults(
        admin_handler=backup_create
    )
    backup_commands.add_parser("list", help="list the backups").set_defaults(
        admin_handler=backup_list
    )


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
