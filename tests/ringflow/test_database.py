"""The database layer: group commit, failure isolation, batched writes, on both backends;
SQLite's writer thread: what happens when it dies or is stuck."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import ConnectionPoolEntry

from ringflow.changes import listen_dsn
from ringflow.database import (
    BatchConflict,
    Database,
    DatabaseUnavailable,
    PostgresDatabase,
    SqliteDatabase,
    database_url,
    open_database,
)
from ringflow.logs import current_log_ids, log_context
from ringflow.sqlite_writer import MAX_BATCH, WriterDied

scratch = MetaData()
notes = Table(
    "scratch_notes",
    scratch,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("text", String(50), nullable=False),
)


class Meltdown(BaseException):
    """Not an ``Exception``: it goes through every ``except Exception`` and ends a thread."""


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


async def test_each_write_runs_once_when_another_in_its_batch_fails(db: Database) -> None:
    runs: Counter[int] = Counter()

    def counted(note_id: int):  # type: ignore[no-untyped-def]
        def work(conn: Connection) -> int:
            runs[note_id] += 1
            conn.execute(notes.insert().values(id=note_id, text="ok"))
            if note_id == 5:
                raise ValueError("broken work")
            return note_id

        return work

    results = await asyncio.gather(
        *(db.write(counted(i)) for i in range(10)), return_exceptions=True
    )

    assert isinstance(results[5], ValueError)
    assert runs == Counter(range(10)), "no write runs twice because another one failed"
    assert await db.read(stored) == [0, 1, 2, 3, 4, 6, 7, 8, 9]


def insert_notes(conn: Connection, items: list[tuple[int, str | None]]) -> list[int]:
    conn.execute(notes.insert(), [{"id": note_id, "text": text} for note_id, text in items])
    return [note_id for note_id, _text in items]


async def test_one_bad_item_of_a_batched_write_fails_alone_off_the_event_loop(
    db: Database,
) -> None:
    threads: set[threading.Thread] = set()

    def batch(conn: Connection, items: list[tuple[int, str | None]]) -> list[int]:
        threads.add(threading.current_thread())
        return insert_notes(conn, items)

    items: list[tuple[int, str | None]] = [(i, "ok") for i in range(8)]
    items[3] = (3, None)  # NOT NULL: the whole executemany fails
    results = await asyncio.gather(
        *(db.write_batched(batch, item) for item in items), return_exceptions=True
    )

    assert isinstance(results[3], IntegrityError)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5, 6, 7]
    assert await db.read(stored) == [0, 1, 2, 4, 5, 6, 7]
    if db.url.get_backend_name() == "sqlite":
        assert threading.current_thread() not in threads, "SQLite writes run off the event loop"


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


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(
        database_url(f"sqlite:///{tmp_path / 'ringflow.db'}"), stall_after=0.3
    )
    await database.write(lambda conn: scratch.create_all(conn))
    yield database
    await database.close()


async def hold_the_writer(db: Database, gate: threading.Event) -> asyncio.Future[int]:
    """A write that keeps the writer busy until ``gate`` is set; returns once it is."""
    started = threading.Event()

    def held(conn: Connection) -> int:
        started.set()
        gate.wait(10)
        conn.execute(notes.insert().values(id=0, text="held"))
        return 0

    holding = asyncio.ensure_future(db.write(held))
    assert await asyncio.to_thread(started.wait, 5)
    return holding


async def test_a_dead_writer_fails_every_pending_write_at_once_and_a_new_one_takes_over(
    sqlite_db: SqliteDatabase,
) -> None:
    def meltdown(conn: Connection) -> None:
        raise Meltdown

    gate = threading.Event()
    holding = await hold_the_writer(sqlite_db, gate)
    # Behind it: a few writes, the one that kills the writer, and more than one
    # transaction's worth after it (still queued when the writer dies).
    pending = [asyncio.ensure_future(sqlite_db.write(add(i))) for i in range(1, 4)]
    pending.append(asyncio.ensure_future(sqlite_db.write(meltdown)))
    pending += [asyncio.ensure_future(sqlite_db.write(add(i))) for i in range(4, MAX_BATCH + 50)]
    await asyncio.sleep(0)
    gate.set()
    assert await holding == 0

    async with asyncio.timeout(5):
        results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(result, WriterDied) for result in results), results
    assert isinstance(results[3].__cause__, Meltdown)

    assert await sqlite_db.write(add(1000)) == 1000
    assert sqlite_db.writer_restarts == 1
    await sqlite_db.check()
    assert await sqlite_db.read(stored) == [0, 1000], "nothing of the dead transaction stays"


async def test_a_writer_stuck_on_one_transaction_is_reported(sqlite_db: SqliteDatabase) -> None:
    gate = threading.Event()
    holding = await hold_the_writer(sqlite_db, gate)
    try:
        await asyncio.sleep(0.4)  # past stall_after
        with pytest.raises(DatabaseUnavailable, match="on one transaction"):
            await sqlite_db.check()
    finally:
        gate.set()
    assert await holding == 0
    await sqlite_db.check()


async def test_a_transaction_sqlite_abandons_fails_every_write_in_it_and_the_writer_goes_on(
    sqlite_db: SqliteDatabase,
) -> None:
    pages = await sqlite_db.read(
        lambda conn: conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    )

    def disk_nearly_full(conn: Connection) -> None:
        conn.exec_driver_sql(f"PRAGMA max_page_count={int(pages) + 2}")

    gate = threading.Event()
    holding = await hold_the_writer(sqlite_db, gate)
    # One transaction: the disk fills up at the big note, and SQLite then rolls the whole
    # transaction back (SQLITE_FULL): the writes after it must not run outside of it.
    writes = [
        sqlite_db.write(disk_nearly_full),
        sqlite_db.write(add(1)),
        sqlite_db.write(add(2, "x" * 200_000)),
        sqlite_db.write(add(3)),
    ]
    pending = [asyncio.ensure_future(write) for write in writes]
    await asyncio.sleep(0)
    gate.set()
    assert await holding == 0

    results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(result, Exception) for result in results), results
    assert "full" in str(results[2])
    assert await sqlite_db.read(stored) == [0], "nothing of that transaction was committed"
    assert await sqlite_db.write(add(4)) == 4
    assert await sqlite_db.read(stored) == [0, 4]


async def test_work_runs_with_its_callers_log_ids_and_writes_are_timed(db: Database) -> None:
    waited: list[float] = []
    db.observe_writes(waited.append)

    def ids(conn: Connection) -> dict[str, str]:
        return dict(current_log_ids())

    async def as_call(sid: str) -> tuple[dict[str, str], dict[str, str]]:
        with log_context(call=sid):
            return await db.write(ids), await db.read(ids)

    # Concurrent writes are committed together, each in the ids of its own caller.
    answers = await asyncio.gather(*(as_call(f"CA{n}") for n in range(5)))
    assert answers == [({"call": f"CA{n}"}, {"call": f"CA{n}"}) for n in range(5)]
    assert await db.write(ids) == {}
    assert len(waited) == 6
    assert all(seconds >= 0 for seconds in waited)


def _postgres(db: Database) -> PostgresDatabase:
    if not isinstance(db, PostgresDatabase):
        pytest.skip("pooled connections that the server can close are PostgreSQL's")
    return db


def _backend_pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


async def test_a_pooled_postgres_connection_is_checked_in_one_round_trip(db: Database) -> None:
    postgres = _postgres(db)
    sent: list[str] = []

    def log_queries(dbapi_connection: object, record: ConnectionPoolEntry) -> None:
        driver = record.driver_connection
        assert isinstance(driver, asyncpg.Connection)
        driver.add_query_logger(lambda logged: sent.append(logged.query))

    await postgres.engine.dispose()  # the connections made from now on log what they send
    event.listen(postgres.engine.sync_engine, "connect", log_queries)
    await db.read(stored)
    sent.clear()

    assert await db.read(stored) == []
    # The check, then the work's own transaction: no BEGIN/ROLLBACK around the check.
    assert sent[0] == "SELECT 1"
    assert sent[1].startswith("BEGIN")
    assert sent.count("SELECT 1") == 1


async def test_postgres_connections_the_server_closed_are_replaced_before_work_meets_them(
    db: Database,
) -> None:
    postgres = _postgres(db)
    # Several connections in the pool: reads that overlap each hold one.
    pids = set(await asyncio.gather(*(db.read(_hold_then_pid) for _ in range(4))))
    assert len(pids) == 4
    dsn = listen_dsn(postgres.url)
    assert dsn is not None
    admin = await asyncpg.connect(dsn)
    try:
        killed = await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid = ANY($1::int[])) AS ended",
            sorted(pids),
        )
    finally:
        await admin.close()
    assert killed == 4

    # What was pooled is dead: every read and write now runs on a fresh connection, none fails.
    async def write_then_read(note: int) -> tuple[int, int]:
        await db.write(add(note))
        return await db.read(_hold_then_pid), await db.write(_backend_pid)

    answers = await asyncio.gather(*(write_then_read(note) for note in range(4)))
    assert not pids & {pid for pair in answers for pid in pair}
    assert await db.read(stored) == [0, 1, 2, 3]


def _hold_then_pid(conn: Connection) -> int:
    conn.execute(text("SELECT pg_sleep(0.05)"))
    return _backend_pid(conn)
