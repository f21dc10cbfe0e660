"""Store the admins' manual overrides ("open now" / "closed now") of named schedules.

Plain functions of a SQLAlchemy ``Connection`` (run them through ``Database.read`` /
``Database.write``); ``load_overrides`` feeds ``ScheduleBook.with_overrides``. An override
stays stored after it expires: the schedule decides when it stops applying, and pressing again
replaces it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Insert, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ringflow.changes import OVERRIDES, announce
from ringflow.database import stored_time
from workflows.schedules.calendar import ManualOverride
from workflows.schedules.db import schedule_overrides
from workflows.schedules.files import NAME_RULE, SCHEDULE_NAME

__all__ = ["clear_override", "load_overrides", "set_override"]

_BY_LENGTH = 64


_SQLITE = sqlite.insert(schedule_overrides)
_POSTGRES = postgresql.insert(schedule_overrides)
_REPLACED = ("open", "set_at", "set_by")
# Pressing again replaces the override: one row per schedule, whoever pressed last.
_SET: dict[str, Insert] = {
    "sqlite": _SQLITE.on_conflict_do_update(
        index_elements=["name"], set_={column: _SQLITE.excluded[column] for column in _REPLACED}
    ),
    "postgresql": _POSTGRES.on_conflict_do_update(
        index_elements=["name"], set_={column: _POSTGRES.excluded[column] for column in _REPLACED}
    ),
}


def set_override(
    conn: Connection, name: str, open: bool, at: datetime, by: str | None = None
) -> None:
    """Force schedule ``name`` open (``open=True``) or closed from ``at``, replacing any
    override it had; ``by`` says who (cut to 64 characters)."""
    if not SCHEDULE_NAME.fullmatch(name):
        raise ValueError(f"bad schedule name {name!r}: must be {NAME_RULE}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone: pass an aware datetime")
    row = {
        "name": name,
        "open": open,
        "set_at": at.astimezone(UTC),
        "set_by": None if by is None else by[:_BY_LENGTH],
    }
    conn.execute(_SET[conn.dialect.name], row)
    announce(conn, OVERRIDES)


def clear_override(conn: Connection, name: str) -> bool:
    """Let schedule ``name`` follow its hours again; True if it had an override."""
    query = delete(schedule_overrides).where(schedule_overrides.c.name == name)
    had = bool(conn.execute(query).rowcount)
    if had:
        announce(conn, OVERRIDES)
    return had


def load_overrides(conn: Connection) -> dict[str, ManualOverride]:
    """Every stored override by schedule name, ``set_at`` aware in UTC."""
    table = schedule_overrides
    rows = conn.execute(select(table.c.name, table.c.open, table.c.set_at)).all()
    return {
        row.name: ManualOverride(open=bool(row.open), set_at=stored_time(row.set_at))
        for row in rows
    }
