"""The database: one SQLAlchemy metadata for every package's tables, and how work reaches it.

Code that touches the database is written as plain functions of a SQLAlchemy ``Connection``
(``work(conn) -> result``) and handed to ``Database.read`` or ``Database.write``; the backend
decides how it runs:

* **SQLite** (the single-node default): the writes of all webhooks waiting at that moment are
  committed together in one transaction (group commit), on the event loop's own thread; writes
  of one kind can run as one statement (``write_batched``). Reads run on a few reader threads
  (WAL lets them read beside the writer), and so do checkpoints, once a second. Measured with
  bench/webhooks.py (see bench/README.md): async SQLAlchemy over aiosqlite with a connection
  per request spent ~1 ms of CPU per transaction and, with several connections fighting for
  SQLite's single write lock, gave a p99 near one second; a writer thread was slower than
  writing on the loop, because the two threads then fight for the GIL on one busy core; and
  checkpoints inside commits stalled every waiting webhook.
* **PostgreSQL** (several instances): each piece of work runs in its own transaction on the
  async engine (asyncpg), through ``run_sync``; PostgreSQL does its own concurrency.

Either way a write either commits entirely or not at all, and ``write`` returns only after its
transaction has committed: an answer sent to Twilio is never ahead of the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, MetaData, event, pool
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

T = TypeVar("T")
P = TypeVar("P")
Work = Callable[[Connection], T]
Batch = Callable[[Connection, list[P]], list[T]]
"""Runs many writes of one kind at once (e.g. one executemany); one result per item, in order."""
MAX_BATCH = 100
CHECKPOINT_INTERVAL_S = 1.0


def stored_time(moment: datetime) -> datetime:
    """A time read back from the database, aware in UTC (SQLite returns naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class BatchConflict(RuntimeError):
    """A batched write met rows it did not expect: run its items one by one instead."""


class DatabaseUrlError(ValueError):
    """The database URL names a database this server does not support."""


def database_url(url: str) -> URL:
    """``url`` with the driver Ringflow uses: pysqlite for SQLite, asyncpg for PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    raise DatabaseUrlError(f"unsupported database {backend!r}: use sqlite or postgresql")


class Database(Protocol):
    """Runs work on the database; see the module docstring."""

    url: URL

    async def read(self, work: Work[T]) -> T:
        """Run ``work`` on a connection that sees committed data."""
        ...

    async def write(self, work: Work[T]) -> T:
        """Run ``work`` in a transaction; return once it has committed."""
        ...

    async def write_batched(self, batch: Batch[P, T], item: P) -> T:
        """Write ``item`` with ``batch``, together with other items of the same ``batch``
        waiting at the same moment where the backend batches; return once committed."""
        ...

    async def close(self) -> None:
        """Finish pending writes and release every connection."""
        ...


async def open_database(url: str) -> Database:
    """The database at ``url``, ready for work."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteDatabase(parsed)
    return PostgresDatabase(parsed)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level, so that SQLAlchemy's BEGIN (below) is the only one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; NORMAL is durable at each checkpoint and safe
    # with WAL; the busy timeout makes another process's writer wait instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Checkpoints run on a reader thread (SqliteDatabase._checkpoint_loop), not in commits.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _checkpoint(connection: Connection) -> None:
    # PASSIVE never waits for the writer: it copies what it can, the rest next time.
    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def _sqlite_begin(connection: Connection) -> None:
    # Writes BEGIN IMMEDIATE: the write lock up front, so a transaction never fails half-way
    # because another process wrote in between. Reads BEGIN (DEFERRED): a consistent snapshot,
    # no lock. Checkpoints must run outside any transaction.
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode != "NONE":
        connection.exec_driver_sql(f"BEGIN {mode}")


def sqlite_engine(url: URL) -> Engine:
    """A synchronous engine for a SQLite file, with the pragmas and transactions above."""
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_sync_engine(
        url,
        poolclass=pool.QueuePool,
        pool_size=4,
        max_overflow=0,
        connect_args={"check_same_thread": False},
    )
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


class SqliteDatabase:
    """SQLite with group commit on the event loop and a few reader threads."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.engine = sqlite_engine(url)
        self._writes = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._untransacted = self.engine.execution_options(sqlite_begin="NONE")
        self._readers = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sqlite-reader")
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._committer = asyncio.create_task(self._commit_loop(), name="sqlite-group-commit")
        self._checkpointer = asyncio.create_task(self._checkpoint_loop(), name="sqlite-checkpoint")

    async def read(self, work: Work[T]) -> T:
        def run() -> T:
            with self.engine.connect() as conn:
                return work(conn)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def write(self, work: Work[T]) -> T:
        return await self.write_batched(_each, work)

    async def write_batched(self, batch: Batch[P, T], item: P) -> T:
        if self._closing:
            raise RuntimeError("the database is closing")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, item, future))
        self._wakeup.set()
        return await future

    async def _commit_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                group, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                # At most MAX_BATCH writes, a few milliseconds: the loop blocks that long.
                outcomes = self._commit(group)
                for (_batch, _item, future), (ok, value) in zip(group, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
            if self._closing:
                return
            # Let the requests whose writes just committed answer before the next batch.
            await asyncio.sleep(0)

    async def _checkpoint_loop(self) -> None:
        """Copy the write-ahead log into the database file, beside the writer."""
        while not self._closing:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            try:
                await self._checkpoint()
            except Exception:
                log.exception("SQLite checkpoint failed; will try again")

    async def _checkpoint(self) -> None:
        def run() -> None:
            with self._untransacted.connect() as conn:
                _checkpoint(conn)

        await asyncio.get_running_loop().run_in_executor(self._readers, run)

    def _commit(self, pending: list[_Pending]) -> list[tuple[bool, Any]]:
        """Run pending writes in one transaction, consecutive items of one kind together; if
        anything fails, run each on its own, so that one failure fails only its own request.
        Writes must therefore only touch the database (a rolled-back one may run again)."""
        try:
            with self._writes.begin() as conn:
                results: list[tuple[bool, Any]] = []
                start = 0
                while start < len(pending):
                    batch = pending[start][0]
                    end = start + 1
                    while end < len(pending) and pending[end][0] is batch:
                        end += 1
                    items = [item for _batch, item, _future in pending[start:end]]
                    results.extend((True, value) for value in _checked(batch(conn, items), items))
                    start = end
                return results
        except BatchConflict as conflict:
            log.debug("batch of %d writes run one by one: %s", len(pending), conflict)
        except Exception:
            if len(pending) > 1:
                log.warning("a batch of %d writes failed; retrying each on its own", len(pending))
        return [self._alone(batch, item) for batch, item, _future in pending]

    def _alone(self, batch: Batch[Any, Any], item: Any) -> tuple[bool, Any]:
        try:
            with self._writes.begin() as conn:
                return True, _checked(batch(conn, [item]), [item])[0]
        except Exception as error:
            return False, error

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        await self._committer
        self._checkpointer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._checkpointer
        await self._checkpoint()
        self._readers.shutdown(wait=True)
        self.engine.dispose()


class PostgresDatabase:
    """PostgreSQL through the async engine: one transaction per piece of work."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True
        )
        self._writing = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def read(self, work: Work[T]) -> T:
        async with self.engine.connect() as conn:
            return await conn.run_sync(work)

    async def write(self, work: Work[T]) -> T:
        return await self.write_batched(_each, work)

    async def write_batched(self, batch: Batch[P, T], item: P) -> T:
        self._writing += 1
        self._idle.clear()
        try:
            async with self.engine.begin() as conn:
                results = await conn.run_sync(lambda sync: batch(sync, [item]))
            return _checked(results, [item])[0]
        finally:
            self._writing -= 1
            if not self._writing:
                self._idle.set()

    async def close(self) -> None:
        await self._idle.wait()  # writes under way finish first
        await self.engine.dispose()


_Pending = tuple[Batch[Any, Any], Any, "asyncio.Future[Any]"]


def _each(conn: Connection, works: list[Work[T]]) -> list[T]:
    """The batch of plain work functions: each runs in turn."""
    return [work(conn) for work in works]


def _checked(results: list[T], items: list[Any]) -> list[T]:
    if len(results) != len(items):
        raise RuntimeError(f"a batch returned {len(results)} results for {len(items)} writes")
    return results
