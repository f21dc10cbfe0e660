"""``survey`` end to end on SMS, through the real server: the rating question goes out as
numbered options, a "4" and a comment are kept against the conversation and its assignee and
show in its timeline; two answers that are not ratings end it without one; silence until the
durable timer fires ends it too, and a late answer then changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select

from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import TUESDAY, MovableClock, next_weekday_at
from tests.conftest import ServerFactory, jobs_settled, workflow
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.sms.test_conversations import Chat
from workflows.conversations.db import conversation_ratings
from workflows.loader import from_text
from workflows.people.db import agents, teams
from workflows.problems import WorkflowInvalid

SEOUL = ZoneInfo("Asia/Seoul")
START = next_weekday_at(TUESDAY, time(14, 0), SEOUL)
QUESTION = "How did we do? Reply 1-5.\n1. Very poor\n2. Poor\n3. OK\n4. Good\n5. Excellent"
COMMENT = "Thanks! Anything we could do better?"
THANKS = "Thank you for your feedback."
SORRY = "No problem, thanks anyway."
INVALID = "Sorry, please reply with a number from 1 to 5."

RATE = workflow(
    """
id: rate
trigger:
  event: sms.received
  when: {keywords: [rate]}
start: rate
steps:
  rate:
    survey:
      question: "How did we do? Reply 1-5."
      comment: "Thanks! Anything we could do better?"
      thanks: "Thank you for your feedback."
      timeout: 1h
      save_as: stars
    on_unrated: sorry
  sorry:
    send_sms: "No problem, thanks anyway."
"""
)


class Rig:
    """A contact texting the server, and an admin client of the same server."""

    def __init__(self, chat: Chat, api: ApiClient) -> None:
        self.chat = chat
        self.api = api

    async def conversation(self) -> dict[str, Any]:
        listed = await self.api.call("GET", "/conversations")
        assert listed.status == 200, listed.text
        (item,) = listed.json["items"]
        answer = await self.api.call("GET", f"/conversations/{item['id']}")
        assert answer.status == 200, answer.text
        found: dict[str, Any] = answer.json
        return found

    async def surveys(self) -> list[dict[str, Any]]:
        timeline = (await self.conversation())["timeline"]
        return [entry for entry in timeline if entry["kind"] == "survey"]

    async def ratings(self) -> list[tuple[Any, ...]]:
        table = conversation_ratings.c
        rows = await self.chat.server.db.read(
            lambda conn: conn.execute(
                select(table.rating, table.comment, table.agent_id, table.team_id)
            ).all()
        )
        return [tuple(row) for row in rows]


@pytest.fixture
async def rig(servers: ServerFactory, server_stub: TwilioApiStub) -> AsyncIterator[Rig]:
    clock = MovableClock(START)
    server = await servers.start(
        [RATE],
        clock=clock,
        admin_token=ADMIN_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    async with aiohttp.ClientSession() as session:
        yield Rig(Chat(server, server_stub, clock), ApiClient(server, session))


async def quiet(chat: Chat, count: int) -> None:
    """Once every job due now has run, the contact still has ``count`` texts."""
    await jobs_settled(chat.server)
    assert len(chat.received()) == count


async def test_a_rating_and_a_comment_are_kept_with_the_assignee_and_in_the_timeline(
    rig: Rig,
) -> None:
    assert (await rig.api.call("PUT", "/agents/alice", json_body={})).status == 201
    team = await rig.api.call("PUT", "/teams/support", json_body={"members": ["alice"]})
    assert team.status == 201, team.text
    await rig.chat.send("rate us")
    await rig.chat.expect(QUESTION)
    conversation = await rig.conversation()
    assign = await rig.api.call(
        "POST",
        f"/conversations/{conversation['id']}/assign",
        json_body={"agent": "alice", "team": "support"},
    )
    assert assign.status == 200, assign.text

    await rig.chat.send("4")
    await rig.chat.expect(QUESTION, COMMENT)
    await rig.chat.send("Faster replies, please")
    await rig.chat.expect(QUESTION, COMMENT, THANKS)

    ids = await rig.chat.server.db.read(
        lambda conn: (
            conn.execute(select(agents.c.id).where(agents.c.name == "alice")).scalar_one(),
            conn.execute(select(teams.c.id).where(teams.c.name == "support")).scalar_one(),
        )
    )
    assert await rig.ratings() == [(4, "Faster replies, please", *ids)]
    (event,) = await rig.surveys()
    assert event["actor"]["type"] == "automation"
    assert event["data"]["rating"] == 4
    assert event["data"]["outcome"] == "rated"
    assert event["body"] == "Faster replies, please"

    # The timer of the comment question finds the run gone on: nothing more happens.
    rig.chat.clock.set(START + timedelta(hours=2))
    await quiet(rig.chat, 3)


async def test_two_answers_that_are_not_ratings_end_it_without_one(rig: Rig) -> None:
    await rig.chat.send("rate")
    await rig.chat.expect(QUESTION)
    await rig.chat.send("great")
    await rig.chat.expect(QUESTION, f"{INVALID}\n{QUESTION}")
    await rig.chat.send("great")
    await rig.chat.expect(QUESTION, f"{INVALID}\n{QUESTION}", SORRY)
    assert await rig.ratings() == []
    (event,) = await rig.surveys()
    assert event["data"]["rating"] is None
    assert event["data"]["outcome"] == "invalid"


async def test_no_answer_before_the_timeout_ends_it_and_a_late_one_changes_nothing(
    rig: Rig,
) -> None:
    await rig.chat.send("rate")
    await rig.chat.expect(QUESTION)
    await quiet(rig.chat, 1)
    rig.chat.clock.set(START + timedelta(minutes=61))
    await rig.chat.expect(QUESTION, SORRY)
    await rig.chat.send("5")
    await quiet(rig.chat, 2)
    assert await rig.ratings() == []
    (event,) = await rig.surveys()
    assert event["data"]["outcome"] == "timeout"


async def test_a_rating_without_its_comment_is_kept_when_the_comment_times_out(
    rig: Rig,
) -> None:
    await rig.chat.send("rate")
    await rig.chat.expect(QUESTION)
    await rig.chat.send("excellent")  # an option's words are a rating too
    await rig.chat.expect(QUESTION, COMMENT)
    rig.chat.clock.set(START + timedelta(minutes=61))
    await rig.chat.expect(QUESTION, COMMENT, THANKS)
    assert await rig.ratings() == [(5, None, None, None)]


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ("{timeout: 0}", "at least 1 second"),
        ("{timeout: 2d}", "at most 1d"),
        ("{labels: [a, b, c]}", "labels"),
        ("{question: 'Hi {{nobody.name}}'}", "nobody"),
    ],
)
def test_bad_parameters_are_refused_when_loaded(step: str, problem: str) -> None:
    text = (
        "id: t\ntrigger: {event: sms.received}\nstart: main\n"
        f"steps:\n  main:\n    survey: {step}\n"
    )
    with pytest.raises(WorkflowInvalid) as raised:
        from_text(text, "t.yaml")
    assert problem in " ".join(raised.value.messages())
