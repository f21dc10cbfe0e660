"""The call log: recent calls with the path each took through its workflow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ivr.db import calls
from ringflow.database import Database
from workflows.db import runs


@dataclass(frozen=True, slots=True)
class CallLogEntry:
    """One call as the log shows it."""

    sid: str
    started_at: datetime
    caller: str
    called: str
    workflow_id: str | None
    path: tuple[str, ...]
    keys: tuple[str, ...]
    status: str
    outcome: str | None
    duration: int | None


async def recent_calls(db: Database, limit: int = 50) -> list[CallLogEntry]:
    """The latest ``limit`` calls, newest first."""
    query = (
        select(
            calls.c.sid,
            calls.c.started_at,
            calls.c.caller,
            calls.c.called,
            calls.c.workflow_id,
            runs.c.state,
            calls.c.status,
            calls.c.outcome,
            calls.c.duration,
        )
        .select_from(calls.outerjoin(runs, calls.c.run_id == runs.c.id))
        .order_by(calls.c.started_at.desc(), calls.c.sid)
        .limit(limit)
    )
    rows = await db.read(lambda conn: conn.execute(query).all())
    entries = []
    for row in rows:
        state = row.state or {}
        entries.append(
            CallLogEntry(
                sid=row.sid,
                started_at=row.started_at,
                caller=row.caller,
                called=row.called,
                workflow_id=row.workflow_id,
                path=tuple(state.get("path", ())),
                keys=tuple(state.get("keys", ())),
                status=row.status,
                outcome=row.outcome,
                duration=row.duration,
            )
        )
    return entries


COLUMNS = ("time (UTC)", "from", "to", "workflow", "path", "keys", "outcome", "secs")


def format_calls(entries: Sequence[CallLogEntry]) -> str:
    """A plain-text table, one call a line."""
    if not entries:
        return "no calls yet"
    rows = [COLUMNS] + [
        (
            entry.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.caller,
            entry.called,
            entry.workflow_id or "-",
            " > ".join(entry.path) or "-",
            " ".join(entry.keys) or "-",
            entry.outcome or f"({entry.status})",
            "-" if entry.duration is None else str(entry.duration),
        )
        for entry in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
