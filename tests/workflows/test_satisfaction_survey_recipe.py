"""Recipe 15, the satisfaction survey at close, end to end on SMS: an agent closes the
conversation over the API, the contact gets the rating question, answers "4" and a comment,
gets the thank-you; the rating shows in the CSAT report for the agent who had the
conversation, the answers leave the conversation closed, and the survey's timers, no longer
due, send nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import THURSDAY, MovableClock, next_weekday_at
from tests.conftest import ServerFactory, jobs_settled
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.sms.test_conversations import Chat
from workflows.recipes import bundled_recipes

NEW_YORK = ZoneInfo("America/New_York")
START = next_weekday_at(THURSDAY, time(11, 0), NEW_YORK)
QUESTION = "How did we do? Reply 1-5.\n1. Very poor\n2. Poor\n3. OK\n4. Good\n5. Excellent"
COMMENT = "Thanks! Anything we could do better? (optional)"
THANKS = "Thank you for your feedback!"


@pytest.fixture
async def desk(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> AsyncIterator[tuple[Chat, ApiClient]]:
    flow = bundled_recipes()["satisfaction-survey"].install({"workflow_id": "csat-at-close"}, ())
    clock = MovableClock(START)
    server = await servers.start(
        [flow],
        clock=clock,
        admin_token=ADMIN_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    async with aiohttp.ClientSession() as session:
        yield Chat(server, server_stub, clock), ApiClient(server, session)


async def test_closing_a_conversation_sends_the_survey_and_the_rating_reaches_the_report(
    desk: tuple[Chat, ApiClient],
) -> None:
    chat, api = desk
    assert (await api.call("PUT", "/agents/alice", json_body={})).status == 201
    await chat.send("My parcel never came")
    listed = await api.call("GET", "/conversations")
    (conversation,) = listed.json["items"]
    path = f"/conversations/{conversation['id']}"
    assert (await api.call("POST", path + "/assign", json_body={"agent": "alice"})).status == 200
    assert (await api.call("POST", path + "/replies", json_body={"body": "Resent!"})).status in (
        200,
        201,
    )
    await chat.expect("Resent!")
    assert (await api.call("POST", path + "/close")).status == 200

    await chat.expect("Resent!", QUESTION)
    await chat.send("4")
    await chat.expect("Resent!", QUESTION, COMMENT)
    await chat.send("All good now")
    await chat.expect("Resent!", QUESTION, COMMENT, THANKS)

    since = (START - timedelta(days=1)).astimezone(UTC).isoformat()
    until = (START + timedelta(days=1)).astimezone(UTC).isoformat()
    report = await api.call("GET", "/reports", params={"from": since, "to": until})
    assert report.status == 200, report.text
    (alice,) = [group for group in report.json["agents"] if group["name"] == "alice"]
    assert alice["csat"] == {"count": 1, "average": 4.0}
    timeline = (await api.call("GET", path)).json["timeline"]
    (survey,) = [entry for entry in timeline if entry["kind"] == "survey"]
    assert survey["data"]["rating"] == 4
    assert survey["body"] == "All good now"
    # The answers went to the survey: the conversation did not open again.
    after = (await api.call("GET", path)).json
    assert after["status"] == "closed"
    assert [e["kind"] for e in timeline].count("reopened") == 0

    # The questions' timers come due with nothing left to do.
    chat.clock.set(START + timedelta(hours=25))
    await jobs_settled(chat.server)
    assert len(chat.received()) == 4
