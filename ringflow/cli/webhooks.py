"""``ringflow webhooks``: outbound webhook subscriptions, made and removed on the server's
database (the same as ``POST /api/webhooks``)."""

from __future__ import annotations

import argparse
import sys

from ringflow.cli.common import Commands, add_command, print_from_database
from ringflow.clock import system_clock
from ringflow.database import Database
from ringflow.outbound import OutboundPolicy, OutboundRefused
from ringflow.settings import load_settings
from workflows.webhooks import EVENT_TYPES, FAMILIES
from workflows.webhooks.subscriptions import (
    SubscriptionRefused,
    create_subscription,
    delete_subscription,
    list_subscriptions,
    recent_deliveries,
)


def add_to(commands: Commands) -> None:
    """Add ``webhooks``."""
    hooks = add_command(
        commands,
        "webhooks",
        summary="outbound webhooks: create URL --event TYPE, list, deliveries ID, delete ID",
        description=(
            "Subscribe a URL to conversation, call and message events. Each delivery is a\n"
            "signed POST (Standard Webhooks: webhook-id, webhook-timestamp,\n"
            "webhook-signature) retried with backoff until the receiver answers 2xx. The\n"
            "signing secret is printed once, when the subscription is made.\n"
            "Event types: " + ", ".join((*FAMILIES, *EVENT_TYPES))
        ),
        examples=(
            "  $ ringflow webhooks create https://crm.example/hooks --event conversation.*\n"
            "  $ ringflow webhooks list\n"
            "  $ ringflow webhooks deliveries 1\n"
            "  $ ringflow webhooks delete 1"
        ),
    )
    hooks.add_argument("action", choices=["create", "list", "deliveries", "delete"])
    hooks.add_argument("target", nargs="?", help="the URL (create) or the subscription's id")
    hooks.add_argument(
        "--event",
        action="append",
        default=[],
        help="an event type or family to deliver (repeat for several)",
    )
    hooks.add_argument("--description", help="a note for people")
    hooks.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Create, list, show deliveries or delete."""
    if args.action != "list" and not args.target:
        print(f"error: ringflow webhooks {args.action} needs a URL or an id", file=sys.stderr)
        return 2
    if args.action in ("deliveries", "delete") and not str(args.target).isdigit():
        print("error: give the subscription's number (see ringflow webhooks list)", file=sys.stderr)
        return 2

    async def act(db: Database) -> str:
        now = system_clock()
        if args.action == "create":
            policy = OutboundPolicy(None, load_settings().outbound_allowed_networks)
            try:
                policy.check_url(args.target)
                made, secret = await db.write(
                    lambda conn: create_subscription(
                        conn, args.target, args.event, now, args.description
                    )
                )
            except (OutboundRefused, SubscriptionRefused) as error:
                raise SystemExit(f"error: {error}") from None
            return (
                f"subscription {made.id}: {made.url} ({', '.join(made.events)})\n"
                f"{secret}\n(the signing secret: shown this once)"
            )
        if args.action == "delete":
            if not await db.write(lambda conn: delete_subscription(conn, int(args.target))):
                raise SystemExit(f"error: no subscription {args.target}")
            return f"subscription {args.target} deleted"
        if args.action == "deliveries":
            rows = await db.read(lambda conn: recent_deliveries(conn, int(args.target)))
            return (
                "\n".join(
                    f"{d.created_at:%Y-%m-%d %H:%M:%S} {d.id} {d.type:<32} {d.status:<9}"
                    f" attempts {d.attempts} last {d.last_status or '-'} {d.last_error or ''}"
                    for d in rows
                )
                or "no deliveries"
            )
        listed = await db.read(list_subscriptions)
        return (
            "\n".join(
                f"{s.id:>4} {s.url}  {', '.join(s.events)}"
                + (f"  DISABLED: {s.disabled_reason}" if s.disabled_at else "")
                for s in listed
            )
            or "no webhook subscriptions"
        )

    return print_from_database(act)
