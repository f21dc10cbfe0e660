"""Schedules made over the admin API, stored in the database beside the files' schedules.

A schedule file in the flows folder wins over a stored schedule of the same name (as workflow
files win over API workflows); the API refuses to create or change one with a file's name.
Plain functions of a ``Connection``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ringflow.changes import SCHEDULES, announce
from workflows.schedules.calendar import Schedule
from workflows.schedules.db import stored_schedules
from workflows.schedules.overrides import clear_override
from workflows.schedules.spec import ScheduleInvalid, ScheduleSpec, parse_spec

log = logging.getLogger(__name__)


def _upsert(dialect: Any) -> Any:
    insert = dialect.insert(stored_schedules)
    return insert.on_conflict_do_update(
        index_elements=["name"],
        set_={"definition": insert.excluded.definition, "updated_at": insert.excluded.updated_at},
    )


_UPSERT = {"sqlite": _upsert(sqlite), "postgresql": _upsert(postgresql)}


def load_stored(conn: Connection) -> dict[str, Schedule]:
    """Every stored schedule, compiled; one that no longer validates is left out (logged)."""
    found = {}
    for row in conn.execute(select(stored_schedules.c.name, stored_schedules.c.definition)):
        try:
            found[row.name] = Schedule(parse_spec(row.definition, row.name))
        except ScheduleInvalid as error:
            log.error("stored schedule %s is not valid any more: %s", row.name, error)
    return found


def stored_names(conn: Connection) -> set[str]:
    """The names of the stored schedules."""
    return set(conn.execute(select(stored_schedules.c.name)).scalars())


def save_schedule(conn: Connection, name: str, spec: ScheduleSpec, now: datetime) -> bool:
    """Store ``spec`` as schedule ``name``; True if it was new."""
    existed = name in stored_names(conn)
    row = {"name": name, "definition": spec.model_dump(mode="json"), "updated_at": now}
    conn.execute(_UPSERT[conn.dialect.name], row)
    announce(conn, SCHEDULES)
    return not existed


def delete_schedule(conn: Connection, name: str) -> bool:
    """Remove stored schedule ``name`` and its manual override, if any; whether there was
    one."""
    clear_override(conn, name)
    gone = bool(
        conn.execute(delete(stored_schedules).where(stored_schedules.c.name == name)).rowcount
    )
    if gone:
        announce(conn, SCHEDULES)
    return gone
