"""Which conversations changed, told to every open inbox of this process.

Recording a timeline event announces the ``conversations`` topic in its transaction
(:mod:`workflows.conversations.events`); this process's change feed (:mod:`ringflow.changes`:
LISTEN/NOTIFY on PostgreSQL, its own commits at once on SQLite, polling as the fallback) then
calls :meth:`InboxLive.changed`, which reads the events recorded since it last looked and tells
each open inbox the ids of the conversations they touched. A page re-reads those through the
API (so it sees exactly what its session may see, and nothing travels twice).

Event ids come from a sequence: on PostgreSQL a transaction that took a smaller id can commit
after one that took a larger id. An id skipped over is kept as a *gap* and looked at again for
:data:`GAP_KEPT_S` seconds, so such an event is still told (late by one change) instead of lost.

Texts change without a timeline event too (an automated text queued, a delivery status):
the ``messages`` topic tells every open inbox to re-read the conversation it shows.

A chat visitor typing (:mod:`chat.typing`, an ephemeral live notice: never stored) is passed
on by :meth:`InboxLive.typing`: each open inbox is told the conversation's id, and the page
shows "Visitor is typing…" when it is the one it shows.

Each open inbox has a :class:`Listener`: a set of changed ids and a flag, never a growing
queue; a listener that falls behind gets "everything changed" instead of a long list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ringflow.database import Database
from workflows.conversations.events import events_after, last_event_id

GAP_KEPT_S: Final = 60.0
"""How long an event id skipped over is waited for (a slow transaction's)."""
MAX_IDS: Final = 200
"""Changed ids a listener holds before it is told "everything changed" instead."""
BATCH: Final = 1000
MAX_GAP: Final = 100
"""Ids skipped in one jump that are waited for (a sequence may jump far after a restart)."""


@dataclass(eq=False)
class Listener:
    """One open inbox: what changed since it was last told."""

    ids: set[int] = field(default_factory=set)
    everything: bool = False
    messages: bool = False
    typing: set[int] = field(default_factory=set)
    closed: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def tell(self, ids: set[int]) -> None:
        if self.everything:
            return
        self.ids |= ids
        if len(self.ids) > MAX_IDS:
            self.everything, self.ids = True, set()
        self.ready.set()

    def texts(self) -> None:
        self.messages = True
        self.ready.set()

    def typed(self, conversation_id: int) -> None:
        if len(self.typing) < MAX_IDS:  # more at once: the rest are shown at the next signal
            self.typing.add(conversation_id)
        self.ready.set()

    def take_typing(self) -> list[int]:
        """The conversations whose visitor typed since last told, and forget them."""
        typing, self.typing = sorted(self.typing), set()
        return typing

    def take(self) -> tuple[bool, list[int], bool]:
        """(everything changed, the changed ids, a text changed), and forget them."""
        everything, ids, texts = self.everything, sorted(self.ids), self.messages
        self.everything, self.ids, self.messages = False, set(), False
        self.ready.clear()
        return everything, ids, texts


class InboxLive:
    """The open inboxes of this process and what they are told (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._seen = 0
        self._gaps: dict[int, float] = {}
        self._listeners: set[Listener] = set()
        self._reading = asyncio.Lock()

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    async def start(self) -> None:
        """Begin after the events recorded so far."""
        self._seen = await self._db.read(last_event_id)

    def join(self) -> Listener:
        listener = Listener()
        self._listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    def close(self) -> None:
        """Wake and end every open inbox's stream (the server is stopping)."""
        for listener in self._listeners:
            listener.closed = True
            listener.ready.set()
        self._listeners.clear()

    def typing(self, data: Mapping[str, Any] | None) -> None:
        """A live-hub subscriber: a chat visitor is typing in ``data["conversation"]`` (None,
        after a lost connection: nothing to re-read, typing is never stored)."""
        if data is None:
            return
        conversation = data.get("conversation")
        if not isinstance(conversation, int):
            return
        for listener in self._listeners:
            listener.typed(conversation)

    async def texts_changed(self) -> None:
        """A change-feed handler (not polled): a text was recorded or changed status; which
        conversation's is not known here, so each open inbox re-reads the one it shows."""
        for listener in self._listeners:
            listener.texts()

    async def changed(self) -> None:
        """A change-feed handler: tell the open inboxes what was recorded since last time."""
        async with self._reading:
            now = time.monotonic()
            self._gaps = {gap: at for gap, at in self._gaps.items() if at > now - GAP_KEPT_S}
            after = min([*self._gaps, self._seen + 1]) - 1
            rows = await self._db.read(lambda conn: events_after(conn, after, BATCH))
            touched: set[int] = set()
            for event_id, conversation_id in rows:
                if event_id > self._seen:
                    skipped = range(max(self._seen + 1, event_id - MAX_GAP), event_id)
                    self._gaps.update((gap, now) for gap in skipped)
                    self._seen = event_id
                    touched.add(conversation_id)
                elif self._gaps.pop(event_id, None) is not None:
                    touched.add(conversation_id)
            if len(rows) == BATCH:
                self._gaps.clear()  # far behind: whatever is left, "everything" covers
            if touched:
                for listener in self._listeners:
                    if len(rows) == BATCH:
                        listener.everything = True
                        listener.ready.set()
                    else:
                        listener.tell(touched)
