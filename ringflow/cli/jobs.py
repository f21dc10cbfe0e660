"""``ringflow jobs dead|retry ID|cancel ID``: dead jobs from the command line.

Like ``ringflow token``, the command works on the configured database directly (the same
settings as ``ringflow serve``), so it needs no running server and no admin token; the rules
are :mod:`workflows.jobs.housekeeping`'s, as for the admin API. It never upgrades the schema:
a database that is not current is refused with what to do. Exit status: 0, 1 when the job does
not exist or is not dead.
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
from workflows.jobs.housekeeping import (
    JobNotDead,
    JobNotFound,
    JobRecord,
    cancel_dead,
    dead_jobs,
    retry_dead,
)

ERROR_WIDTH = 70


def format_dead(found: list[JobRecord]) -> str:
    """Dead jobs as a table, one a line; a sentence when there are none."""
    if not found:
        return "no dead jobs"
    lines = [f"{'id':>8}  {'kind':<16} {'died (UTC)':<16} {'attempts':>8}  last error"]
    for job in found:
        died = f"{job.finished_at:%Y-%m-%d %H:%M}" if job.finished_at else "-"
        error = " ".join((job.last_error or "").split())[:ERROR_WIDTH]
        attempts = f"{job.attempts}/{job.max_attempts}"
        lines.append(f"{job.id:>8}  {job.kind:<16} {died:<16} {attempts:>8}  {error}")
    return "\n".join(lines)


async def _on_database(work: Callable[[Connection], Any], *, write: bool) -> Any:
    url = load_settings().database
    private_sqlite_file(url)  # a SQLite file that is not there yet: made owner-only, as ever
    db = await open_database(url)
    try:
        await require_current(db)
        return await (db.write(work) if write else db.read(work))
    finally:
        await db.close()


async def _run(args: argparse.Namespace, now: datetime) -> str:
    if args.action == "dead":
        found = await _on_database(
            lambda conn: dead_jobs(conn, limit=args.limit, kind=args.kind), write=False
        )
        return format_dead(found)
    if args.action == "retry":
        job = await _on_database(lambda conn: retry_dead(conn, args.id, now=now), write=True)
        return f"job {job.id} ({job.kind}) queued again, due now"
    job = await _on_database(lambda conn: cancel_dead(conn, args.id, now=now), write=True)
    return f"job {job.id} ({job.kind}) cancelled"


def run_jobs_command(
    args: argparse.Namespace, out: TextIO | None = None, clock: Clock = system_clock
) -> int:
    """Run ``ringflow jobs ...``; its exit status (``out``: default standard output)."""
    try:
        print(asyncio.run(_run(args, clock())), file=out or sys.stdout)
    except (JobNotFound, JobNotDead) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _job_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 2**63 - 1:
        raise argparse.ArgumentTypeError(f"a job id is a number, not {raw!r}")
    return int(raw)


def _limit(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 10_000:
        raise argparse.ArgumentTypeError(f"a number from 1 to 10000, not {raw!r}")
    return int(raw)


def add_to(commands: Commands) -> None:
    """Add ``jobs`` to the ``ringflow`` command line (``commands``: its sub-parsers)."""
    jobs = add_command(
        commands,
        "jobs",
        summary="dead jobs on the configured database: list, retry ID, cancel ID",
        description=(
            "Later work (texts, timers, post-call workflows) runs as durable jobs; a job that\n"
            "failed for good or ran out of attempts is dead until you retry or cancel it.\n"
            "Works on the configured database directly: no server or token needed."
        ),
        examples=(
            "  $ ringflow jobs dead --kind sms.send\n"
            "  $ ringflow jobs retry 42\n"
            "  $ ringflow jobs cancel 42"
        ),
    )
    actions = jobs.add_subparsers(dest="action", required=True)
    dead = actions.add_parser("dead", help="list dead jobs, the latest to die first")
    dead.add_argument("--kind", help="only jobs of this kind, e.g. send_sms")
    dead.add_argument("--limit", type=_limit, default=50, help="how many (default 50)")
    retry = actions.add_parser("retry", help="queue a dead job again, due now")
    retry.add_argument("id", type=_job_id, metavar="ID")
    cancel = actions.add_parser("cancel", help="cancel a dead job (it is never retried)")
    cancel.add_argument("id", type=_job_id, metavar="ID")
    jobs.set_defaults(run=run_jobs_command)
