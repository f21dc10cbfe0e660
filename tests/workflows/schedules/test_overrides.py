"""Stored overrides: set, replace, clear and load, aware in UTC on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ringflow.database import Database
from workflows.schedules import ManualOverride, Schedule, ScheduleBook, parse_spec
from workflows.schedules.db import schedule_overrides
from workflows.schedules.overrides import clear_override, load_overrides, set_override

BERLIN = ZoneInfo("Europe/Berlin")
PRESSED = datetime(2026, 6, 1, 10, 15, 30, 123456, tzinfo=BERLIN)


async def test_set_load_and_clear(migrated_db: Database) -> None:
    db = migrated_db
    assert await db.read(load_overrides) == {}
    await db.write(lambda conn: set_override(conn, "office", False, PRESSED, by="admin@example"))
    await db.write(lambda conn: set_override(conn, "night-line", True, PRESSED))
    overrides = await db.read(load_overrides)
    assert overrides == {
        "office": ManualOverride(open=False, set_at=PRESSED),
        "night-line": ManualOverride(open=True, set_at=PRESSED),
    }
    for override in overrides.values():
        assert override.set_at.tzinfo is UTC
        assert override.set_at == datetime(2026, 6, 1, 8, 15, 30, 123456, tzinfo=UTC)
        assert type(override.open) is bool
    assert await db.write(lambda conn: clear_override(conn, "office"))
    assert not await db.write(lambda conn: clear_override(conn, "office"))
    assert set(await db.read(load_overrides)) == {"night-line"}


async def test_pressing_again_replaces_the_override(migrated_db: Database) -> None:
    db = migrated_db
    later = PRESSED + timedelta(hours=10)
    await db.write(lambda conn: set_override(conn, "office", False, PRESSED, by="anna"))
    await db.write(lambda conn: set_override(conn, "office", True, later, by="b" * 80))
    assert await db.read(load_overrides) == {"office": ManualOverride(open=True, set_at=later)}
    query = select(schedule_overrides.c.set_by)
    assert await db.read(lambda conn: conn.execute(query).scalar_one()) == "b" * 64
    await db.write(lambda conn: set_override(conn, "office", False, later, by=None))
    assert await db.read(lambda conn: conn.execute(query).scalar_one()) is None


async def test_other_zones_are_stored_as_the_same_instant(migrated_db: Database) -> None:
    seoul_time = datetime(2026, 6, 1, 17, 15, tzinfo=timezone(timedelta(hours=9)))
    await migrated_db.write(lambda conn: set_override(conn, "office", True, seoul_time))
    loaded = (await migrated_db.read(load_overrides))["office"].set_at
    assert loaded == datetime(2026, 6, 1, 8, 15, tzinfo=UTC)
    assert loaded.tzinfo is UTC


async def test_bad_names_and_naive_times_are_refused(migrated_db: Database) -> None:
    with pytest.raises(ValueError, match="bad schedule name 'Office'"):
        await migrated_db.write(lambda conn: set_override(conn, "Office", True, PRESSED))
    naive = datetime(2026, 6, 1, 10)
    with pytest.raises(ValueError, match="has no time zone"):
        await migrated_db.write(lambda conn: set_override(conn, "office", True, naive))
    assert await migrated_db.read(load_overrides) == {}


async def test_loaded_overrides_drive_a_book(migrated_db: Database) -> None:
    office = Schedule(parse_spec({"timezone": "Europe/Berlin", "weekly": {"mon": ["09:00-18:00"]}}))
    book = ScheduleBook({"office": office})
    await migrated_db.write(lambda conn: set_override(conn, "office", False, PRESSED))
    book = book.with_overrides(await migrated_db.read(load_overrides))
    assert not book.is_open("office", PRESSED + timedelta(minutes=1))
    assert book.is_open("office", PRESSED - timedelta(minutes=1))
    await migrated_db.write(lambda conn: clear_override(conn, "office"))
    book = book.with_overrides(await migrated_db.read(load_overrides))
    assert book.is_open("office", PRESSED + timedelta(minutes=1))
