"""Issue 10's recipes on the web chat, each installed with one admin API call and tried by a
visitor in a real browser (Chromium through Playwright).

* Greeting by business hours (journey 3, ``chat-greeting-by-hours``): the server's clock is
  moved to the next Monday 10:00 and then the Saturday after, in New York (the office
  schedule's zone): the open greeting with its answer buttons, then the closed message with
  the next opening time.
* Members and non-members (journey 4, ``chat-members-menu``): a site page (served by the test
  under its own origin) embeds the widget with an identity signed by the site's secret: a
  member gets the members' menu, a visitor without an identity is asked to log in, and one
  whose ``member: true`` carries a wrong signature is asked to log in too.
* VIP customers (journey 5, ``chat-vip-greeting``): a signed VIP tier gets the personal
  greeting, the conversation urgent and given to the VIP team; another tier gets the site's
  main greeting.
* Proactive nudge (journey 6, ``proactive-nudge``): the site signs its customer in with their
  phone number; ``POST /api/events`` (channel ``chat``) with that number makes the nudge
  appear live in the open widget, and the customer can answer it.

Answer buttons (1) and the FAQ with hand-over (14) are in ``test_acceptance_journey.py``. One
database (SQLite) is enough here: the recipes' workflows and the chat are tested on both
elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.chat.shop import NEW_YORK, Shop, answers, bot, open_shop, visitor_id
from tests.chat.test_socket import conversation_of
from tests.clock import SATURDAY, next_weekday_at
from tests.conftest import workflow

OUR_NUMBER = "+15005550006"
NUDGE = (
    "Hi there, still thinking it over? Your cart is saved: https://shop.example/cart/42."
    " Reply here if you have a question."
)
MAIN_GREETING = """\
id: welcome
trigger: {event: chat.started}
start: main
steps:
  main:
    menu:
      say: "Hi! How can we help?"
      options:
        "1": {next: hours, label: Opening hours}
      max_timeouts: 1
      on_failure: hours
  hours:
    say: "We are open 9 to 5, Monday to Friday."
"""


pytestmark = pytest.mark.usefixtures("patient_expectations")


@pytest.fixture
async def shop(tmp_path: Path, browser: Browser) -> AsyncIterator[Shop]:
    async with open_shop(tmp_path, browser, [workflow(MAIN_GREETING)]) as running:
        yield running


async def test_the_greeting_follows_business_hours(shop: Shop) -> None:
    await shop.team("support", "alice")
    await shop.install(
        "chat-greeting-by-hours", workflow_id="acme-chat", business_name="Acme", hours="office"
    )

    # Monday 10:00 in New York: open.
    visitor = await shop.visitor()
    await expect(bot(visitor).first).to_have_text(
        "Hi, welcome to Acme! Our team is online. How can we help?"
    )
    await expect(answers(visitor)).to_have_text(["Talk to a person", "Ask a question"])
    await visitor.get_by_role("button", name="Talk to a person").click()
    await expect(bot(visitor).last).to_have_text(
        "Someone from our team will answer you here shortly."
    )
    conversation = await conversation_of(shop.api, await visitor_id(visitor))
    detail = await shop.admin("GET", f"/conversations/{conversation}")
    assert detail["assignee"]["team"] == "support"

    # The Saturday after, 10:00: closed, with the next opening time.
    shop.clock.set(next_weekday_at(SATURDAY, time(10, 0), NEW_YORK, after=shop.clock()))
    visitor = await shop.visitor()
    await expect(bot(visitor)).to_have_text(
        [
            "Hi, welcome to Acme! We're closed right now; we open on Monday at 9:00."
            " Leave your question here and we will answer it as soon as we are back."
        ]
    )
    await expect(answers(visitor)).to_have_count(0)


async def test_members_and_non_members_see_different_menus(shop: Shop) -> None:
    await shop.install(
        "chat-members-menu",
        workflow_id="members",
        business_name="Acme",
        members_answer="Your orders are under Account > Orders; members ship free.",
    )

    member = await shop.visitor({"user_id": "42", "member": True})
    await expect(bot(member).first).to_have_text("Welcome back to Acme! What can we help you with?")
    await expect(answers(member)).to_have_text(["Your account and orders", "Member services"])
    await member.get_by_role("button", name="Your account and orders").click()
    await expect(bot(member).last).to_have_text(
        "Your orders are under Account > Orders; members ship free."
    )

    login = (
        "Welcome to Acme! To reach member services, please log in to your account on our"
        " website first."
    )
    stranger = await shop.visitor()
    await expect(bot(stranger).first).to_have_text(login)
    await expect(answers(stranger)).to_have_text(["Talk to a person"])

    # The browser claims membership without the site's signature: ignored.
    pretender = await shop.visitor({"user_id": "43", "member": True}, signed=False)
    await expect(bot(pretender).first).to_have_text(login)
    await expect(answers(pretender)).to_have_text(["Talk to a person"])


async def test_a_vip_visitor_goes_straight_to_their_team(shop: Shop) -> None:
    await shop.team("vip", "victor")
    await shop.install(
        "chat-vip-greeting", workflow_id="vip", business_name="Acme", vip_tiers=["VIP", "gold"]
    )

    vip = await shop.visitor({"user_id": "7", "tier": "gold"})
    await expect(bot(vip)).to_have_text(
        [
            "Hi, Acme here. Welcome back! Your personal team has your message and will answer"
            " you here in a moment."
        ]
    )
    await expect(answers(vip)).to_have_count(0)
    conversation = await conversation_of(shop.api, await visitor_id(vip))
    detail = await shop.admin("GET", f"/conversations/{conversation}")
    assert detail["priority"] == "urgent"
    assert detail["assignee"] == {"team": "vip", "agent": "victor"}

    # Another tier gets the site's main greeting (the VIP workflow does not take them).
    regular = await shop.visitor({"user_id": "8", "tier": "silver"})
    await expect(bot(regular)).to_have_text(["Hi! How can we help?"])
    await expect(answers(regular)).to_have_text(["Opening hours"])


async def test_an_event_nudges_the_visitor_live_in_the_open_widget(shop: Shop) -> None:
    await shop.install("proactive-nudge", workflow_id="nudge", number=OUR_NUMBER, hours="office")
    # The shop signed its customer in, with their phone number (what the event names).
    visitor = await shop.visitor({"user_id": "42", "phone": "+14155550123"})
    await expect(bot(visitor)).to_have_text(["Hi! How can we help?"])

    event = {
        "name": "checkout.idle",
        "contact": {"phone": "+14155550123"},
        "channel": "chat",
        "data": {"cart_url": "https://shop.example/cart/42"},
    }
    accepted = await shop.admin("POST", "/events", event)
    assert accepted["workflows"] == ["nudge"]
    await expect(bot(visitor).last).to_have_text(NUDGE)
    # It is a conversation they can answer: their reply lands beside the nudge.
    await visitor.get_by_label("Message").fill("Is shipping free?")
    await visitor.get_by_label("Message").press("Enter")
    await expect(visitor.locator(".rf-visitor:not(.rf-pending) .rf-bubble")).to_have_text(
        ["Is shipping free?"]
    )
    conversation = await conversation_of(shop.api, await visitor_id(visitor))
    detail = await shop.admin("GET", f"/conversations/{conversation}")
    bodies = [(e["kind"], e["body"]) for e in detail["timeline"] if e["body"]]
    assert bodies[-2:] == [
        ("agent.replied", NUDGE),  # a reply, by the workflow
        ("message.received", "Is shipping free?"),
    ]
