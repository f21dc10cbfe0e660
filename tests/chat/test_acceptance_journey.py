"""Issue 10's acceptance journey, end to end in real browsers (Chromium through Playwright).

A chat greeting with answer buttons, the ``faq-answers`` recipe on a knowledge base filled
through the admin API, and the ``satisfaction-survey`` recipe at close. A visitor opens the
widget, taps an answer button and gets the answer; asks a question the FAQ answers (with its
source); asks one it cannot and is handed to the support team. An agent signed in to
``/inbox`` in a second browser context sees the conversation arrive live, replies (the visitor
sees it live), writes a note (never shown to the visitor) and closes; the visitor gets the 1-5
survey, rates, and the rating is kept; a reload shows the whole conversation, once.

The first test runs on one server (SQLite and PostgreSQL); the second runs the visitor's page
on one ``ringflow serve`` process and the agent's inbox on another, sharing one PostgreSQL.
What is asserted is what the visitor and the agent see, except the stored rating (admin API).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import Connection

from ringflow.admin.tokens import create_token
from ringflow.database import Database, open_database
from tests.api_client import ADMIN_TOKEN
from tests.browser import TIMEOUT_MS
from tests.conftest import PUBLIC_URL, ServerFactory, reset_postgres, workflow
from tests.test_scale_out import Instance, free_port, read_log, start, stop
from workflows.people.agents import find_agent

GREETING = """\
id: journey-greeting
trigger: {event: chat.started}
start: main
steps:
  main:
    menu:
      say: "Hi! What can we help you with?"
      options:
        "1": {next: hours, label: Opening hours, keywords: [hours, open]}
        "2": {next: ask, label: Something else}
      max_timeouts: 1
      on_failure: ask
  hours:
    say: "We are open 9 to 6, Monday to Friday."
    next: ask
  ask:
    say: "Anything else? Type your question and I will look it up."
