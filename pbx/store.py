"""PBX calls in the call log, and their post-call events: plain functions of a ``Connection``.

Every write is idempotent by the call's ``Linkedid`` (its log key ``ami-<Linkedid>``): a call
is inserted once (``ON CONFLICT DO NOTHING``), its outcome is set once (``WHERE outcome IS
NULL``), and the post-call event is queued in that same transaction only by the write that
set the outcome, with the dedupe key ``call-event:ami-<Linkedid>`` besides. A call seen again
after a reconnect (or by a second process that also follows the PBX) changes nothing twice.
The event is the voice channel's: a ``call.event`` job that the job worker hands to the
session service as ``CallEnded`` (``call.missed`` texts the caller...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pbx.calls import PbxCall
from ringflow.database import stored_time
from workflows.call_log import calls
from workflows.contacts import remember_numbers
from workflows.jobs import enqueue
from workflows.triggers import CALL_EVENT_JOB, OUTCOME_EVENTS

SID_PREFIX = "ami-"
_INSERT = {
    "sqlite": sqlite.insert(calls).on_conflict_do_nothing(index_elements=["sid"]),
    "postgresql": postgresql.insert(calls).on_conflict_do_nothing(index_elements=["sid"]),
}


def record_started(conn: Connection, call: PbxCall) -> bool:
    """Log a call that started; whether it is new."""
    row = {
        "sid": call.sid,
        "account_sid": None,
        "caller": call.caller,
        "called": call.called,
        "run_id": None,
        "workflow_id": None,
        "status": "ringing",
        "outcome": None,
        "duration": None,
        "started_at": call.started_at,
        "ended_at": None,
    }
    inserted = conn.execute(_INSERT[conn.dialect.name], row).rowcount == 1
    if inserted:
        remember_numbers(conn, [call.caller], now=call.started_at)
    return inserted


def record_answered(conn: Connection, call: PbxCall) -> None:
    """A person answered the call (its status goes to ``in-progress``)."""
    conn.execute(
        update(calls)
        .where(calls.c.sid == call.sid, calls.c.outcome.is_(None))
        .values(status="in-progress")
    )


def record_ended(conn: Connection, call: PbxCall, outcome: str, now: datetime) -> str | None:
    """Set the call's outcome, once, and queue its post-call event in the same transaction;
    the event queued (``call.missed``...), or None (no event for this outcome, or the
    outcome was already set)."""
    record_started(conn, call)  # a call that began and ended while the link was down
    duration = max(0, int((now - call.started_at).total_seconds()))
    changed = conn.execute(
        update(calls)
        .where(calls.c.sid == call.sid, calls.c.outcome.is_(None))
        .values(
            status="completed" if call.answered else "no-answer",
            outcome=outcome,
            duration=duration,
            ended_at=now,
        )
    ).rowcount
    event = OUTCOME_EVENTS.get(outcome)
    if not changed or event is None:
        return None
    enqueue(
        conn,
        CALL_EVENT_JOB,
        {"event": event, "facts": event_facts(call, outcome, duration, now)},
        dedupe_key=f"call-event:{call.sid}",
        now=now,
    )
    return event


def event_facts(call: PbxCall, outcome: str, duration: int, now: datetime) -> dict[str, Any]:
    """What the post-call workflow reads as ``{{call.*}}``: the voice channel's facts, plus
    ``channel: pbx`` and what the PBX told (queue, transfers)."""
    return {
        "sid": call.sid,
        "from": call.caller,
        "to": call.called,
        "outcome": outcome,
        "duration": duration,
        "workflow": None,
        "path": [],
        "keys": [],
        "agent": call.agent,
        "voicemail": None,
        "started_at": call.started_at.isoformat(),
        "ended_at": now.isoformat(),
        "channel": "pbx",
        "queue": call.queue,
        "transfers": call.transfers,
        **{k: v for k, v in call.facts.items() if v is not None},
    }


def open_calls(conn: Connection) -> list[PbxCall]:
    """The PBX calls the log holds as still in progress (to follow again after a restart)."""
    rows = conn.execute(
        select(calls.c.sid, calls.c.caller, calls.c.called, calls.c.status, calls.c.started_at)
        .where(calls.c.sid.startswith(SID_PREFIX), calls.c.outcome.is_(None))
        .order_by(calls.c.started_at)
    ).all()
    return [
        PbxCall(
            row.sid.removeprefix(SID_PREFIX),
            caller=row.caller,
            called=row.called,
            started_at=stored_time(row.started_at),
            answered=row.status == "in-progress",
            tried=True,  # what it went through is not stored: a caller not served is missed
        )
        for row in rows
    ]
