"""Trigger firings: each event starts its workflow at most once, and a workflow texts the same
contact at most once per ``once_per`` (the per-recipient limit).

Run inside the transaction that starts the run, after the contact is locked
(:func:`workflows.contacts.lock_contact`), so that two workers handling two events of the same
contact at once cannot both pass the limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    String,
    and_,
    bindparam,
    case,
    literal,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from workflows.db import trigger_firings

Firing = Literal["new", "repeat", "limited"]


def _firing(dialect: Any) -> Any:
    """Insert the firing, ``limited`` if the same workflow started for the same contact since
    ``p_since``, and return its status; nothing (None) when the event fired before. One
    statement: it runs for every post-call event and every text received."""
    limited = and_(
        bindparam("p_counts", type_=Boolean),
        select(trigger_firings.c.event_key)
        .where(
            trigger_firings.c.workflow_id == bindparam("p_workflow_id", type_=String),
            trigger_firings.c.contact_number == bindparam("p_contact", type_=String),
            trigger_firings.c.status == "started",
            trigger_firings.c.fired_at > bindparam("p_since", type_=DateTime(timezone=True)),
        )
        .exists(),
    )
    source = select(
        bindparam("p_event_key", type_=String),
        bindparam("p_workflow_id", type_=String),
        bindparam("p_contact", type_=String),
        case((limited, literal("limited")), else_=bindparam("p_status", type_=String)),
        case((limited, null()), else_=bindparam("p_run_id", type_=String)),
        bindparam("p_now", type_=DateTime(timezone=True)),
    ).where(true())  # SQLite: a SELECT before ON CONFLICT needs a WHERE
    columns = ["event_key", "workflow_id", "contact_number", "status", "run_id", "fired_at"]
    insert = dialect.insert(trigger_firings).from_select(columns, source)
    return insert.on_conflict_do_nothing(index_elements=["event_key"]).returning(
        trigger_firings.c.status
    )


_FIRE = {"sqlite": _firing(sqlite), "postgresql": _firing(postgresql)}


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
    params = {
        "p_event_key": event_key,
        "p_workflow_id": workflow_id or "",
        "p_contact": contact,
        "p_status": status,
        "p_run_id": run_id,
        "p_now": now,
        "p_counts": once_per > 0 and status == "started",
        "p_since": now - timedelta(seconds=max(once_per, 0)),
    }
    stored = conn.execute(_FIRE[conn.dialect.name], params).scalar()
    if stored is None:
        return "repeat"
    return "limited" if stored == "limited" else "new"


def failed(conn: Connection, event_key: str) -> None:
    """The run a firing started failed in its first turn: it does not count for the limit."""
    _set(conn, event_key, status="failed")


def _set(conn: Connection, event_key: str, **values: object) -> None:
    conn.execute(
        update(trigger_firings).where(trigger_firings.c.event_key == event_key).values(**values)
    )
