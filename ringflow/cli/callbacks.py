"""``ringflow callbacks list|cancel ID``: callback requests from the command line.

Like ``ringflow jobs``, it works on the configured database directly (no server, no token),
with the rules of :mod:`workflows.callbacks.requests`, as the admin API. It never upgrades
the schema. Exit status: 0; 1 when the request does not exist or is not pending.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import Connection

from ringflow.cli.common import Commands, add_command
from ringflow.clock import Clock, system_clock
from ringflow.database import open_database
from ringflow.migrate import require_current
from ringflow.private_files import private_sqlite_file
from ringflow.settings import load_settings
from workflows.callbacks.db import STATUSES
from workflows.callbacks.errors import NotPending, UnknownCallback
from workflows.callbacks.requests import Callback, cancel_callback, list_callbacks

REASON_WIDTH = 50


def format_callbacks(found: list[Callback], *, full_numbers: bool = False) -> str:
    """Requests as a table in line order; a sentence when there are none. Customers'
    numbers are masked unless ``full_numbers``."""
    if not found:
        return "no callback requests"
    lines = [
        f"{'id':>8}  {'team':<16} {'customer':<16} {'requested (UTC)':<16} "
        f"{'status':<10} {'tries':>5}  reason"
    ]
    for item in found:
        number = item.customer if full_numbers else mask_phone_number(item.customer)
        tries = f"{item.attempts}/{item.max_attempts}"
        reason = " ".join((item.reason or "").split())[:REASON_WIDTH]
        lines.append(
            f"{item.id:>8}  {item.team:<16} {number:<16} {item.requested_at:%Y-%m-%d %H:%M} "
            f"{item.status:<10} {tries:>5}  {reason}"
        )
    return "\n".join(lines)


def mask_phone_number(number: str) -> str:
    """A number as the logs show it: ``+14155550123`` -> ``+14***23``."""
    digits = "".join(c for c in number if c.isdigit())
    return number if len(digits) < 7 else f"+{digits[:2]}***{digits[-2:]}"


async def _on_database(work: Callable[[Connection], Any], *, write: bool) -> Any:
    url = load_settings().database
    private_sqlite_file(url)
    db = await open_database(url)
    try:
        await require_current(db)
        return await (db.write(work) if write else db.read(work))
    finally:
        await db.close()


async def _run(args: argparse.Namespace, now: datetime) -> str:
    if args.action == "list":
        found = await _on_database(
            lambda conn: list_callbacks(
                conn,
                status=[args.status] if args.status else [],
                team=args.team,
                limit=args.limit,
            ),
            write=False,
        )
        return format_callbacks(found, full_numbers=args.full_numbers)
    cancelled = await _on_database(lambda conn: cancel_callback(conn, args.id, now), write=True)
    return f"callback {cancelled.id} ({cancelled.team}) cancelled"


def run_callbacks_command(
    args: argparse.Namespace, out: TextIO | None = None, clock: Clock = system_clock
) -> int:
    """Run ``ringflow callbacks ...``; its exit status."""
    try:
        print(asyncio.run(_run(args, clock())), file=out or sys.stdout)
    except UnknownCallback as error:
        print(f"error: no callback request {error}", file=sys.stderr)
        return 1
    except NotPending as error:
        print(f"error: {error}: only a pending one can be cancelled", file=sys.stderr)
        return 1
    return 0


def _callback_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 2**63 - 1:
        raise argparse.ArgumentTypeError(f"a callback id is a number, not {raw!r}")
    return int(raw)


def _limit(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 10_000:
        raise argparse.ArgumentTypeError(f"a number from 1 to 10000, not {raw!r}")
    return int(raw)


def add_to(commands: Commands) -> None:
    """Add ``callbacks`` to the ``ringflow`` command line."""
    callbacks = add_command(
        commands,
        "callbacks",
        summary="callback requests on the configured database: list, cancel ID",
        description=(
            "Customers who asked to be called back wait in their team's line until an agent\n"
            "is free during the team's hours. List them (oldest request first) or cancel a\n"
            "pending one. Works on the configured database directly: no server or token."
        ),
        examples=(
            "  $ ringflow callbacks list --status pending --team support\n"
            "  $ ringflow callbacks cancel 42"
        ),
    )
    actions = callbacks.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="callback requests, oldest request first")
    listing.add_argument("--status", choices=STATUSES, help="only requests in this status")
    listing.add_argument("--team", help="only this team's requests")
    listing.add_argument("--limit", type=_limit, default=100, help="how many (default 100)")
    listing.add_argument(
        "--full-numbers", action="store_true", help="show customers' numbers unmasked"
    )
    cancel = actions.add_parser("cancel", help="cancel a pending callback request")
    cancel.add_argument("id", type=_callback_id, metavar="ID")
    callbacks.set_defaults(run=run_callbacks_command)
