"""The database: one SQLAlchemy metadata for every package's tables, and how work reaches it.

Code that touches the database is written as plain functions of a SQLAlchemy ``Connection``
(``work(conn) -> result``) and handed to ``Database.read`` or ``Database.write``; the backend
decides how it runs:

* **SQLite** (the single-node default): one writer thread owns the write connection
  (``ringflow.sqlite_writer``): the writes of all requests waiting at a moment are committed
  together in one transaction (group commit), writes of one kind as one statement
  (``write_batched``), each group in a savepoint so that a failure stays with its own write.
  The event loop only queues writes and awaits them, so it never waits for SQLite's lock.
  Commits are ``synchronous=FULL``: an answered webhook survives a power cut. Reads run on a
  few reader threads (WAL lets them read beside the writer), and so do checkpoints, once a
  second. ``check()`` reports a writer that died or is stuck (a dead one is replaced at once).
* **PostgreSQL** (several instances): each piece of work runs in its own transaction on the
  async engine (asyncpg), through ``run_sync``; PostgreSQL does its own concurrency.

Either way a write either commits entirely or not at all, and ``write`` returns only after its
transaction has committed: an answer sent to Twilio is never ahead of the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import Connection, Engine, MetaData, event, pool, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ringflow.sqlite_writer import NOTICES, SqliteWriter, Write

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
CHECKPOINT_INTERVAL_S = 1.0
BUSY_TIMEOUT_MS = 5000
"""How long a SQLite write waits for another process's write lock before it fails."""
STALL_AFTER_S = 2 * BUSY_TIMEOUT_MS / 1000
"""A SQLite writer on one transaction for longer than this is stuck (health check)."""


def stored_time(moment: datetime) -> datetime:
    """A time read back from the database, aware in UTC (SQLite returns naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_MEMO = "ringflow.transaction_memo"


def transaction_memo(conn: Connection) -> dict[str, Any]:
    """A dict that lives as long as the innermost transaction of ``conn`` (a savepoint's own
    while it is open): what this transaction has already done or read once, so that the
    many writes of one transaction (a worker's batch of jobs) do it once. Outside a
    transaction, a new dict each time."""
    current = conn.get_nested_transaction() or conn.get_transaction()
    if current is None:
        return {}
    held = conn.info.get(_MEMO)
    # A weak reference to the transaction, not its id: a later transaction is never taken
    # for it, and an ended one (with its connection) is not kept alive by the memo.
    if held is None or held[0]() is not current:
        held = (weakref.ref(current), {})
        conn.info[_MEMO] = held
    memo: dict[str, Any] = held[1]
    return memo


def notify(conn: Connection, channel: str, payload: str) -> None:
    """Tell the listeners on ``channel`` (in every process) ``payload`` once the transaction
    of ``conn`` commits, never if it rolls back: ``pg_notify`` on PostgreSQL (at most 8000
    bytes: send ids, not texts), delivered to every process that LISTENs; on SQLite handed to
    this process's :meth:`SqliteDatabase.on_notice` listeners after the commit."""
    if conn.dialect.name == "postgresql":
        # PostgreSQL delivers a notice its transaction repeats once: it is sent once.
        sent: set[tuple[str, str]] = transaction_memo(conn).setdefault("notified", set())
        if (channel, payload) in sent:
            return
        conn.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )
        sent.add((channel, payload))
    else:
        conn.info.setdefault(NOTICES, []).append((channel, payload))


class BatchConflict(RuntimeError):
    """A batched write met rows it did not expect: run its items one by one instead."""


class DatabaseUrlError(ValueError):
    """The database URL names a database this server does not support."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot take work now (``Database.check``)."""


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

    def observe_writes(self, observe: Callable[[float], None]) -> None:
        """Call ``observe(seconds)`` after each write, with the time from its submission to
        its commit (or failure): what a caller waited (metrics)."""
        ...

    async def check(self) -> None:
        """Raise when the database cannot take work now (unreachable; for SQLite also its
        writer dead or stuck): what ``/healthz`` asks. Never waits for a write lock."""
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


SqliteSync = Literal["FULL", "NORMAL"]
"""How SQLite syncs commits: FULL (the default) or NORMAL (for measuring what FULL costs)."""


