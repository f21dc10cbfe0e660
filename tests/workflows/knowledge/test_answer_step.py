"""The ``answer`` step on a real server, on SQLite and PostgreSQL: texts through Twilio's signed
SMS webhook (the knowledge base filled through the admin API), and calls through a Twilio-like
softphone that speaks its question."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from ivr.softphone import ScriptedCaller, Softphone
from tests.clock import MovableClock
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, ServerFactory, workflow
from tests.fakes.twilio_api import TwilioApiStub
from tests.workflows.automations.helpers import Desk, automated_replies, notes, open_desk
from workflows.knowledge.store import EntryFields, add_entry
from workflows.steps.answer import AnswerParams

CANCEL = {
    "question": "How can I cancel my subscription?",
    "answer": "Open Settings > Subscription and press Cancel.",
    "keywords": ["cancel subscription"],
    "language": "en",
}
CANCEL_KO = {
    "question": "구독은 어떻게 해지하나요?",
    "answer": "설정 > 구독에서 해지 버튼을 누르세요.",
    "keywords": ["구독 해지"],
    "language": "ko",
}

SMS_FLOW = workflow(
    """
id: faq-texts
trigger: {event: sms.received}
start: faq
steps:
  faq:
    answer: {threshold: 0.5}
    on_unsure: sorry
  sorry:
    reply: "A person will answer you shortly."
    next: hand_over
  hand_over:
    assign: support
"""
)

VOICE_FLOW = workflow(
    """
id: faq-line
trigger: {event: call.incoming}
defaults: {language: en-US}
start: faq
steps:
  faq:
    answer: {prompt: "What is your question?"}
    on_unsure: person
    next: bye
  person: {say: "Let me find someone for you.", next: bye}
  bye: {hangup: "Goodbye."}
"""
)


@pytest.fixture
async def desk(servers: ServerFactory, server_stub: TwilioApiStub) -> AsyncIterator[Desk]:
    async with aiohttp.ClientSession() as session:
        desk = await open_desk(
            servers, server_stub, session, [SMS_FLOW], MovableClock(datetime.now(UTC))
        )
        await desk.put("/teams/support", {"members": []})
        for entry in (CANCEL, CANCEL_KO):
            created = await desk.api.call("POST", "/knowledge/entries", json_body=entry)
            assert created.status == 201, created.text
        yield desk


async def test_a_text_is_answered_from_the_faq_with_its_source(desk: Desk) -> None:
    await desk.text_in("Hi, how do I cancel my subscription?")
    await desk.expect(
        "Open Settings > Subscription and press Cancel.\n\n"
        "Source: How can I cancel my subscription?"
    )
    conversation = await desk.conversation()
    assert conversation["assignee"]["team"] is None
    assert len(automated_replies(conversation)) == 1


async def test_a_korean_text_is_answered_from_the_korean_entry(desk: Desk) -> None:
    await desk.text_in("구독을 해지하고 싶어요")
    await desk.expect("설정 > 구독에서 해지 버튼을 누르세요.\n\nSource: 구독은 어떻게 해지하나요?")


async def test_a_question_the_faq_cannot_answer_goes_to_the_team(desk: Desk) -> None:
    await desk.text_in("My parcel arrived broken, what now?")
    await desk.expect("A person will answer you shortly.")
    conversation = await desk.conversation()
    assert conversation["assignee"]["team"] == "support"
    assert notes(conversation) == []


def _run_facts(row: dict[str, Any]) -> dict[str, Any]:
    state = row["state"]
    facts: dict[str, Any] = state["facts"]
    return facts


async def test_a_spoken_question_gets_a_spoken_answer(servers: ServerFactory) -> None:
    server = await servers.start([VOICE_FLOW])
    now = datetime.now(UTC)
    await server.db.write(
        lambda conn: add_entry(
            conn,
            EntryFields(
                "How can I cancel my subscription?",
                "Open Settings > Subscription and press Cancel.",
                ("cancel subscription",),
            ),
            now,
        )
    )
    phone = Softphone(server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    caller = ScriptedCaller(["I would like to cancel my subscription"])
    result = await phone.call(caller, from_="+15551230000", to="+15559870000")
    assert list(result.transcript) == [
        "Say: What is your question?",
        "Speech: I would like to cancel my subscription",
        "Say: Open Settings > Subscription and press Cancel.",
        "Say: Goodbye.",
        "Hangup",
    ]
    gather = caller.questions[0]
    assert getattr(gather, "speech", False) is True


async def test_silence_or_an_unknown_question_on_a_call_hands_over(
    servers: ServerFactory,
) -> None:
    server = await servers.start([VOICE_FLOW])
    phone = Softphone(server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    for answer in (None, "Can I pay with gift cards?"):
        result = await phone.call(ScriptedCaller([answer]), from_="+15551230000")
        assert "Say: Let me find someone for you." in result.transcript
        assert "Say: Goodbye." in result.transcript


def test_the_step_checks_its_parameters() -> None:
    with pytest.raises(ValidationError, match="threshold"):
        AnswerParams.model_validate({"threshold": 0})
    with pytest.raises(ValidationError, match="threshold"):
        AnswerParams.model_validate({"threshold": 1.5})
    with pytest.raises(ValidationError, match="only placeholder"):
        AnswerParams.model_validate({"source": "From {where}"})
    assert AnswerParams.model_validate({"source": ""}).source == ""
