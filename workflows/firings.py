"""Trigger firings: each event starts its workflow at most once, and a workflow texts the same
contact at most once per ``once_per`` (the per-recipient limit).

Run inside the transaction that starts the run, after the contact is locked
(:func:`workflows.contacts.lock_contact`), so that two workers handling two events of the same
contact at once cannot both pass the limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from workflows.db import trigger_firings

Firing = Literal["new", "repeat", "limited"]

_NEW_FIRING = {
    "sqlite": sqlite.insert(trigger_firings).on_conflict_do_nothing(index_elements=["event_key"]),
    "postgresql": postgresql.insert(trigger_firings).on_conflict_do_nothing(
        index_elements=["event_key"]
    ),
}


_RECENT = (
    select(func.count())
    .select_from(trigger_firings)
    .where(
        trigger_firings.c.workflow_id == bindparam("workflow_id"),
        trigger_firings.c.contact_number == bindparam("contact"),
        trigger_firings.c.status == "started",
        trigger_firings.c.fired_at > bindparam("since"),
        trigger_firings.c.event_key != bindparam("event_key"),
    )
)


def fire(
    conn: Connection,
    *,
    event_key: str,
    workflow_id: str | None,
    contact: str,
    now: datetime,
    once_per: int = 0,
    status: str = "started",
    run_id: str | None = None,
) -> Firing:
    """Record that ``event_key`` fires ``workflow_id`` (None: no workflow) for ``contact``,
    starting run ``run_id`` (if it does start one).

    ``repeat``: this event was handled before (nothing to do); ``limited``: the workflow
    already started for this contact less than ``once_per`` seconds ago (kept as such, so
    the log shows why no text went out); ``new``: go on. Only ``started`` firings count for
    the limit: an event that answers a run (``status="reply"``) or that no workflow took
    (``"ignored"``) is kept only so that it is handled once.
    """
    inserted = conn.execute(
        _NEW_FIRING[conn.dialect.name],
        {
            "event_key": event_key,
            "workflow_id": workflow_id or "",
            "contact_number": contact,
            "status": status,
            "run_id": run_id,
            "fired_at": now,
        },
    ).rowcount
    if not inserted:
        return "repeat"
    if once_per <= 0 or status != "started":
        return "new"
    params = {
        "workflow_id": workflow_id or "",
        "contact": contact,
        "since": now - timedelta(seconds=once_per),
        "event_key": event_key,
    }
    recent = conn.execute(_RECENT, params).scalar_one()
    if recent:
        _set(conn, event_key, status="limited", run_id=None)
        return "limited"
    return "new"


def failed(conn: Connection, event_key: str) -> None:
    """The run a firing started failed in its first turn: it does not count for the limit."""
    _set(conn, event_key, status="failed")


def _set(conn: Connection, event_key: str, **values: object) -> None:
    conn.execute(
        update(trigger_firings).where(trigger_firings.c.event_key == event_key).values(**values)
    )
