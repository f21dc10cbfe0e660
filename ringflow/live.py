"""Live updates across server processes: "something new for X, look again".

A writer calls :func:`publish` inside the transaction that writes the new thing (a chat
message, an agent's reply...). The notice is delivered only if and after the transaction
commits, to every process:

* on PostgreSQL through ``pg_notify`` on the channel :data:`CHANNEL`, received by the one
  listening connection each process already holds for configuration changes
  (:class:`ringflow.changes.ChangeFeed`, which reconnects with backoff); a notice carries
  ids, never texts (PostgreSQL's payload limit is 8000 bytes and texts are not for logs);
* on SQLite (one process) by the database writer, in this process, after the commit
  (:func:`ringflow.database.notify`).

:class:`LiveHub` is the receiving end, one per process: subscribers register a callback for
a ``(topic, key)`` (e.g. ``("chat", "<visitor id>")``) and are called on the event loop with
the notice's data. Callbacks must be quick and must not fail: they wake a task that re-reads
the database from its own cursor, so a notice delivered twice, late or spuriously costs a
read and never shows a thing twice. When the listening connection was lost and is back,
every subscriber is called with ``None``: notices sent meanwhile are lost, so look again.

:meth:`LiveHub.signal` sends an *ephemeral* notice, one that says something rather than "look
again" (someone is typing): nothing is written, nothing can be re-read, a lost one is simply
gone. On PostgreSQL it is a transaction of one ``SELECT pg_notify(...)`` (no row is touched),
heard by every process as above; on SQLite it is handed to this process's subscribers at once
(other processes on the same file do not hear it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from sqlalchemy import Connection

from ringflow.changes import ChangeFeed
from ringflow.database import Database, SqliteDatabase, notify

__all__ = ["CHANNEL", "LiveHub", "Subscriber", "publish"]

log = logging.getLogger(__name__)

CHANNEL: Final = "ringflow_live"
"""The PostgreSQL notification channel of live updates (beside ``ringflow_changes``)."""
MAX_PAYLOAD: Final = 7900
"""A notice's JSON at most (PostgreSQL refuses more than 8000 bytes)."""

Subscriber = Callable[[Mapping[str, Any] | None], None]
"""Called with a notice's data, or None after a lost connection ("look again")."""


def _payload(topic: str, key: str | int, data: Mapping[str, str | int | None]) -> str:
    payload = json.dumps({"topic": topic, "key": str(key), **data}, separators=(",", ":"))
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError(f"a live notice of {len(payload)} bytes: send ids, not texts")
    return payload


def publish(conn: Connection, topic: str, key: str | int, **data: str | int | None) -> None:
    """Announce ``data`` (small: ids) to the subscribers of ``(topic, key)`` in every
    process, once the transaction of ``conn`` commits."""
    notify(conn, CHANNEL, _payload(topic, key, data))


class LiveHub:
    """The subscribers of this process, and what delivers notices to them."""

    def __init__(self) -> None:
        self._subscribers: dict[tuple[str, str], set[Subscriber]] = {}
        self.delivered = 0
        """Notices handed to at least one subscriber (metrics, tests)."""
        self._notifier: Database | None = None
        """The PostgreSQL database whose ``pg_notify`` reaches every process (None: SQLite,
        or nothing listens: ephemeral notices stay in this process)."""

    async def attach(self, db: Database, feed: ChangeFeed | None) -> None:
        """Receive the notices of every process: on PostgreSQL through ``feed``'s listening
        connection, on SQLite from ``db``'s writer."""
        if isinstance(db, SqliteDatabase):
            db.on_notice(self._on_notice)
        elif feed is not None and feed.notifies:
            await feed.add_channel(CHANNEL, self.deliver, self.resync)
            self._notifier = db
        else:
            log.warning("live updates reach only this process: nothing listens for notices")

    async def signal(self, topic: str, key: str | int, **data: str | int | None) -> None:
        """Send ``data`` to the subscribers of ``(topic, key)`` in every process now, storing
        nothing (an ephemeral notice, see the module docstring). The data is the message
        itself: keep it small, and never a customer's text."""
        payload = _payload(topic, key, data)
        notifier = self._notifier
        if notifier is None:
            self.deliver(payload)
            return
        # Heard back through the listening connection, by this process as by the others.
        await notifier.write(lambda conn: notify(conn, CHANNEL, payload))

    def subscribe(self, topic: str, key: str | int, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` for the notices of ``(topic, key)``; returns what unsubscribes."""
        address = (topic, str(key))
        self._subscribers.setdefault(address, set()).add(subscriber)

        def unsubscribe() -> None:
            found = self._subscribers.get(address)
            if found is not None:
                found.discard(subscriber)
                if not found:
                    del self._subscribers[address]

        return unsubscribe

    @property
    def subscriptions(self) -> int:
        """Subscribers registered now."""
        return sum(len(found) for found in self._subscribers.values())

    def _on_notice(self, channel: str, payload: str) -> None:
        if channel == CHANNEL:
            self.deliver(payload)

    def deliver(self, payload: str) -> None:
        """Hand a notice (its JSON) to the subscribers of its topic and key."""
        try:
            data = json.loads(payload)
            address = (str(data["topic"]), str(data["key"]))
        except (ValueError, KeyError, TypeError):
            log.warning("a live notice that is not one: %.80r", payload)
            return
        found = self._subscribers.get(address)
        if not found:
            return
        self.delivered += 1
        for subscriber in list(found):
            self._call(subscriber, data)

    def resync(self) -> None:
        """Tell every subscriber to look again (notices may have been lost)."""
        for found in list(self._subscribers.values()):
            for subscriber in list(found):
                self._call(subscriber, None)

    @staticmethod
    def _call(subscriber: Subscriber, data: Mapping[str, Any] | None) -> None:
        try:
            subscriber(data)
        except Exception:
            log.exception("a live subscriber failed")
