"""Changes every server process must hear about at once: PostgreSQL LISTEN/NOTIFY, polling
as the fallback.

A process caches what it reads on every turn (the enabled workflows, the schedules and their
manual overrides). A change made through one instance must reach the others before the next
call, so the code that writes it calls :func:`announce` inside the same transaction: on
PostgreSQL that is ``pg_notify('ringflow_changes', topic)``, delivered to every listener when
(and only if) the transaction commits. A rolled-back change announces nothing, and a listener
never hears of a change before it can read it.

:class:`ChangeFeed` is the receiving end, one per process: a dedicated asyncpg connection
(``add_listener``; a pooled connection cannot stay in LISTEN) whose notifications call the
handlers subscribed to their topic. Notifications that arrive while a handler runs are
coalesced into one more call. Polling is only the fallback:

* on SQLite (one process, or several on one file: no NOTIFY) every handler runs every
  ``poll_every`` seconds;
* on PostgreSQL, when the listening connection cannot be opened or drops (a server restart, a
  network cut, found by the termination callback or a periodic ``SELECT 1``), the feed
  reconnects with exponential backoff and meanwhile polls as on SQLite; once listening again it
  runs every handler once, for what it may have missed.

Other notification channels share the same listening connection (:meth:`ChangeFeed.add_channel`,
used by the live hub of :mod:`ringflow.live`): their payloads go to their callback as they
arrive, and ``on_listening`` runs each time listening (re)starts, for what was missed.

On SQLite an announcement is a notice the database's writer hands to this process after the
commit (:func:`ringflow.database.notify`): a feed told of them (:meth:`ChangeFeed.hear_commits`)
runs the topic's handlers at once; other processes on the same file still poll.

Handlers re-read the database; they must be idempotent (a change is announced by its own
process too, and a reconnect re-reads everything). A failing handler is logged and the feed
goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

import asyncpg
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from ringflow.database import SqliteDatabase, notify

__all__ = [
    "APPLICATION_NAME",
    "CHANNEL",
    "CONVERSATIONS",
    "MESSAGES",
    "OVERRIDES",
    "PROMPTS",
    "SCHEDULES",
    "TOPICS",
    "WORKFLOWS",
    "ChangeFeed",
    "Handler",
    "announce",
    "listen_dsn",
]

log = logging.getLogger(__name__)

CHANNEL: Final = "ringflow_changes"
"""The one PostgreSQL notification channel; the payload is the topic."""
POLL_EVERY_S: Final = 5.0
"""The fallback: how often everything is re-read without notifications."""
RECONNECT_FIRST_S: Final = 0.5
RECONNECT_MAX_S: Final = 30.0
PING_EVERY_S: Final = 10.0
"""A listening connection silent this long is checked with ``SELECT 1`` (a dead peer may
never close the socket)."""
PING_TIMEOUT_S: Final = 5.0
CONNECT_TIMEOUT_S: Final = 10.0
APPLICATION_NAME: Final = "ringflow-changes"
"""How the listening connection shows in ``pg_stat_activity``."""

WORKFLOWS: Final = "workflows"
"""A workflow was published, rolled back, enabled, disabled, removed or installed."""
SCHEDULES: Final = "schedules"
"""A stored schedule was saved or deleted."""
OVERRIDES: Final = "overrides"
"""A schedule was forced open or closed, or let follow its hours again."""
PROMPTS: Final = "prompts"
"""A prompt's audio was replaced or a prompt was deleted."""
CONVERSATIONS: Final = "conversations"
"""An event was added to a conversation's timeline (a text came in, an agent replied, an
assignment, a note, an automation's change...)."""
MESSAGES: Final = "messages"
"""A text was recorded or its delivery status changed (open conversations show it)."""
TOPICS: Final = frozenset({WORKFLOWS, SCHEDULES, OVERRIDES, PROMPTS, CONVERSATIONS, MESSAGES})
"""Every topic: one registry, so a typo cannot announce to nobody."""

