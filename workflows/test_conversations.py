"""Test conversations: an admin writes to a version or draft of a workflow from the console,
as a contact would, and nothing of it stays.

What every channel's test conversations share (the SMS channel's in :mod:`sms.test_texts`,
the web chat's in :mod:`chat.test_chats`):

* **They live in this process** (:class:`TestConversations`): what the admin wrote, each
  with the moment it was written, and what the workflow did with it at the last replay.
* **Each new message replays all of them, in a transaction that is rolled back**
  (:func:`rolled_back`): the channel's own code takes every message again at its moment, and
  what the workflow did is read (:func:`read_conversation`) before the rollback. So nothing
  is sent, no agent's inbox shows it, and no contact, conversation, message, run, job or
  firing stays behind. Work a run would wait for (a ``wait`` step's timer, an HTTP request,
  a conversation timer) is never done either: the run shows ``waiting``.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar, cast

from sqlalchemy import Connection, select

from ringflow.database import Database
from workflows.conversations.channels import ConversationChannels
from workflows.conversations.model import load
from workflows.conversations.timeline import Entry, timeline
from workflows.db import runs

__all__ = [
    "MAX_MESSAGES",
    "Replayed",
    "TestConversations",
    "TooManyTestMessages",
    "read_conversation",
    "rolled_back",
]

MAX_MESSAGES: Final = 50
"""Messages one test conversation holds at most (each is replayed on every new one)."""
_REMEMBERED: Final = 200
"""Test conversations kept at once; beyond, the oldest are forgotten."""

T = TypeVar("T")


class TooManyTestMessages(Exception):
    """The test conversation holds :data:`MAX_MESSAGES` messages already."""


@dataclass(frozen=True, slots=True)
class Replayed:
    """What the workflow did with a test conversation, read before the rollback.

    ``outcomes``: what became of each message the admin wrote, in words (in order).
    ``timeline``: the conversation's timeline (the messages the workflow would send with
    their status, notes, changes). ``path``: the steps the latest run went through;
    ``run_status``: ``waiting``, ``completed``, ``failed``... (None when no run started).
    """

    outcomes: tuple[str, ...] = ()
    timeline: tuple[Entry, ...] = ()
    path: tuple[str, ...] = ()
    run_status: str | None = None


class Identified(Protocol):
    """A test conversation: anything with an id."""

    @property
    def id(self) -> str: ...


C = TypeVar("C", bound=Identified)


class TestConversations(Generic[C]):
    """This process's test conversations of one channel, the latest ``capacity`` of them."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, capacity: int = _REMEMBERED) -> None:
        self._kept: OrderedDict[str, C] = OrderedDict()
        self._capacity = capacity

    @staticmethod
    def new_id(prefix: str) -> str:
        """A fresh test conversation id: ``prefix`` and 28 hexadecimal digits."""
        return prefix + secrets.token_hex(14)

    def keep(self, conversation: C) -> C:
        """Keep ``conversation`` (forgetting the oldest beyond the capacity); it."""
        self._kept[conversation.id] = conversation
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)
        return conversation

    def get(self, conversation_id: str) -> C | None:
        """The test conversation ``conversation_id``; None if none (or forgotten)."""
        return self._kept.get(conversation_id)


def check_room(messages: int) -> None:
    """Raise :class:`TooManyTestMessages` when a conversation of ``messages`` is full."""
    if messages >= MAX_MESSAGES:
        raise TooManyTestMessages(f"a test conversation holds {MAX_MESSAGES} messages at most")


class _RolledBack(Exception):
    """Carries a replay's result out of the transaction it rolls back."""

    def __init__(self, result: object) -> None:
        super().__init__("a test conversation's replay is rolled back")
        self.result = result


async def rolled_back(db: Database, work: Callable[[Connection], T]) -> T:
    """What ``work`` returns, run in a write transaction that is then rolled back."""

    def undone(conn: Connection) -> None:
        raise _RolledBack(work(conn))

    try:
        await db.write(undone)
    except _RolledBack as done:
        return cast(T, done.result)  # what `work` returned
    raise AssertionError("a replay always rolls back")  # pragma: no cover


def read_conversation(
    conn: Connection,
    channel: str,
    conversation_id: int | None,
    channels: ConversationChannels,
    outcomes: tuple[str, ...],
) -> Replayed:
    """The replayed conversation ``conversation_id`` of ``channel`` (None: none opened):
    its timeline and its latest run's path and status, with the messages' ``outcomes``."""
    if conversation_id is None:
        return Replayed(outcomes)
    entries = tuple(timeline(conn, load(conn, conversation_id), channels))
    latest = conn.execute(
        select(runs.c.status, runs.c.state)
        .where(runs.c.channel == channel, runs.c.subject == str(conversation_id))
        .order_by(runs.c.created_at.desc(), runs.c.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return Replayed(outcomes, entries)
    path = tuple(str(step) for step in (latest.state or {}).get("path", ()))
    return Replayed(outcomes, entries, path, str(latest.status))
