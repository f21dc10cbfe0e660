"""The call log: recent calls with the path each took through its workflow, and the
recordings its ``record`` steps left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, select

from ivr.db import calls
from ringflow.database import Database, stored_time
from workflows.db import runs


@dataclass(frozen=True, slots=True)
class CallRecording:
    """A recording a ``record`` step kept: Twilio's ``RecordingUrl`` and its seconds."""

    url: str
    duration: int | None


@dataclass(frozen=True, slots=True)
class CallLogEntry:
    """One call as the log shows it (times aware, in UTC)."""

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
    run_id: str | None = None
    ended_at: datetime | None = None
    agent: str | None = None
    """Who took the call: the agent a ``connect`` step reached (or the number a ``dial``
    reached)."""
    recordings: tuple[CallRecording, ...] = ()
    """What its ``record`` steps kept, in order."""


def _calls(*conditions: ColumnElement[bool]) -> Select[Any]:
    return (
        select(
            calls.c.sid,
            calls.c.caller,
            calls.c.called,
            calls.c.workflow_id,
            calls.c.run_id,
            runs.c.state,
            calls.c.status,
            calls.c.outcome,
            calls.c.duration,
            calls.c.started_at,
            calls.c.ended_at,
        )
        .select_from(calls.outerjoin(runs, calls.c.run_id == runs.c.id))
        .where(*conditions)
    )


def _entry(row: Row[Any]) -> CallLogEntry:
    state = row.state if isinstance(row.state, dict) else {}
    return CallLogEntry(
        sid=row.sid,
        started_at=stored_time(row.started_at),
        caller=row.caller,
        called=row.called,
        workflow_id=row.workflow_id,
        path=tuple(str(step) for step in state.get("path", ())),
        keys=tuple(str(key) for key in state.get("keys", ())),
        status=row.status,
        outcome=row.outcome,
        duration=row.duration,
        run_id=row.run_id,
        ended_at=None if row.ended_at is None else stored_time(row.ended_at),
        agent=_agent(state),
        recordings=kept_recordings(state.get("facts")),
    )


def _agent(state: dict[str, Any]) -> str | None:
    facts = state.get("facts")
    agent = facts.get("agent") if isinstance(facts, dict) else None
    return str(agent) if agent else None


def kept_recordings(facts: object) -> tuple[CallRecording, ...]:
    """The recordings a run's facts keep (``facts["recordings"]``, written by the ``record``
    step), in order."""
    kept = facts.get("recordings") if isinstance(facts, Mapping) else None
    if not isinstance(kept, list):
        return ()
    found = []
    for recording in kept:
        # Stored state outlives code versions: anything without a URL is no recording.
        if not isinstance(recording, dict) or not recording.get("url"):
            continue
        duration = recording.get("duration")
        seconds = duration if isinstance(duration, int) and not isinstance(duration, bool) else None
        found.append(CallRecording(str(recording["url"]), seconds))
    return tuple(found)


def find_calls(
    conn: Connection,
    *,
    limit: int,
    outcome: str | None = None,
    since: datetime | None = None,
) -> list[CallLogEntry]:
    """The latest ``limit`` calls, newest first; only those that ended with ``outcome`` and
    started at or after ``since``, when given."""
    conditions: list[ColumnElement[bool]] = []
    if outcome is not None:
        conditions.append(calls.c.outcome == outcome)
    if since is not None:
        conditions.append(calls.c.started_at >= since)
    query = _calls(*conditions).order_by(calls.c.started_at.desc(), calls.c.sid).limit(limit)
    return [_entry(row) for row in conn.execute(query)]


def call_by_sid(conn: Connection, sid: str) -> CallLogEntry | None:
    """The call with Twilio's CallSid ``sid``, if there is one."""
    row = conn.execute(_calls(calls.c.sid == sid)).first()
    return None if row is None else _entry(row)


async def recent_calls(db: Database, limit: int = 50) -> list[CallLogEntry]:
    """The latest ``limit`` calls, newest first."""
    return await db.read(lambda conn: find_calls(conn, limit=limit))


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