"""
ENTRIES = [
    {
        "question": "How can I cancel my subscription?",
        "answer": "Open Settings > Subscription and press Cancel.",
        "keywords": ["cancel subscription", "unsubscribe"],
        "language": "en",
    },
    {
        "question": "Do you ship abroad?",
        "answer": "We ship to 30 countries; delivery abroad takes 5 to 10 working days.",
        "keywords": ["ship abroad", "international shipping"],
        "language": "en",
    },
]
HANDOVER = "Thanks for your question! A person from our team will answer you shortly."
SURVEY = "How did we do?"
COMMENT = "Thanks! Anything we could do better? (optional)"
THANKS = "Thank you for your feedback!"


pytestmark = pytest.mark.usefixtures("patient_expectations")


@dataclass
class Journey:
    """Where the visitor's page and the agent's inbox are, and an admin client."""

    visitor_url: str
    agent_url: str
    db: Database
    http: aiohttp.ClientSession

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API (on the visitor's server: both share the database)."""
        async with self.http.request(
            method,
            self.visitor_url + "/api" + path,
            json=body,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as answer:
            text = await answer.text()
            assert answer.status in (200, 201), f"{method} {path}: {answer.status} {text}"
            return json.loads(text) if text else None

    async def prepare(self) -> str:
        """The agent alice in the team support, the FAQ, the two recipes; alice's token."""
        await self.admin("PUT", "/agents/alice", {"status": "available", "display_name": "Alice"})
        await self.admin("PUT", "/teams/support", {"members": ["alice"]})
        for entry in ENTRIES:
            await self.admin("POST", "/knowledge/entries", entry)
        await self.admin(
            "POST",
            "/recipes/faq-answers/install",
            {"parameters": {"workflow_id": "faq", "team": "support"}, "publish": True},
        )
        survey = {"workflow_id": "survey", "question": SURVEY, "comment_question": COMMENT}
        await self.admin(
            "POST",
            "/recipes/satisfaction-survey/install",
            {"parameters": survey, "publish": True},
        )

        def make(conn: Connection) -> str:
            agent = find_agent(conn, "alice")
            assert agent is not None
            return create_token(conn, "agent:alice", datetime.now(UTC), agent_id=agent.id)

        token: str = await self.db.write(make)
        return token


async def _bubbles(page: Page) -> list[str]:
    found: list[str] = await page.locator(".rf-log .rf-msg .rf-bubble").all_inner_texts()
    return found


async def _contact_of(visitor: Page) -> str:
    """The visitor's contact as the inbox lists it: ``chat:`` and the public half of the
    visitor id the widget keeps."""
    stored = await visitor.evaluate("localStorage.getItem('ringflow.chat.visitor')")
    return "chat:" + str(json.loads(stored)).split(".")[0]


async def _agent_page(browser: Browser, journey: Journey, token: str) -> Page:
    """A second browser context, signed in to the inbox as alice, on the team view."""
    context: BrowserContext = await browser.new_context(base_url=journey.agent_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.goto("/inbox")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await expect(page.locator("#me")).to_have_text("Alice")
    await expect(page.locator("#live")).to_have_class("live on")
    await page.keyboard.press("3")  # the team's conversations
    await expect(page.locator("[data-view=team]")).to_have_attribute("aria-pressed", "true")
    await page.evaluate("window.notReloaded = true")
    return page


async def walk(browser: Browser, journey: Journey) -> None:
    """The journey: a visitor, then an agent, then the visitor again."""
    token = await journey.prepare()
    visitor_context = await browser.new_context(viewport={"width": 1000, "height": 720})
    visitor_context.set_default_timeout(TIMEOUT_MS)
    visitor = await visitor_context.new_page()
    agent = await _agent_page(browser, journey, token)
    try:
        # The greeting's answer buttons: a tap gets the answer.
        await visitor.goto(journey.visitor_url + "/chat")
        widget = visitor.locator(".rf-chat")
        await expect(widget).to_have_attribute("data-connection", "online")
        await visitor.get_by_role("button", name="Opening hours").click()
        bot = visitor.locator(".rf-bot .rf-bubble")
        await expect(bot.filter(has_text="We are open 9 to 6")).to_have_count(1)
        await expect(bot.last).to_have_text(
            "Anything else? Type your question and I will look it up."
        )

        # A question the FAQ answers, with its source.
        box = visitor.get_by_label("Message")
        await box.fill("how do I cancel my subscription")
        await box.press("Enter")
        answer = bot.filter(has_text="Open Settings > Subscription and press Cancel.")
        await expect(answer).to_contain_text("Source: How can I cancel my subscription?")

        # One it cannot answer: handed to a person, the conversation lands in the team's inbox
        # (whose page was open before, empty: it appears there live).
        await expect(agent.locator("#list li")).to_have_count(0)
        await box.fill("Can I pay with a voucher from my employer?")
        await box.press("Enter")
        await expect(bot.last).to_have_text(HANDOVER)
        item = agent.locator("#list li", has_text=await _contact_of(visitor))
        await expect(item).to_contain_text("alice")  # the team gave it to its member
        assert await agent.evaluate("window.notReloaded") is True
        await item.click()
        timeline = agent.locator("#timeline")
        await expect(timeline.locator(".msg.customer").last).to_contain_text(
            "Can I pay with a voucher from my employer?"
        )
        await expect(timeline.locator(".note")).to_contain_text(
            "Not answered from the FAQ: Can I pay with a voucher"
        )
        conversation_id = int(agent.url.rsplit("#", 1)[1])

        # The agent replies; the visitor sees it live.
        await agent.keyboard.press("r")
        await agent.fill("#body", "Hi, Alice here: yes, vouchers are fine.")
        await agent.keyboard.press("Control+Enter")
        await expect(timeline.locator(".msg.agent", has_text="Alice here")).to_be_visible()
        agent_bubbles = visitor.locator(".rf-agent .rf-bubble")
        await expect(agent_bubbles).to_have_text(["Hi, Alice here: yes, vouchers are fine."])

        # A note stays in the inbox.
        await agent.keyboard.press("Escape")
        await agent.keyboard.press("n")
        await agent.fill("#body", "Secret: check the voucher list")
        await agent.keyboard.press("Control+Enter")
        await expect(timeline.locator(".note", has_text="Secret: check")).to_be_visible()

        # Close: the survey's 1-5 row appears to the visitor, who rates and comments.
        await agent.keyboard.press("Escape")
        await agent.keyboard.press("c")
        await expect(agent.locator("#v-meta")).to_contain_text("closed")
        await expect(bot.last).to_have_text(SURVEY)
        scale = visitor.locator(".rf-scale .rf-answer")
        await expect(scale).to_have_text(["1", "2", "3", "4", "5"])
        await visitor.get_by_role("button", name="4 Good").click()
        await expect(bot.last).to_have_text(COMMENT)
        await box.fill("Quick and friendly.")
        await box.press("Enter")
        await expect(bot.last).to_have_text(THANKS)
        assert "Secret" not in await visitor.locator(".rf-log").inner_text()
        await expect(timeline.locator("[data-kind=survey]")).to_contain_text("4/5")

        # The rating is kept.
        detail = await journey.admin("GET", f"/conversations/{conversation_id}")
        ratings = [e["data"] for e in detail["timeline"] if e["kind"] == "survey"]
        assert [(r["rating"], r["outcome"]) for r in ratings] == [(4, "rated")]
        assert detail["status"] == "closed"

        # A reload shows the whole conversation, in order, once.
        before = await _bubbles(visitor)
        await visitor.reload()
        await expect(widget).to_have_attribute("data-connection", "online")
        await expect(bot.last).to_have_text(THANKS)
        after = await _bubbles(visitor)
        assert after == before
        assert after == [
            "Hi! What can we help you with?",
            "Opening hours",
            "We are open 9 to 6, Monday to Friday.",
            "Anything else? Type your question and I will look it up.",
            "how do I cancel my subscription",
            "Open Settings > Subscription and press Cancel.\n\n"
            "Source: How can I cancel my subscription?",
            "Can I pay with a voucher from my employer?",
            HANDOVER,
            "Hi, Alice here: yes, vouchers are fine.",
            SURVEY,
            "Good",
            COMMENT,
            "Quick and friendly.",
            THANKS,
        ]
    finally:
        await agent.context.close()
        await visitor_context.close()


async def test_the_journey_on_one_server(
    servers: ServerFactory, database_url: str, browser: Browser
) -> None:
    server = await servers.start([workflow(GREETING)], admin_token=ADMIN_TOKEN)
    async with aiohttp.ClientSession() as http:
        await walk(browser, Journey(server.base_url, server.base_url, server.db, http))


@pytest.fixture
async def two_processes(tmp_path: Path) -> AsyncIterator[tuple[Instance, Instance, Database]]:
    """``ringflow serve`` A and B on one PostgreSQL, each with its job worker."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("two server processes share PostgreSQL only: set TEST_DATABASE_URL (CI does)")
    await reset_postgres(url)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "journey-greeting.yaml").write_text(GREETING)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RINGFLOW_", "TWILIO_"))}
    env.update(
        RINGFLOW_DATABASE_URL=url,
        RINGFLOW_PUBLIC_URL=PUBLIC_URL,
        RINGFLOW_FLOWS_DIR=str(flows),
        RINGFLOW_ADMIN_TOKEN=ADMIN_TOKEN,
        RINGFLOW_LOG_LEVEL="INFO",
        RINGFLOW_DATA_DIR=str(tmp_path / "a"),
    )
    instances: list[Instance] = []
    try:
        port = free_port()
        serve = ["serve", "--port", str(port)]
        instances.append(await start("A", serve, env, tmp_path / "a.log", port))
        port = free_port()
        serve = ["serve", "--port", str(port)]
        b_env = env | {"RINGFLOW_DATA_DIR": str(tmp_path / "b"), "RINGFLOW_MIGRATE": "false"}
        instances.append(await start("B", serve, b_env, tmp_path / "b.log", port))
        db = await open_database(url)
        try:
            yield instances[0], instances[1], db
        finally:
            await db.close()
    finally:
        for instance in instances:
            await stop(instance)


async def test_the_journey_across_two_server_processes(
    two_processes: tuple[Instance, Instance, Database], browser: Browser
) -> None:
    a, b, db = two_processes
    try:
        async with aiohttp.ClientSession() as http:
            await walk(browser, Journey(a.base_url, b.base_url, db, http))
    except BaseException:
        print("\n".join(f"--- {i.name} ---\n{read_log(i.log)}" for i in (a, b)))
        raise
