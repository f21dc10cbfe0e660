"""Journey 14, automatic answers from the FAQ with hand-over to a person: the ``faq-answers``
recipe installed in one API call, the knowledge base filled through the admin API (entries
and a Markdown document), texts through Twilio's signed SMS webhook, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from tests.clock import MovableClock
from tests.conftest import ServerFactory
from tests.fakes.twilio_api import TwilioApiStub
from tests.workflows.automations.helpers import (
    Desk,
    automated_replies,
    notes,
    open_desk,
)

ENTRIES = [
    {
        "question": "How can I cancel my subscription?",
        "answer": "Open Settings > Subscription and press Cancel; you keep access until the"
        " end of the period.",
        "keywords": ["cancel subscription", "unsubscribe"],
        "language": "en",
    },
    {
        "question": "구독은 어떻게 해지하나요?",
        "answer": "설정 > 구독에서 해지 버튼을 누르세요. 남은 기간까지 이용할 수 있습니다.",
        "keywords": ["구독 해지", "구독 취소"],
        "language": "ko",
    },
]
GUIDE = """\
# Shipping

## Abroad

We ship to 30 countries; delivery abroad takes 5 to 10 working days.
"""
KOREAN = "+14155550177"
STUMPED = "+14155550166"
HANDOVER = "Thanks for your question! A person from our team will answer you shortly."


@pytest.fixture
async def desk(servers: ServerFactory, server_stub: TwilioApiStub) -> AsyncIterator[Desk]:
    async with aiohttp.ClientSession() as session:
        desk = await open_desk(servers, server_stub, session, [], MovableClock(datetime.now(UTC)))
        await desk.put("/teams/support", {"members": []})
        for entry in ENTRIES:
            answer = await desk.api.call("POST", "/knowledge/entries", json_body=entry)
            assert answer.status == 201, answer.text
        document = {"title": "Customer guide", "content": GUIDE, "language": "en"}
        answer = await desk.api.call("POST", "/knowledge/documents", json_body=document)
        assert answer.status == 201, answer.text
        await desk.install("faq-answers", workflow_id="faq", team="support")
        yield desk


async def test_faq_answers_in_english_and_korean_and_hands_over_the_rest(desk: Desk) -> None:
    await desk.text_in("how do I cancel my subscription")
    await desk.text_in("구독을 해지하고 싶어요", sender=KOREAN)
    await desk.text_in("Can I pay with a voucher from my employer?", sender=STUMPED)

    await desk.expect(
        "Open Settings > Subscription and press Cancel; you keep access until the end of the"
        " period.\n\nSource: How can I cancel my subscription?"
    )
    await desk.expect(
        "설정 > 구독에서 해지 버튼을 누르세요. 남은 기간까지 이용할 수 있습니다.\n\n"
        "Source: 구독은 어떻게 해지하나요?",
        to=KOREAN,
    )
    await desk.expect(HANDOVER, to=STUMPED)

    answered = await desk.conversation()
    assert answered["assignee"] == {"agent": None, "team": None}
    stumped = await desk.conversation(STUMPED)
    assert stumped["assignee"]["team"] == "support"
    assert automated_replies(stumped) == [HANDOVER]
    assert notes(stumped) == [
        "Not answered from the FAQ: Can I pay with a voucher from my employer?"
    ]

    # A document's passage answers too, naming the document and its section.
    await desk.text_in("Do you ship abroad?")
    await desk.expect(
        answered_cancel := desk.received()[0],
        "We ship to 30 countries; delivery abroad takes 5 to 10 working days.\n\n"
        "Source: Customer guide / Shipping / Abroad",
    )
    assert answered_cancel

    # Once a person has the conversation, the FAQ no longer answers in their place.
    await desk.text_in("How do I cancel my subscription?", sender=STUMPED)
    await desk.quiet(1, to=STUMPED)
