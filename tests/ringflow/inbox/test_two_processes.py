"""The inbox across two real ``ringflow serve`` processes and a ``ringflow worker`` on one
PostgreSQL (the cluster of :mod:`tests.test_scale_out`): an agent's page open on B shows, without
reloading, a conversation a text started through A (the worker records it), the workflow's
automated text sent by the worker 2 s later, and another agent's reply made through A; the
reply typed on B goes out once, through the worker, to the Twilio stub."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import Connection

from ringflow.admin.tokens import create_token
from tests.conftest import eventually
from tests.test_scale_out import TEXT_LINE, TEXTER, Cluster, cluster, post, shown_on_failure
from workflows.people.agents import AgentFields, put_agent

__all__ = ["cluster"]

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="separate processes share PostgreSQL only: set TEST_DATABASE_URL (CI does)",
)


async def _agent_token(cluster: Cluster, name: str) -> str:
    def make(conn: Connection) -> str:
        now = datetime.now(UTC)
        agent, _new = put_agent(conn, name, AgentFields(status="available"), now)
        return create_token(conn, f"agent:{name}", now, agent_id=agent.id)

    token: str = await cluster.db.write(make)
    return token


async def test_a_page_on_b_follows_what_a_and_the_worker_do(
    cluster: Cluster, browser: Browser
) -> None:
    with shown_on_failure(cluster):
        alice, bob = await _agent_token(cluster, "alice"), await _agent_token(cluster, "bob")
        context = await browser.new_context(base_url=cluster.b.base_url)
        page = await context.new_page()
        await page.goto("/inbox/sign-in")
        await page.fill("#token", alice)
        await page.click("button[type=submit]")
        await expect(page.locator("#live")).to_have_class("live on")
        await page.keyboard.press("4")  # all
        await page.evaluate("window.notReloaded = true")

        form = {"MessageSid": "SM" + "8" * 32, "From": TEXTER, "To": TEXT_LINE, "Body": "Hi!"}
        assert (await post(cluster.session, cluster.a, "/twilio/sms", form))[0] == 200
        item = page.locator("#list li", has_text=TEXTER)
        await expect(item).to_be_visible(timeout=10_000)
        await item.click()
        timeline = page.locator("#timeline")
        await expect(timeline.locator(".msg.customer")).to_contain_text("Hi!")
        # The workflow's automated text (the worker, 2 s later) shows up by itself.
        automated = timeline.locator(".msg.automation", has_text="Thanks for your text")
        await expect(automated).to_be_visible(timeout=15_000)

        # Bob replies through A's API: B's page shows it.
        conversation_id = int(page.url.rsplit("#", 1)[1])
        async with cluster.session.post(
            f"{cluster.a.base_url}/api/conversations/{conversation_id}/replies",
            json={"body": "Bob on instance A"},
            headers={"Authorization": f"Bearer {bob}"},
        ) as answer:
            assert answer.status == 201, await answer.text()
        await expect(timeline.locator(".msg.agent", has_text="Bob on instance A")).to_be_visible()

        # Alice replies on B: one text out, through the worker.
        await page.keyboard.press("r")
        await page.fill("#body", "Alice on instance B")
        await page.keyboard.press("Control+Enter")
        await expect(timeline.locator(".msg.agent", has_text="Alice on instance B")).to_be_visible()
        await eventually(
            lambda: "Alice on instance B" in cluster.texts_to(TEXTER),
            within=15,
            what="the reply to reach the Twilio stub",
        )
        assert cluster.texts_to(TEXTER).count("Alice on instance B") == 1
        assert await page.evaluate("window.notReloaded") is True
        await context.close()
