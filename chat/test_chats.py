"""Test chats: an admin chats with a version or draft of a ``chat.started`` workflow from the
console, as a visitor of the web chat would, and nothing of it stays
(:mod:`workflows.test_conversations` says how).

A test chat is a visitor of its own (a visitor id that begins with :data:`TEST_VISITOR_PREFIX`;
real ones are 22 random characters). Each time the admin writes (or taps an answer button),
the whole chat is replayed through the chat channel's own code, at the moments it happened,
in one transaction that is rolled back:

* :meth:`chat.service.ChatService.arrive_in`: the visitor connects and the chosen version
  greets them (its ``when`` still decides), as the widget's first connection does;
* :meth:`chat.service.ChatService.say_in` for each message: the run waiting for the visitor's
  answer takes it (a button's key, as the widget sends it), else it waits for a person.

So the greeting, the bot's messages and their answer buttons, notes, priority and tags are
shown to the admin, but no widget, inbox or table ever holds them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import Connection

from chat.conversations import BUSINESS
from chat.service import ChatService
from ringflow.database import Database
from workflows.conversations.channels import ConversationChannels
from workflows.conversations.customer import latest_of_thread
from workflows.steps.base import CHAT
from workflows.test_conversations import (
    Replayed,
    TestConversations,
    check_room,
    read_conversation,
    rolled_back,
)

__all__ = ["TEST_VISITOR_PREFIX", "TestChat", "TestChats"]

log = logging.getLogger(__name__)

TEST_VISITOR_PREFIX: Final = "test"
"""How a test chat's visitor id begins (then 18 random characters, as long as a real one)."""


@dataclass(frozen=True, slots=True)
class TestMessage:
    """What the admin wrote as the visitor (``choice``: the key of the button tapped)."""

    __test__ = False  # not a pytest test class, whatever its name

    text: str
    choice: str | None
    at: datetime


@dataclass(slots=True)
class TestChat:
    """A test chat of workflow version ``version_id``, as the visitor ``visitor`` (a public
    id), opened at ``opened_at``; ``greeting``: what became of its ``chat.started``."""

    __test__ = False  # not a pytest test class, whatever its name

    id: str
    workflow_id: str
    version: str
    version_id: int
    visitor: str
    opened_at: datetime
    greeting: str = ""
    messages: list[TestMessage] = field(default_factory=list)
    replayed: Replayed = field(default_factory=Replayed)


class TestChats:
    """Keeps this process's test chats and replays them (see the module docstring)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        db: Database,
        service: ChatService,
        channels: ConversationChannels,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._service = service
        self._channels = channels
        self._clock = clock
        self._kept: TestConversations[TestChat] = TestConversations()

    async def start(self, *, workflow_id: str, version: str, version_id: int) -> TestChat:
        """A new test chat of ``version_id``: the visitor arrives and is greeted."""
        visitor = TEST_VISITOR_PREFIX + secrets.token_urlsafe(14)[:18]
        chat = TestChat(
            TestConversations.new_id("tc"),
            workflow_id,
            version,
            version_id,
            visitor,
            self._clock(),
        )
        await self._replay(chat, [])
        return self._kept.keep(chat)

    def get(self, chat_id: str) -> TestChat | None:
        """The test chat ``chat_id``; None if none (or forgotten)."""
        return self._kept.get(chat_id)

    async def send(self, chat: TestChat, text: str, choice: str | None) -> Replayed:
        """The visitor writes ``text`` (tapping the button ``choice``): replay the chat with
        it (kept only if the replay ran). :class:`chat.service.VisitorError` when the widget
        would refuse it."""
        check_room(len(chat.messages))
        body = self._service.checked(text, choice=choice, client_key=None)
        await self._replay(chat, [*chat.messages, TestMessage(body, choice, self._clock())])
        return chat.replayed

    async def _replay(self, chat: TestChat, messages: list[TestMessage]) -> None:
        log.info(
            "test chat %s (visitor %s): replaying %d messages (rolled back)",
            chat.id,
            chat.visitor,
            len(messages),
        )
        greeting, replayed = await rolled_back(
            self._db, lambda conn: self._replayed(conn, chat, messages)
        )
        chat.greeting, chat.messages, chat.replayed = greeting, messages, replayed

    def _replayed(
        self, conn: Connection, chat: TestChat, messages: list[TestMessage]
    ) -> tuple[str, Replayed]:
        arrival = self._service.arrive_in(
            conn, chat.visitor, None, chat.opened_at, version_id=chat.version_id
        )
        outcomes = tuple(
            self._service.say_in(
                conn, arrival.visitor, message.text, message.choice, None, message.at
            ).outcome
            for message in messages
        )
        conversation_id = latest_of_thread(
            conn, channel=CHAT, business=BUSINESS, contact=arrival.visitor.address
        )
        replayed = read_conversation(conn, CHAT, conversation_id, self._channels, outcomes)
        return arrival.outcome or "no workflow greets the visitor", replayed