Handler = Callable[[], Awaitable[None]]
NoticeCallback = Callable[[str], None]
"""Gets the payload of a notification on an added channel (on the loop; must not block)."""
_DIALECT_ONLY: Final = ("prepared_statement_cache_size", "async_fallback")
_CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def announce(conn: Connection, topic: str) -> None:
    """Tell every process that ``topic`` changed, when the transaction of ``conn`` commits.

    On SQLite only a feed of this process told of the database's notices hears it
    (:meth:`ChangeFeed.hear_commits`); other processes poll."""
    if topic not in TOPICS:
        raise ValueError(f"unknown change topic {topic!r}")
    notify(conn, CHANNEL, topic)


def listen_dsn(url: URL) -> str | None:
    """The asyncpg DSN to listen on for a database ``url``; None when it cannot notify.

    Query options only SQLAlchemy's dialect reads are left out: asyncpg would send them to
    the server as settings, which refuses them."""
    if url.get_backend_name() != "postgresql":
        return None
    plain = url.set(drivername="postgresql").difference_update_query(_DIALECT_ONLY)
    return plain.render_as_string(hide_password=False)


class ChangeFeed:
    """Runs subscribed handlers when their topic is announced (see the module docstring).

    ``dsn``: where to listen (:func:`listen_dsn`), None to poll only. Start with :meth:`start`,
    stop with :meth:`close`.
    """

    def __init__(
        self,
        dsn: str | None,
        *,
        poll_every: float = POLL_EVERY_S,
        reconnect_first: float = RECONNECT_FIRST_S,
        reconnect_max: float = RECONNECT_MAX_S,
        ping_every: float = PING_EVERY_S,
    ) -> None:
        self._dsn = dsn
        self._poll_every = poll_every
        self._reconnect_first = reconnect_first
        self._reconnect_max = reconnect_max
        self._ping_every = ping_every
        self._handlers: dict[str, list[Handler]] = {}
        self._unpolled: set[Handler] = set()
        self._pending: set[str] = set()
        self._arrived = asyncio.Event()
        self._last_full_read = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._channels: dict[str, tuple[NoticeCallback, Callable[[], None] | None]] = {}
        self._connection: asyncpg.Connection | None = None
        self.listening = asyncio.Event()
        """Set while notifications are being received (tests wait for it)."""

    def subscribe(self, topic: str, handler: Handler, *, polled: bool = True) -> None:
        """Run ``handler`` whenever ``topic`` is announced, and when polling unless
        ``polled`` is False (a handler that cannot tell whether anything changed, and only
        passes on that something did)."""
        if topic not in TOPICS:
            raise ValueError(f"unknown change topic {topic!r}")
        self._handlers.setdefault(topic, []).append(handler)
        if not polled:
            self._unpolled.add(handler)

    def hear_commits(self, db: SqliteDatabase) -> None:
        """Run the handlers of what this process's transactions on ``db`` announce as soon as
        they commit (SQLite: the writer's notices, never for a rolled-back write)."""
        db.on_notice(self._on_notice)

    def _on_notice(self, channel: str, payload: str) -> None:
        if channel == CHANNEL and payload in TOPICS:
            self._heard(payload)

    def _heard(self, topic: str) -> None:
        self._pending.add(topic)
        self._arrived.set()

    @property
    def notifies(self) -> bool:
        """Whether this feed listens on PostgreSQL (False: SQLite, it only polls)."""
        return self._dsn is not None

    async def add_channel(
        self,
        channel: str,
        callback: NoticeCallback,
        on_listening: Callable[[], None] | None = None,
    ) -> None:
        """Also listen on ``channel`` on this feed's connection: ``callback(payload)`` for
        each notification; ``on_listening()`` whenever listening (re)starts (a reconnect:
        notifications sent meanwhile are lost, the owner re-reads)."""
        if channel == CHANNEL or channel in self._channels:
            raise ValueError(f"channel {channel!r} is listened to already")
        self._channels[channel] = (callback, on_listening)
        connection = self._connection
        if connection is not None and self.listening.is_set():
            with contextlib.suppress(*_CONNECTION_ERRORS):
                await connection.add_listener(channel, self._on_channel)
            if on_listening is not None:
                on_listening()

    def _on_channel(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        found = self._channels.get(channel)
        if found is None:
            return
        try:
            found[0](str(payload))
        except Exception:
            log.exception("a listener of channel %s failed", channel)

    def start(self) -> None:
        """Start following changes in a task this feed owns."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="change-feed")

    async def close(self) -> None:
        """Stop following changes (closes the listening connection)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self._dsn is None:
            while True:
                due = self._last_full_read + self._poll_every - time.monotonic()
                try:
                    async with asyncio.timeout(max(due, 0.0)):
                        await self._arrived.wait()
                except TimeoutError:
                    await self._run_all()
                    continue
                await self._run_pending()
        delay = self._reconnect_first
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    timeout=CONNECT_TIMEOUT_S,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except _CONNECTION_ERRORS as error:
                log.warning(
                    "cannot listen for changes (%s); polling, retrying in %.1f s", error, delay
                )
                await self._poll_for(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            try:
                await self._listen(connection)
            except _CONNECTION_ERRORS as error:
                log.warning("lost the connection listening for changes: %s", error)
            finally:
                if self.listening.is_set():
                    delay = self._reconnect_first  # it worked: start the backoff again
                self.listening.clear()
                self._connection = None
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(PING_TIMEOUT_S):
                        await connection.close()
            await self._poll_for(delay)
            delay = min(delay * 2, self._reconnect_max)

    async def _listen(self, connection: asyncpg.Connection) -> None:
        """Follow notifications on ``connection`` until it drops."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _conn: lost.set())
        await connection.add_listener(CHANNEL, self._notified)
        for channel in list(self._channels):
            await connection.add_listener(channel, self._on_channel)
        self._connection = connection
        self.listening.set()
        log.info("listening for changes on channel %s", CHANNEL)
        for _callback, on_listening in list(self._channels.values()):
            if on_listening is not None:
                on_listening()
        await self._run_all()  # what changed while nobody listened
        while not lost.is_set():
            arrived = asyncio.create_task(self._arrived.wait())
            dropped = asyncio.create_task(lost.wait())
            done, _ = await asyncio.wait(
                {arrived, dropped}, timeout=self._ping_every, return_when=asyncio.FIRST_COMPLETED
            )
            arrived.cancel()
            dropped.cancel()
            if self._arrived.is_set():
                await self._run_pending()
            elif not done:
                async with asyncio.timeout(PING_TIMEOUT_S):
                    await connection.fetchval("SELECT 1")
        log.warning("the connection listening for changes closed")

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self._pending.add(str(payload))
        self._arrived.set()

    async def _run_pending(self) -> None:
        self._arrived.clear()
        topics, self._pending = self._pending, set()
        await self._run_topics(topics)

    async def _poll_for(self, seconds: float) -> None:
        """Wait ``seconds``, re-reading everything whenever a poll is due meanwhile."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            due = self._last_full_read + self._poll_every - time.monotonic()
            if due <= 0:
                await self._run_all()
                continue
            await asyncio.sleep(min(left, due))

    async def _run_all(self) -> None:
        self._last_full_read = time.monotonic()
        await self._run_topics(set(self._handlers), polling=True)

    async def _run_topics(self, topics: set[str], *, polling: bool = False) -> None:
        handlers: list[Handler] = []
        for topic in sorted(topics):
            for handler in self._handlers.get(topic, []):
                if polling and handler in self._unpolled:
                    continue
                if handler not in handlers:  # one re-read serves several topics
                    handlers.append(handler)
        for handler in handlers:
            try:
                await handler()
            except Exception:
                log.exception("could not take in a change; keeping what was read before")
