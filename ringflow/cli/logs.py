"""``ringflow calls`` and ``ringflow messages``: the call log and the message log, from the
database."""

from __future__ import annotations

import argparse

from ivr.calllog import format_calls, recent_calls
from ringflow.cli.common import Commands, add_command, print_from_database
from ringflow.database import Database
from sms.messages import format_messages, recent_messages


def add_to(commands: Commands) -> None:
    """Add ``calls`` and ``messages``."""
    calls = add_command(
        commands,
        "calls",
        summary="show the call log",
        description=(
            "The most recent calls, newest first: time, from, to, workflow, the path it\n"
            "took, the keys pressed, the outcome and how long it lasted."
        ),
        examples="  $ ringflow calls --limit 10",
    )
    calls.add_argument("--limit", type=int, default=50, help="how many calls (default 50)")
    calls.set_defaults(run=show_calls)

    texts = add_command(
        commands,
        "messages",
        summary="show the message log",
        description=(
            "The most recent texts, newest first: time, direction, from, to, delivery\n"
            "status, segments and the text. Without Twilio credentials texts go to the\n"
            "local outbox and show here as sent."
        ),
        examples="  $ ringflow messages --limit 20",
    )
    texts.add_argument("--limit", type=int, default=50, help="how many messages (default 50)")
    texts.set_defaults(run=show_messages)


def show_calls(args: argparse.Namespace) -> int:
    """Print the call log."""

    async def table(db: Database) -> str:
        return format_calls(await recent_calls(db, args.limit))

    return print_from_database(table)


def show_messages(args: argparse.Namespace) -> int:
    """Print the message log."""

    async def table(db: Database) -> str:
        return format_messages(await recent_messages(db, args.limit))

    return print_from_database(table)