def _sqlite_connect(synchronous: SqliteSync, dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level, so that SQLAlchemy's BEGIN (below) is the only one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer. FULL syncs the log at every commit, so a
    # webhook answered after its commit survives a power cut (NORMAL could lose the last
    # commits, e.g. a STOP that Twilio will not send again). The busy timeout makes a write
    # wait for another process's writer (bounded) instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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


def sqlite_engine(url: URL, synchronous: SqliteSync = "FULL") -> Engine:
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
    event.listen(engine, "connect", partial(_sqlite_connect, synchronous))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


class SqliteDatabase:
    """SQLite with one writer thread (group commit) and a few reader threads.

    ``stall_after``: seconds after which a writer still on one transaction counts as stuck;
    ``synchronous``: FULL unless a benchmark compares (bench/sqlite_writes.py).
    """

    def __init__(
        self, url: URL, *, stall_after: float = STALL_AFTER_S, synchronous: SqliteSync = "FULL"
    ) -> None:
        self.url = url
        self.engine = sqlite_engine(url, synchronous)
        self._writes = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._untransacted = self.engine.execution_options(sqlite_begin="NONE")
        self._readers = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sqlite-reader")
        self._loop = asyncio.get_running_loop()
        self._stall_after = stall_after
        self._closing = False
        self._observe_write: Callable[[float], None] | None = None
        self.writer_restarts = 0
        """Writers started after one died."""
        self._notice_listeners: list[Callable[[str, str], None]] = []
        self._writer = self._new_writer()
        self._checkpointer = asyncio.create_task(self._checkpoint_loop(), name="sqlite-checkpoint")

    def _new_writer(self) -> SqliteWriter:
        return SqliteWriter(self._writes, self._loop, self._replace, self._deliver)

    def on_notice(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(channel, payload)`` on the loop for every :func:`notify` of this
        process, after its transaction committed."""
        self._notice_listeners.append(listener)

    def _deliver(self, notices: list[tuple[str, str]]) -> None:
        for channel, payload in notices:
            for listener in self._notice_listeners:
                try:
                    listener(channel, payload)
                except Exception:
                    log.exception("a listener failed on a notice of channel %s", channel)

    async def read(self, work: Work[T]) -> T:
        def run() -> T:
            with self.engine.connect() as conn:
                return work(conn)

        # In the caller's context: what the work logs carries the caller's log ids.
        context = contextvars.copy_context()
        return await self._loop.run_in_executor(self._readers, context.run, run)

    async def write(self, work: Work[T]) -> T:
        return await self._submit(_each, work, alone=True)

    async def write_batched(self, batch: Batch[P, T], item: P) -> T:
        return await self._submit(batch, item, alone=False)

    async def _submit(self, batch: Batch[Any, T], item: Any, *, alone: bool) -> T:
        if self._closing:
            raise RuntimeError("the database is closing")
        if self._writer.death is not None:
            self._replace(self._writer)
        future: asyncio.Future[T] = self._loop.create_future()
        started = time.perf_counter()
        self._writer.submit(Write(batch, item, future, alone))
        try:
            return await future
        finally:
            if self._observe_write is not None:
                self._observe_write(time.perf_counter() - started)

    def observe_writes(self, observe: Callable[[float], None]) -> None:
        self._observe_write = observe

    def _replace(self, dead: SqliteWriter) -> None:
        """Start a new writer in place of ``dead`` (called on the loop once it died)."""
        if self._writer is dead and not self._closing:
            self._writer = self._new_writer()
            self.writer_restarts += 1
            log.warning("started a new database writer (%d so far)", self.writer_restarts)

    @property
    def queued_writes(self) -> int:
        """Writes waiting for the writer to take them."""
        return self._writer.queued

    async def check(self) -> None:
        problem = self._writer.problem(self._stall_after)
        if problem is not None:
            raise DatabaseUnavailable(problem)
        await self.read(_select_one)

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

        await self._loop.run_in_executor(self._readers, run)

    async def close(self) -> None:
        self._closing = True
        await self._writer.stop()
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
        self.engine: AsyncEngine = create_async_engine(url, pool_size=10, max_overflow=10)
        event.listen(self.engine.sync_engine, "checkout", _alive_or_replaced)
        self._writing = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._observe_write: Callable[[float], None] | None = None

    async def read(self, work: Work[T]) -> T:
        async with self.engine.connect() as conn:
            return await conn.run_sync(work)

    async def write(self, work: Work[T]) -> T:
        return await self.write_batched(_each, work)

    async def write_batched(self, batch: Batch[P, T], item: P) -> T:
        self._writing += 1
        self._idle.clear()
        started = time.perf_counter()
        try:
            async with self.engine.begin() as conn:
                results = await conn.run_sync(lambda sync: batch(sync, [item]))
            return _checked(results, [item])[0]
        finally:
            if self._observe_write is not None:
                self._observe_write(time.perf_counter() - started)
            self._writing -= 1
            if not self._writing:
                self._idle.set()

    def observe_writes(self, observe: Callable[[float], None]) -> None:
        self._observe_write = observe

    async def check(self) -> None:
        await self.read(_select_one)

    async def close(self) -> None:
        await self._idle.wait()  # writes under way finish first
        await self.engine.dispose()


def _alive_or_replaced(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Checks a pooled PostgreSQL connection as it is checked out, in one round trip.

    A connection the server closed meanwhile (a restart, a failover, an idle timeout) would
    fail the work it is given; ``DisconnectionError`` makes the pool drop it and check out
    another, connecting anew if need be. SQLAlchemy's own ``pool_pre_ping`` does the same
    in three round trips on asyncpg (BEGIN, an empty query, ROLLBACK: a transaction for
    PgBouncer's transaction mode, which Ringflow cannot use anyway, since it LISTENs), on
    every read and write, before any work.
    """
    try:
        dbapi_connection.run_async(lambda driver: driver.fetchval("SELECT 1"))
    except Exception as error:
        raise DisconnectionError(f"a pooled connection failed its check: {error!r}") from error


def _each(conn: Connection, works: list[Work[T]]) -> list[T]:
    """The batch of plain work functions: each runs in turn."""
    return [work(conn) for work in works]


def _select_one(conn: Connection) -> object:
    return conn.execute(text("SELECT 1")).scalar()


def _checked(results: list[T], items: list[Any]) -> list[T]:
    if len(results) != len(items):
        raise RuntimeError(f"a batch returned {len(results)} results for {len(items)} writes")
    return results
