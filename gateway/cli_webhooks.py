"""The operator's ``ekyc webhooks`` commands: partners' endpoints, deliveries and replays.

Like the other admin commands: one service call each with operator rights; an endpoint's signing
secret is printed once, when it is made or rotated.
"""

from __future__ import annotations

import argparse

from gateway.cli_admin import _partner_id, _print, _scopes, command_group, subcommand
from gateway.container import Services
from gateway.schemas.webhooks import DELIVERY_STATUSES


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
            {"enabled": args.webhooks_command == "enable"},
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


def add_webhook_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``ekyc webhooks ...`` on the ``ekyc`` parser."""
    hooks = command_group(commands, "webhooks", "manage partners' webhook endpoints")
    add = subcommand(
        hooks,
        "add",
        webhooks_add,
        "register an endpoint (prints its secret once)",
        "partner",
        "url",
    )
    add.add_argument("--events", default="*", help="comma-separated event names, or *")
    subcommand(hooks, "list", webhooks_list, "a partner's endpoints", "partner")
    rotate = subcommand(hooks, "rotate", webhooks_rotate, "add a new signing secret", "endpoint")
    rotate.add_argument("--overlap-s", type=int, default=86_400)
    for name in ("enable", "disable"):
        subcommand(hooks, name, webhooks_enable, f"{name} an endpoint", "endpoint")
    subcommand(hooks, "remove", webhooks_remove, "remove an endpoint", "endpoint")
    deliveries = subcommand(
        hooks, "deliveries", webhooks_deliveries, "a partner's recent deliveries", "partner"
    )
    deliveries.add_argument("--status", choices=DELIVERY_STATUSES, default=None)
    subcommand(hooks, "replay", webhooks_replay, "send a delivery again", "delivery")
    subcommand(hooks, "sweep", webhooks_sweep, "deliver what is due now")
