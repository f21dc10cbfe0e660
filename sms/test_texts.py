"""Test text conversations: an admin texts a version or draft of a workflow from the console,
and nothing of it stays.

A test conversation is kept in this process: the texts the admin typed, each with the moment
it was sent. Each time the admin sends one, *every* text of the conversation is replayed, in
order and at the moment it was sent, through the SMS channel's own code:

* the inbound webhook's (:func:`sms.routes.handle_inbound`): the text is recorded, a
  compliance keyword (STOP, HELP...) answered, the conversation opened or reopened;
* the inbound job's (:meth:`sms.workflow_jobs.InboundTextHandler.handle_in`): a run waiting
  for the contact's reply takes the text, else it starts the chosen version (its ``when``
  still decides), with the contact's values, reply limit and once-per limits as they are.

All of it runs in **one transaction that is rolled back**: what the workflow did is read just
before (the conversation's timeline with the texts it would send and when, its notes,
assignment, priority, tags; the run's path and state). So a test text is never sent, reaches
no agent's inbox, and leaves no contact, conversation, message, run, job or firing behind.
Work a run would wait for (a ``wait`` step's timer, an HTTP request, a conversation timer)
is never done either: the test says what the run waits for.

Its texts' ids say they are a test's (``SMtest`` and 28 hexadecimal digits, the shape of
Twilio's MessageSids; ``t`` and ``s`` are no hexadecimal digits), as do the log lines of
each replay.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, select

from ringflow.database import Database
from ringflow.settings import Settings
from sms.routes import handle_inbound
from sms.workflow_jobs import InboundTextHandler
from workflows.conversations.channels import ConversationChannels
from workflows.conversations.customer import latest_of_thread
from workflows.conversations.model import load
from workflows.conversations.timeline import Entry, timeline
from workflows.db import runs

__all__ = [
    "TEST_TEXT_PREFIX",
    "Replayed",
    "TestConversation",
    "TestTexts",
    "TooManyTestTexts",
    "is_test_text",
]

TEST_TEXT_PREFIX: Final = "SMtest"
"""How a test text's id begins."""
CHANNEL: Final = "sms"
MAX_TEXTS: Final = 50
"""Texts one test conversation holds at most (each is replayed on every new one)."""
_REMEMBERED: Final = 200
"""Test conversations kept at once; beyond, the oldest are forgotten."""


def is_test_text(sid: str) -> bool:
    """Whether MessageSid ``sid`` is a test text's (see the module docstring)."""
    return sid.startswith(TEST_TEXT_PREFIX)


class TooManyTestTexts(Exception):
    """The test conversation holds :data:`MAX_TEXTS` texts already."""


@dataclass(frozen=True, slots=True)
class TestText:
    """A text the admin sent: its id, words and moment."""

    __test__ = False  # not a pytest test class, whatever its name

    sid: str
    body: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Replayed:
    """What the workflow did with the conversation's texts, read before the rollback.

    ``outcomes``: for each text, what became of it, in words. ``timeline``: the
    conversation's timeline (the texts it would send with their status, notes, changes).
    ``path``: the steps the latest run went through; ``run_status``: ``waiting``,
    ``completed``, ``failed``... (None when no run started).
    """

    outcomes: tuple[str, ...]
    timeline: tuple[Entry, ...]
    path: tuple[str, ...]
    run_status: str | None


@dataclass(slots=True)
class TestConversation:
    """A test conversation between the contact ``contact`` and our number ``business``."""

    __test__ = False  # not a pytest test class, whatever its name

    id: str
    workflow_id: str
    version: str
    version_id: int
    contact: str
    business: str
    texts: list[TestText] = field(default_factory=list)
    replayed: Replayed = field(default_factory=lambda: Replayed((), (), (), None))


class _RolledBack(Exception):
    """Carries a replay's result out of the transaction it rolls back."""

    def __init__(self, replayed: Replayed) -> None:
        super().__init__("a test conversation's replay is rolled back")
        self.replayed = replayed


class TestTexts:
    """Keeps this process's test conversations and replays them (see the module docstring)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        db: Database,
        handler: InboundTextHandler,
        channels: ConversationChannels,
        settings: Settings,
        clock: Callable[[], datetime],
        *,
        capacity: int = _REMEMBERED,
    ) -> None:
        self._db = db
        self._handler = handler
        self._channels = channels
        self._settings = settings
        self._clock = clock
        self._capacity = capacity
        self._conversations: OrderedDict[str, TestConversation] = OrderedDict()

    def start(
        self, *, workflow_id: str, version: str, version_id: int, contact: str, business: str
    ) -> TestConversation:
        """A new test conversation (no text yet) of ``version_id`` with ``contact``."""
        conversation = TestConversation(
            "tt" + secrets.token_hex(14), workflow_id, version, version_id, contact, business
        )
        self._conversations[conversation.id] = conversation
        while len(self._conversations) > self._capacity:
            self._conversations.popitem(last=False)
        return conversation

    def get(self, conversation_id: str) -> TestConversation | None:
        """The test conversation ``conversation_id``; None if none (or forgotten)."""
        return self._conversations.get(conversation_id)

    async def send(self, conversation: TestConversation, body: str) -> Replayed:
        """The contact texts ``body``: replay the conversation with it (and keep it only if
        the replay ran)."""
        if len(conversation.texts) >= MAX_TEXTS:
            raise TooManyTestTexts(f"a test conversation holds {MAX_TEXTS} texts at most")
        sid = TEST_TEXT_PREFIX + secrets.token_hex(14)
        texts = [*conversation.texts, TestText(sid, body, self._clock())]
        try:
            await self._db.write(lambda conn: self._replay(conn, conversation, texts))
        except _RolledBack as done:
            conversation.texts = texts
            conversation.replayed = done.replayed
            return done.replayed
        raise AssertionError("a replay always rolls back")  # pragma: no cover

    def _replay(
        self, conn: Connection, conversation: TestConversation, texts: list[TestText]
    ) -> None:
        contact, business = conversation.contact, conversation.business
        outcomes = []
        for text in texts:
            inbound = handle_inbound(
                conn,
                sid=text.sid,
                sender=contact,
                recipient=business,
                body=text.body,
                settings=self._settings,
                now=text.at,
            )
            if inbound.keyword is not None:
                unanswered = f": not answered, {inbound.unanswered}" if inbound.unanswered else ""
                outcomes.append(f"{inbound.keyword.upper()} keyword{unanswered}")
                continue
            handled = self._handler.handle_in(
                conn, text.sid, contact, business, text.at, version_id=conversation.version_id
            )
            outcomes.append(dict(handled).get(text.sid, "handled with an earlier text"))
        raise _RolledBack(self._read(conn, contact, business, tuple(outcomes)))

    def _read(
        self, conn: Connection, contact: str, business: str, outcomes: tuple[str, ...]
    ) -> Replayed:
        conversation_id = latest_of_thread(
            conn, channel=CHANNEL, business=business, contact=contact
        )
        if conversation_id is None:
            return Replayed(outcomes, (), (), None)
        entries = tuple(timeline(conn, load(conn, conversation_id), self._channels))
        latest = conn.execute(
            select(runs.c.status, runs.c.state)
            .where(runs.c.channel == CHANNEL, runs.c.subject == str(conversation_id))
            .order_by(runs.c.created_at.desc(), runs.c.id.desc())
            .limit(1)
        ).first()
        if latest is None:
            return Replayed(outcomes, entries, (), None)
        path = tuple(str(step) for step in (latest.state or {}).get("path", ()))
        return Replayed(outcomes, entries, path, str(latest.status))
