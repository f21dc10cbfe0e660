"""Test text conversations: an admin texts a version or draft of a workflow from the console,
and nothing of it stays (:mod:`workflows.test_conversations` says how).

Each time the admin sends a text, *every* text of the conversation is replayed, in order and
at the moment it was sent, through the SMS channel's own code, in one transaction that is
rolled back:

* the inbound webhook's (:func:`sms.routes.handle_inbound`): the text is recorded, a
  compliance keyword (STOP, HELP...) answered, the conversation opened or reopened;
* the inbound job's (:meth:`sms.workflow_jobs.InboundTextHandler.handle_in`): a run waiting
  for the contact's reply takes the text, else it starts the chosen version (its ``when``
  still decides), with the contact's values, reply limit and once-per limits as they are;
* for a version that starts on a conversation's event (``message.received``,
  ``conversation.opened``: an automation such as priority by keywords), the text's inbound
  job starts the published ``sms.received`` workflows as for a real text, and then the
  conversation event job's (:meth:`workflows.automations.ConversationEventHandler.handle_in`)
  follows each event of the conversation, starting the chosen version only (no timer is set).

Its texts' ids say they are a test's (``SMtest`` and 28 hexadecimal digits, the shape of
Twilio's MessageSids; ``t`` and ``s`` are no hexadecimal digits), as do the log lines of
each replay.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, func, select

from ringflow.database import Database
from ringflow.settings import Settings
from sms.routes import handle_inbound
from sms.workflow_jobs import InboundTextHandler
from workflows.automations.handlers import NOTHING_STARTED, ConversationEventHandler
from workflows.conversations.channels import ConversationChannels
from workflows.conversations.customer import latest_of_thread
from workflows.conversations.db import conversation_events
from workflows.test_conversations import (
    Replayed,
    TestConversations,
    check_room,
    read_conversation,
    rolled_back,
)
from workflows.triggers import SMS_RECEIVED

__all__ = ["TEST_TEXT_PREFIX", "TestConversation", "TestTexts"]

log = logging.getLogger(__name__)

TEST_TEXT_PREFIX: Final = "SMtest"
"""How a test text's id begins."""
CHANNEL: Final = "sms"
_FOLLOWING: Final = 10
"""Rounds of events that events' workflows raise which a replay follows at most."""


@dataclass(frozen=True, slots=True)
class TestText:
    """A text the admin sent: its id, words and moment."""

    __test__ = False  # not a pytest test class, whatever its name

    sid: str
    body: str
    at: datetime


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
    trigger: str = SMS_RECEIVED
    texts: list[TestText] = field(default_factory=list)
    replayed: Replayed = field(default_factory=Replayed)


class TestTexts:
    """Keeps this process's test conversations and replays them (see the module docstring)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        db: Database,
        handler: InboundTextHandler,
        events: ConversationEventHandler,
        channels: ConversationChannels,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._handler = handler
        self._events = events
        self._channels = channels
        self._settings = settings
        self._clock = clock
        self._kept: TestConversations[TestConversation] = TestConversations()

    def start(
        self,
        *,
        workflow_id: str,
        version: str,
        version_id: int,
        contact: str,
        business: str,
        trigger: str = SMS_RECEIVED,
    ) -> TestConversation:
        """A new test conversation (no text yet) of ``version_id``, which starts on
        ``trigger``, with ``contact``."""
        conversation_id = TestConversations.new_id("tt")
        return self._kept.keep(
            TestConversation(
                conversation_id, workflow_id, version, version_id, contact, business, trigger
            )
        )

    def get(self, conversation_id: str) -> TestConversation | None:
        """The test conversation ``conversation_id``; None if none (or forgotten)."""
        return self._kept.get(conversation_id)

    async def send(self, conversation: TestConversation, body: str) -> Replayed:
        """The contact texts ``body``: replay the conversation with it (and keep it only if
        the replay ran)."""
        check_room(len(conversation.texts))
        sid = TEST_TEXT_PREFIX + secrets.token_hex(14)
        texts = [*conversation.texts, TestText(sid, body, self._clock())]
        log.info(
            "test conversation %s: text %s, replaying %d texts (rolled back)",
            conversation.id,
            sid,
            len(texts),
        )
        replayed = await rolled_back(self._db, lambda conn: self._replay(conn, conversation, texts))
        conversation.texts = texts
        conversation.replayed = replayed
        return replayed

    def _replay(
        self, conn: Connection, conversation: TestConversation, texts: list[TestText]
    ) -> Replayed:
        contact, business = conversation.contact, conversation.business
        answers_texts = conversation.trigger == SMS_RECEIVED
        version_id = conversation.version_id
        outcomes = []
        # The last conversation event followed: the contact's conversation may have a past (a
        # real number's), whose events are not the test's to follow.
        followed = conn.execute(select(func.max(conversation_events.c.id))).scalar() or 0
        conversation_id: int | None = None  # the contact's conversation, once a text opened it
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
                said = [f"{inbound.keyword.upper()} keyword{unanswered}"]
            else:
                handled = self._handler.handle_in(
                    conn,
                    text.sid,
                    contact,
                    business,
                    text.at,
                    version_id=version_id if answers_texts else None,
                )
                said = [dict(handled).get(text.sid, "handled with an earlier text")]
            conversation_id = latest_of_thread(
                conn, channel=CHANNEL, business=business, contact=contact
            )
            if not answers_texts and conversation_id is not None:
                followed, started = self._follow(
                    conn, conversation_id, followed, version_id, text.at
                )
                said.extend(started)
            outcomes.append("; ".join(said))
        return read_conversation(conn, CHANNEL, conversation_id, self._channels, tuple(outcomes))

    def _follow(
        self, conn: Connection, conversation_id: int, after: int, version_id: int, now: datetime
    ) -> tuple[int, list[str]]:
        """Follow the events of conversation ``conversation_id`` after event ``after`` (and
        those their workflows raise) with version ``version_id``, as the conversation event
        jobs would: the last event followed, and what the version did."""
        started: list[str] = []
        for _round in range(_FOLLOWING):
            events = conn.execute(
                select(conversation_events.c.id)
                .where(
                    conversation_events.c.conversation_id == conversation_id,
                    conversation_events.c.id > after,
                )
                .order_by(conversation_events.c.id)
            ).scalars()
            ids = [int(event_id) for event_id in events]
            if not ids:
                break
            for event_id in ids:
                outcome = self._events.handle_in(conn, event_id, now, version_id=version_id)
                if outcome not in NOTHING_STARTED:
                    started.append(outcome)
            after = ids[-1]
        return after, started
