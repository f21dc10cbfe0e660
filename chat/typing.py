"""Typing indicators, both ways: a visitor typing in the widget shows in the inbox of the agent
reading the conversation, an agent typing a reply shows in the visitor's widget.

They are ephemeral: never stored, sent as live notices that say it all
(:meth:`ringflow.live.LiveHub.signal`: ``pg_notify`` on PostgreSQL, so they reach a widget or
an inbox open on another server process; in process on SQLite). A lost one is not sent again:
the indicator it would have refreshed goes away a few seconds later by itself.

* A visitor typing: the widget sends ``{"type": "typing"}`` on its socket; the server signals
  :data:`VISITOR_TYPING` with the id of the visitor's own latest conversation (a visitor cannot
  name another one), which every process's inbox hub passes on to its open pages
  (:mod:`ringflow.inbox.live`).
* An agent typing a reply: the inbox page calls ``POST /api/conversations/{id}/typing`` (the
  agent's session and CSRF token, like a reply); on a chat conversation the server signals
  :data:`AGENT_TYPING` to the visitor's sockets, with the agent's display name (None when it
  has none: the widget says "Someone"). The page never calls it while an internal note is
  being written.

Senders send at most one signal every :data:`SEND_EVERY_S` seconds (the widget's and the
page's script), and one more at once when their user starts the next message after sending
one; the server passes on at most :data:`AT_MOST` per :data:`SEND_EVERY_S` seconds for one
conversation (or socket) and drops the rest, so a client that does not hold back costs little
more. Receivers show the indicator for :data:`SHOWN_S` seconds after the last signal, or until
the message arrives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Final

from chat.conversations import BUSINESS
from chat.visitors import Visitor, visitor_by_address
from ringflow.database import Database
from ringflow.live import LiveHub
from workflows.conversations.customer import latest_of_thread
from workflows.conversations.model import Conversation
from workflows.steps.base import CHAT

AGENT_TYPING: Final = "chat.typing"
"""The live topic of an agent typing to a visitor (key: the visitor's row id; data: ``name``,
the agent's display name or None)."""
VISITOR_TYPING: Final = "inbox.typing"
"""The live topic of a visitor typing (key: :data:`INBOX_KEY`; data: ``conversation``)."""
INBOX_KEY: Final = "visitors"
"""The one key of :data:`VISITOR_TYPING`: every process's inbox hub listens to all of them."""
SEND_EVERY_S: Final = 2.0
"""How often a sender's script signals while its user keeps typing."""
AT_MOST: Final = 3
"""Signals the server passes on per :data:`SEND_EVERY_S` for one conversation, or one socket:
one for each 2 s, one for a new message started at once, one to spare; the rest are dropped."""
SHOWN_S: Final = 6.0
"""How long a receiver shows the indicator after the last signal (three signals missed)."""
MAX_NAME: Final = 80
"""The longest agent name a notice carries."""
_KEPT: Final = 1000
"""Throttle entries kept before the stale ones are dropped."""


class Throttle:
    """At most ``at_most`` signals per key in any ``window`` seconds (monotonic time: a
    duration, not a date)."""

    __slots__ = ("_at_most", "_now", "_sent", "_window")

    def __init__(
        self,
        window: float = SEND_EVERY_S,
        at_most: int = AT_MOST,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window
        self._at_most = at_most
        self._now = now
        self._sent: dict[Hashable, list[float]] = {}

    def allow(self, key: Hashable) -> bool:
        """Whether a signal for ``key`` may go now (and, if so, count it)."""
        now = self._now()
        if len(self._sent) >= _KEPT and key not in self._sent:
            self._sent = {
                k: times for k, times in self._sent.items() if now - times[-1] < self._window
            }
        recent = [at for at in self._sent.get(key, ()) if now - at < self._window]
        if len(recent) >= self._at_most:
            self._sent[key] = recent
            return False
        recent.append(now)
        self._sent[key] = recent
        return True


class ChatTyping:
    """Sends the typing signals of the chat (see the module docstring)."""

    def __init__(self, db: Database, hub: LiveHub) -> None:
        self._db = db
        self._hub = hub
        self._agents = Throttle()

    async def visitor_typing(self, visitor: Visitor) -> bool:
        """``visitor`` is typing: tell the inboxes, if the visitor has a conversation yet."""
        conversation_id = await self._db.read(
            lambda conn: latest_of_thread(
                conn, channel=CHAT, business=BUSINESS, contact=visitor.address
            )
        )
        if conversation_id is None:
            return False
        await self._hub.signal(VISITOR_TYPING, INBOX_KEY, conversation=conversation_id)
        return True

    async def agent_typing(self, conversation: Conversation, name: str | None) -> bool:
        """An agent (called ``name``, None: unnamed) is typing a reply in ``conversation``:
        tell the visitor's widget, when it is a chat conversation. False when nothing was
        signalled (another channel, no visitor, or too soon after the last signal)."""
        if conversation.channel != CHAT or not self._agents.allow(conversation.id):
            return False
        visitor = await self._db.read(
            lambda conn: visitor_by_address(conn, conversation.contact_number)
        )
        if visitor is None:
            return False
        shown = name.strip()[:MAX_NAME] if name and name.strip() else None
        await self._hub.signal(AGENT_TYPING, visitor.id, name=shown)
        return True
