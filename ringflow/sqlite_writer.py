"""SQLite's writer: one thread that owns the write connection and commits writes in groups.

Every write of a process goes through one ``SqliteWriter``. The event loop queues a write and
awaits a future; the thread takes whatever is waiting (at most ``MAX_BATCH`` writes), runs it
in one transaction (``BEGIN IMMEDIATE``), commits once (one fsync for all of them: group
commit) and then settles the futures on the loop. So the event loop never waits for SQLite:
while another process holds SQLite's write lock, this thread sleeps in SQLite's busy handler
(``busy_timeout``, without the GIL) and the loop goes on answering; when the busy timeout runs
out, the writes of that transaction fail with "database is locked" (bounded, never forever).

**Failures stay with their write.** Each group of writes runs inside its own ``SAVEPOINT``:
consecutive writes of one batch function (e.g. the incoming calls of a moment, stored with one
``executemany``) form a group; a plain write is a group of its own. A group that raises is
rolled back to its savepoint; if it held several writes, each of them then runs again in a
savepoint of its own, so only the faulty one fails, and the rest of the transaction is kept.
A transaction that is a single group has no savepoint: if it fails, the transaction is rolled
back and its writes run again, each in a savepoint of its own, in the next transaction.
Should SQLite itself abandon the transaction (a full disk, an I/O error), every write of that
transaction fails. Writes must only touch the database: a rolled-back one may run again.

**A writer that dies is never silent.** If the thread stops (an exception that is not an
``Exception`` escapes a write, or a bug here), every write it had taken or that is still queued
fails at once with ``WriterDied``, the death is logged, and ``on_death`` lets the database start
a new writer. ``problem()`` tells a health check whether the writer is alive and not stuck on
one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

MAX_BATCH = 100
"""Writes committed in one transaction at most."""
NOTICES = "ringflow.notices"
"""Key of ``Connection.info`` under which writes leave ``(channel, payload)`` notices for
listeners in this process (:func:`ringflow.database.notify`); the writer hands them over
after the transaction committed. The notices of a write that failed (rolled back to its
savepoint, or with its transaction) are dropped with it."""

Outcome = tuple[bool, Any]
"""``(True, result)`` or ``(False, exception)``."""


class WriterDied(RuntimeError):
    """The writer thread stopped before this write committed; it was not committed."""


class TransactionLost(RuntimeError):
    """SQLite rolled the whole transaction back on its own (e.g. disk full, I/O error)."""


@dataclass(slots=True)
class Write:
    """One write waiting for the writer: ``batch(conn, [item, ...])`` gives one result per
    item; ``alone`` writes (plain work functions) are never grouped with others. ``context``
    is the submitter's (its log ids, see ``ringflow.logs.log_context``): the write runs in it
    (a group in its first write's)."""

    batch: Callable[[Connection, list[Any]], list[Any]]
    item: Any
    future: asyncio.Future[Any]
    alone: bool
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


class SqliteWriter:
    """The thread that runs every write on ``engine`` (whose transactions begin IMMEDIATE)."""

    def __init__(
        self,
        engine: Engine,
        loop: asyncio.AbstractEventLoop,
        on_death: Callable[[SqliteWriter], None],
        on_notices: Callable[[list[tuple[str, str]]], None] | None = None,
    ) -> None:
        self._engine = engine
        self._on_notices = on_notices
        self._loop = loop
        self._on_death = on_death
        self._queue: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        # Taken by submit() and by a dying thread, so no write is queued after the last drain.
        self._lock = threading.Lock()
        self._open = True
        self._conn: Connection | None = None
        self.death: BaseException | None = None
        """Why the thread stopped, if it died."""
        self.busy_since: float | None = None
        """When (``time.monotonic()``) the transaction under way started; None when idle."""
        self.exited: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, write: Write) -> None:
        """Queue ``write``; its future is settled once its transaction committed or failed.

        Raises ``WriterDied`` when the writer has died, RuntimeError when it was stopped."""
        with self._lock:
            if not self._open:
                if self.death is not None:
                    raise WriterDied("the database writer has stopped") from self.death
                raise RuntimeError("the database is closing")
            self._queue.put(write)

    async def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        with self._lock:
            if self._open:
                self._open = False
                self._queue.put(None)
        await asyncio.shield(self.exited)

    @property
    def queued(self) -> int:
        """Writes waiting for the thread to take them (not those of the transaction under way)."""
        return self._queue.qsize()

    def problem(self, stall_after: float) -> str | None:
        """Why this writer cannot take writes now (dead, or on one transaction for more than
        ``stall_after`` seconds), or None."""
        if self.death is not None or not self._thread.is_alive():
            return "the database writer has stopped"
        since = self.busy_since
        if since is not None and time.monotonic() - since > stall_after:
            return f"the database writer has been on one transaction for over {stall_after:g} s"
        return None

    def _run(self) -> None:
        taken: list[Write] = []
        try:
            last = False
            while not last:
                taken, last = self._take()
                if taken:
                    self.busy_since = time.monotonic()
                    outcomes = self._transact(taken)
                    self.busy_since = None  # before the writes' owners hear of it
                    notices = self._conn.info.pop(NOTICES, None) if self._conn else None
                    self._call_on_loop(_settle, list(zip(taken, outcomes, strict=True)))
                    if notices and self._on_notices is not None:
                        self._call_on_loop(self._on_notices, notices)
                    taken = []
        except BaseException as death:  # reported to every waiting write, then replaced
            self._die(death, taken)
        finally:
            self._discard_connection()
            self._call_on_loop(_set_done, self.exited)

    def _take(self) -> tuple[list[Write], bool]:
        """What is waiting, at most MAX_BATCH (blocks until something is); and whether the
        writer was stopped after it."""
        first = self._queue.get()
        if first is None:
            return [], True
        taken = [first]
        while len(taken) < MAX_BATCH:
            try:
                write = self._queue.get_nowait()
            except queue.Empty:
                break
            if write is None:
                return taken, True
            taken.append(write)
        return taken, False

    def _transact(self, taken: list[Write]) -> list[Outcome]:
        """Run ``taken`` in one transaction and commit it; one outcome per write."""
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            if _one_group(taken):
                return self._transact_group(self._conn, taken)
            with self._conn.begin():
                outcomes = self._run_groups(self._conn, taken)
        except Exception as error:
            # BEGIN (the lock not had within busy_timeout), COMMIT (I/O) or a lost
            # transaction: nothing of it was committed. Start the next one on a new connection.
            self._discard_connection()
            log.warning("a transaction of %d writes failed: %s", len(taken), error)
            return [(False, error)] * len(taken)
        return outcomes

    def _transact_group(self, conn: Connection, group: list[Write]) -> list[Outcome]:
        """A transaction that is one group (the usual case under load: the incoming calls of a
        moment, or the turns; or a single write) needs no savepoint: should the group fail,
        the whole transaction is rolled back instead, and its writes run again each in a
        savepoint of its own in the next one (a single write just fails). Two statements
        fewer per transaction (SAVEPOINT, RELEASE: ~70 µs of CPU through SQLAlchemy)."""
        items = [write.item for write in group]
        mark = _notices_mark(conn)
        try:
            with conn.begin():
                try:
                    results = group[0].context.run(group[0].batch, conn, items)
                    if len(results) != len(items):
                        raise RuntimeError(f"a batch gave {len(results)} results for {len(items)}")
                except Exception as error:
                    raise _GroupFailed(error) from error
        except _GroupFailed as failed:
            _drop_notices(conn, mark)
            if len(group) == 1:
                return [(False, failed.error)]
            log.debug("a batch of %d writes failed (%s); each runs on its own", len(group), failed)
            with conn.begin():
                return [self._group(conn, [write])[0] for write in group]
        return [(True, result) for result in results]

    def _run_groups(self, conn: Connection, taken: list[Write]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        start = 0
        while start < len(taken):
            first, end = taken[start], start + 1
            if not first.alone:
                while end < len(taken) and taken[end].batch is first.batch:
                    end += 1
            outcomes.extend(self._group(conn, taken[start:end]))
            start = end
        return outcomes

    def _group(self, conn: Connection, group: list[Write]) -> list[Outcome]:
        """Run writes of one batch function together in a savepoint; if that fails, each
        in a savepoint of its own."""
        items = [write.item for write in group]
        mark = _notices_mark(conn)
        savepoint = conn.begin_nested()
        try:
            results = group[0].context.run(group[0].batch, conn, items)
            if len(results) != len(items):
                raise RuntimeError(f"a batch gave {len(results)} results for {len(items)}")
        except Exception as error:
            if not _in_transaction(conn):
                # Writes after this one would run outside any transaction: stop here.
                raise TransactionLost(f"SQLite abandoned the transaction: {error}") from error
            savepoint.rollback()
            _drop_notices(conn, mark)
            if len(group) == 1:
                return [(False, error)]
            log.debug("a batch of %d writes failed (%s); each runs on its own", len(group), error)
            return [self._group(conn, [write])[0] for write in group]
        savepoint.commit()  # RELEASE; should it fail, the whole transaction fails
        return [(True, result) for result in results]

    def _die(self, death: BaseException, taken: list[Write]) -> None:
        with self._lock:
            self._open = False
            self.death = death
            failed = list(taken)
            with contextlib.suppress(queue.Empty):
                while True:
                    write = self._queue.get_nowait()
                    if write is not None:
                        failed.append(write)
        log.error(
            "the database writer died; %d pending writes failed, a new writer takes over",
            len(failed),
            exc_info=death,
        )
        outcomes: list[tuple[Write, Outcome]] = []
        for write in failed:
            error = WriterDied("the database writer died before this write committed")
            error.__cause__ = death
            outcomes.append((write, (False, error)))
        self._call_on_loop(_settle, outcomes)
        self._call_on_loop(self._on_death, self)

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # Closing the SQLite connection rolls back whatever it had not committed.
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()

    def _call_on_loop(self, callback: Callable[..., object], *args: Any) -> None:
        # A closed loop raises RuntimeError: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)


class _GroupFailed(Exception):
    """The group that was a whole transaction raised ``error``; the transaction rolls back."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _one_group(taken: list[Write]) -> bool:
    """Whether the writes taken form one group (see :meth:`SqliteWriter._run_groups`)."""
    first = taken[0]
    if first.alone:
        return len(taken) == 1
    return all(not write.alone and write.batch is first.batch for write in taken)


def _in_transaction(conn: Connection) -> bool:
    driver = conn.connection.driver_connection
    return bool(driver is not None and driver.in_transaction)


def _notices_mark(conn: Connection) -> int:
    """How many notices the transaction has left so far."""
    return len(conn.info.get(NOTICES, ()))


def _drop_notices(conn: Connection, mark: int) -> None:
    """Forget the notices left after ``mark`` (by writes that were rolled back)."""
    notices = conn.info.get(NOTICES)
    if notices:
        del notices[mark:]


def _settle(outcomes: list[tuple[Write, Outcome]]) -> None:
    for write, (ok, value) in outcomes:
        if write.future.done():  # its caller was cancelled
            continue
        if ok:
            write.future.set_result(value)
        else:
            write.future.set_exception(value)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
