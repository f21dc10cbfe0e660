"""``ringflow hours``: business hours now, and opening or closing a schedule by hand."""

from __future__ import annotations

import argparse
from pathlib import Path

from ringflow.cli.common import Commands, add_command, print_from_database
from ringflow.clock import system_clock
from ringflow.database import Database
from ringflow.resources.catalog import load_schedules
from ringflow.settings import load_settings
from workflows.schedules import ScheduleBook
from workflows.schedules.overrides import clear_override, load_overrides, set_override
from workflows.schedules.report import describe_status
from workflows.schedules.stored import load_stored


def add_to(commands: Commands) -> None:
    """Add ``hours``."""
    hours = add_command(
        commands,
        "hours",
        summary="show business hours; open or close a schedule now (until its next change)",
        description=(
            "Show whether each schedule is open or closed, and until when. `open` or\n"
            "`closed` forces a schedule that way until its next natural change, for every\n"
            "server process on this database (they notice within seconds); `auto` follows\n"
            "the hours again. Schedules are the files in the flows folder's schedules/ and\n"
            "those stored through the admin API."
        ),
        examples=(
            "  $ ringflow hours\n"
            "  $ ringflow hours support closed     # closed now, until it would open\n"
            "  $ ringflow hours support auto"
        ),
    )
    hours.add_argument("name", nargs="?", help="the schedule (default: show all)")
    hours.add_argument(
        "action",
        nargs="?",
        choices=["open", "closed", "auto"],
        help="open now / closed now until the next boundary; auto: follow the hours again",
    )
    hours.add_argument(
        "--flows", type=Path, metavar="DIR", help="folder of workflow files (its schedules/)"
    )
    hours.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Show (and change) the schedules."""
    settings = load_settings(flows_dir=args.flows)
    files = load_schedules(settings)

    async def table(db: Database) -> str:
        now = system_clock()
        stored = await db.read(load_stored)
        book = ScheduleBook({**stored, **{n: s for n in files.names if (s := files.get(n))}})
        if args.name is not None and args.name not in book.names:
            known = ", ".join(sorted(book.names)) or "none"
            raise SystemExit(f"error: no schedule {args.name!r} (schedules: {known})")
        if args.action is not None:
            name = args.name
            if args.action == "auto":
                await db.write(lambda conn: clear_override(conn, name))
            else:
                is_open = args.action == "open"
                await db.write(lambda conn: set_override(conn, name, is_open, now, "cli"))
        current = book.with_overrides(await db.read(load_overrides))
        names = [args.name] if args.name is not None else sorted(current.names)
        lines = [describe_status(current, name, now) for name in names]
        return "\n".join(lines) or "no schedules (add files to the flows folder's schedules/)"

    return print_from_database(table)
