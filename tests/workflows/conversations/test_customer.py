"""The core's conversation functions on a real database, without a channel: a contact's
messages open, reopen or start conversations; a reply needs its channel's outbound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select, update

from ringflow.database import Database
from workflows.conversations import actions
from workflows.conversations.channels import ConversationChannels, Sent
from workflows.conversations.customer import customer_message
from workflows.conversations.db import conversations
from workflows.conversations.errors import ChangeRefused, ChannelUnavailable
from workflows.conversations.model import Actor, Conversation

NOW = datetime.now(UTC)
WINDOW = timedelta(hours=2)
ADMIN = Actor("admin", "root")


def _text(conn: Connection, at: datetime, body: str = "hi") -> Conversation:
    return customer_message(
        conn,
        channel="chat",
        business="widget-1",
        contact="visitor-7",
        message_id=None,
        body=body,
        now=at,
        reopen_window=WINDOW,
    )


async def test_messages_open_reopen_and_start_afresh(migrated_db: Database) -> None:
    def scenario(conn: Connection) -> list[tuple[int, str, bool]]:
        first = _text(conn, NOW)
        seen: list[tuple[int, str, bool]] = [(first.id, first.status, first.latest)]
        actions.snooze(conn, first.id, NOW + timedelta(days=1), ADMIN, NOW)
        woken = _text(conn, NOW + timedelta(minutes=1))
        seen.append((woken.id, woken.status, woken.latest))
        actions.close(conn, first.id, ADMIN, NOW + timedelta(minutes=2))
        conn.execute(
            update(conversations)
            .where(conversations.c.id == first.id)
            .values(waiting_run_id="run-1", waiting_since=NOW)
        )
        later = _text(conn, NOW + timedelta(minutes=2) + WINDOW + timedelta(seconds=1))
        seen.append((later.id, later.status, later.latest))
        # A run waiting for the contact's answer keeps waiting on the new conversation.
        waiting = conn.execute(
            select(conversations.c.waiting_run_id).where(conversations.c.id == later.id)
        ).scalar()
        assert waiting == "run-1"
        return seen

    seen: list[tuple[int, str, bool]] = await migrated_db.write(scenario)
    (first, _open, _latest), woken, later = seen
    assert woken == (first, "open", True)
    assert later[0] != first
    assert later[1:] == ("open", True)


async def test_a_reply_needs_the_channels_outbound(migrated_db: Database) -> None:
    empty = ConversationChannels()

    def reply(conn: Connection) -> None:
        conversation = _text(conn, NOW)
        actions.reply(conn, conversation.id, "hello", ADMIN, empty, NOW)

    with pytest.raises(ChannelUnavailable, match="'chat'"):
        await migrated_db.write(reply)


def test_one_outbound_per_channel() -> None:
    class Nowhere:
        def send(self, *_args: object, hold: object = None) -> Sent:
            return Sent(None)

    channels = ConversationChannels()
    channels.register_outbound("chat", Nowhere())
    with pytest.raises(ValueError, match="registered already"):
        channels.register_outbound("chat", Nowhere())


async def test_state_changes_count_and_refuse_what_does_not_fit(migrated_db: Database) -> None:
    def scenario(conn: Connection) -> list[int]:
        conversation = _text(conn, NOW)
        versions = [conversation.state_version]
        versions.append(actions.close(conn, conversation.id, ADMIN, NOW).state_version)
        with pytest.raises(ChangeRefused):
            actions.close(conn, conversation.id, ADMIN, NOW)
        with pytest.raises(ChangeRefused):
            actions.snooze(conn, conversation.id, NOW + timedelta(hours=1), ADMIN, NOW)
        versions.append(actions.reopen(conn, conversation.id, ADMIN, NOW).state_version)
        # A priority or a tag is no change of state.
        versions.append(
            actions.set_priority(conn, conversation.id, "high", ADMIN, NOW).state_version
        )
        versions.append(actions.tag(conn, conversation.id, "x", ADMIN, NOW).state_version)
        return versions

    assert await migrated_db.write(scenario) == [0, 1, 2, 2, 2]
