"""The database layer: group commit, failure isolation, batched writes, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, select

from ringflow.database import BatchConflict, Database, open_database

scratch = MetaData()
notes = Table(
    "scratch_notes",
    scratch,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("text", String(50), nullable=False),
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    await database.write(lambda conn: scratch.create_all(conn))
    yield database
    await database.close()


def add(note_id: int, text: str = "ok"):  # type: ignore[no-untyped-def]
    def work(conn: Connection) -> int:
        conn.execute(notes.insert().values(id=note_id, text=text))
        return note_id

    return work


def stored(conn: Connection) -> list[int]:
    return sorted(conn.execute(select(notes.c.id)).scalars())


async def test_concurrent_writes_all_commit(db: Database) -> None:
    results = await asyncio.gather(*(db.write(add(i)) for i in range(60)))
    assert results == list(range(60))
    assert await db.read(stored) == list(range(60))


async def test_one_failing_write_fails_alone(db: Database) -> None:
    def explode(conn: Connection) -> None:
        conn.execute(notes.insert().values(id=1000, text="half-written"))
        raise ValueError("broken work")

    writes = [db.write(add(i)) for i in range(10)] + [db.write(explode)]
    writes += [db.write(add(i)) for i in range(10, 20)]
    results = await asyncio.gather(*writes, return_exceptions=True)

    assert [r for r in results if isinstance(r, Exception)] == [results[10]]
    assert isinstance(results[10], ValueError)
    assert await db.read(stored) == list(range(20)), "nothing half-written stays behind"


def insert_many(conn: Connection, items: list[int]) -> list[str]:
    existing = set(conn.execute(select(notes.c.id).where(notes.c.id.in_(items))).scalars())
    if len(items) > 1 and existing:
        raise BatchConflict("some notes exist already")
    fresh = [i for i in items if i not in existing]
    if fresh:
        conn.execute(notes.insert(), [{"id": i, "text": "batched"} for i in fresh])
    return ["duplicate" if i in existing else "new" for i in items]


async def test_batched_writes_fall_back_to_one_by_one_on_conflict(db: Database) -> None:
    await db.write(add(3))
    results = await asyncio.gather(*(db.write_batched(insert_many, i) for i in range(6)))
    assert results == ["new", "new", "new", "duplicate", "new", "new"]
    assert await db.read(stored) == list(range(6))


async def test_close_finishes_pending_writes(database_url: str) -> None:
    database = await open_database(database_url)
    await database.write(lambda conn: scratch.create_all(conn))
    pending = [asyncio.ensure_future(database.write(add(i))) for i in range(5)]
    await asyncio.sleep(0)
    await database.close()
    assert [task.result() for task in pending] == list(range(5))
    reopened = await open_database(database_url)
    try:
        assert await reopened.read(stored) == list(range(5))
    finally:
        await reopened.close()
