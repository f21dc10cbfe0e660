"""The console's "Try it" in a real browser (Chromium through Playwright): an admin places a
test call of the demo workflow, hears the greeting and the menu (audio elements play the
server's speech), presses 2 on the keypad, hears the address, sees the steps lit on the
diagram, and finds the call in the log with its path, marked as a test; a draft is tried
before it is published, with a dial whose outcome the admin picks; a call waiting in a hold
queue is taken by the agent the admin picks. Writes
``docs/console-try-it.png``."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.api_client import ApiClient
from tests.ringflow.admin.test_workflows import LINE, LINE_V2, upload
from tests.ringflow.console.test_console_browser import ROOT, signed_in

pytestmark = pytest.mark.usefixtures("patient_expectations")

ADDRESS = "Say: You will find us at 1 Example Street, Springfield."


CURRENT = re.compile(r"\bcurrent\b")
VISITED = re.compile(r"\bvisited\b")
LIT = re.compile(r"\b(current|visited)\b")


def step_node(page: Page, step: str) -> Locator:
    """The diagram's node of ``step``."""
    return page.locator(f'#diagram svg g.node:has(> title:text-is("{step}"))')


async def test_an_admin_tries_the_demo_line_and_finds_the_call_in_the_log(
    browser: Browser, api: ApiClient
) -> None:
    page = await signed_in(browser, api)
    await page.locator("#workflows button", has_text="demo-line").click()
    await expect(page.locator("#title")).to_have_text("Acme main line (demo)")
    await expect(step_node(page, "main")).to_have_count(1)

    await page.get_by_role("button", name="Place a test call").click()
    lines = page.locator("#try-lines li")
    await expect(lines.first).to_contain_text("Say: Thank you for calling Acme.")
    # The server's own voice, played in the page, line after line.
    greeting = lines.first.locator("audio")
    await expect(greeting).to_have_attribute("src", re.compile(r"^/media/prompts/"))
    await expect(greeting).to_have_attribute("data-state", "played", timeout=30_000)
    await expect(page.locator("#try-state")).to_have_text("At step main: waiting for keys")
    # Only what the call asks for can be answered.
    await expect(page.locator("#try-keys")).to_be_visible()
    await expect(page.locator("#try-dial")).to_be_hidden()
    await expect(page.locator("#try-record")).to_be_hidden()
    await expect(step_node(page, "main")).to_have_class(CURRENT)
    await expect(step_node(page, "welcome")).to_have_class(VISITED)

    await page.locator('#try-keys button[data-key="2"]').click()
    address = page.locator("#try-lines li", has_text=ADDRESS)
    await expect(address).to_have_count(1)
    played = address.locator("audio")
    await expect(played).to_have_attribute("data-state", "played", timeout=30_000)
    assert await played.evaluate("audio => audio.played.length") > 0
    await expect(page.locator("#try-lines li", has_text="Keys: 2")).to_have_count(1)
    # The call went through the address to the next menu: each step lit as it is reached.
    await expect(step_node(page, "anything_else")).to_have_class(CURRENT)
    for step in ("welcome", "main", "address", "text_address"):
        await expect(step_node(page, step)).to_have_class(VISITED)
    await expect(step_node(page, "hours")).not_to_have_class(LIT)
    await expect(step_node(page, "main")).not_to_have_class(CURRENT)
    await page.screenshot(path=str(ROOT / "docs" / "console-try-it.png"), full_page=True)

    await page.get_by_role("button", name="Hang up").click()
    await expect(page.locator("#try-state")).to_have_text("Call ended (caller hangup)")
    call_id = await page.locator("#try").get_attribute("data-call")
    assert call_id is not None
    assert call_id.startswith("CAtest")
    row = page.locator(f'#calls tr[data-sid="{call_id}"]')
    await expect(row.locator("td.path")).to_have_text(
        "welcome → main → address → text_address → anything_else"
    )
    await expect(row.locator(".test-mark")).to_have_text("test")
    await expect(page.get_by_role("button", name="Place a test call")).to_be_enabled()


async def test_a_draft_is_tried_in_the_page_before_it_is_published(
    browser: Browser, api: ApiClient
) -> None:
    assert (await upload(api, LINE))[0] == 201
    assert (await api.call("POST", "/workflows/sales-line/publish")).status == 200
    assert (await upload(api, LINE_V2))[0] == 201
    page = await signed_in(browser, api)
    await page.locator("#workflows button", has_text="sales-line").click()
    await expect(page.locator("#version")).to_have_value("draft")
    await expect(page.locator("#diagram")).to_have_attribute("data-version", "draft")

    await page.get_by_role("button", name="Place a test call").click()
    await expect(page.locator("#try-state")).to_have_text("At step main: waiting for keys")
    # Keys only here: no words to say.
    await expect(page.locator("#try-words")).to_be_hidden()
    await page.locator('#try-keys button[data-key="1"]').click()
    await expect(page.locator("#try-lines li", has_text="Say: Welcome to sales.")).to_have_count(1)
    await expect(page.locator("#try-state")).to_contain_text("Call ended")
    await expect(step_node(page, "sales")).to_have_class(CURRENT)

    # The demo's operator: the admin picks the dial's outcome, then leaves a message.
    await page.locator("#workflows button", has_text="demo-line").click()
    await expect(page.locator("#diagram")).to_have_attribute("data-workflow", "demo-line")
    await page.get_by_role("button", name="Place a test call").click()
    await expect(page.locator("#try-state")).to_have_text("At step main: waiting for keys")
    await page.locator('#try-keys button[data-key="0"]').click()
    await expect(page.locator("#try-dialling")).to_have_text("Dialling +15005550006")
    await page.select_option("#try-dial-status", "busy")
    await page.get_by_role("button", name="End the dial").click()
    await expect(page.locator("#try-state")).to_have_text(
        "At step voicemail: waiting for a message"
    )
    await page.get_by_role("button", name="Leave the message").click()
    await expect(page.locator("#try-lines li", has_text="Dial result: busy")).to_have_count(1)
    await expect(page.locator("#try-state")).to_contain_text("Call ended")
    await expect(step_node(page, "bye")).to_have_class(CURRENT)


QUEUE_LINE = """\
id: queue-line
trigger: {event: call.incoming, to: "+12025550170"}
start: connect
steps:
  connect:
    connect:
      team: support
      queue: {max_wait: 600, announce_every: 30}
    on_answered: bye
    on_no_agents: bye
  bye: {hangup: "Thank you for calling."}
"""


async def test_a_test_call_waiting_in_the_queue_is_taken_by_the_agent_the_admin_picks(
    browser: Browser, api: ApiClient
) -> None:
    away = {"status": "away", "endpoints": [{"kind": "phone", "address": "+12025550181"}]}
    assert (await api.call("PUT", "/agents/alice", json_body=away)).status == 201
    team = {"members": ["alice"], "ring_strategy": "longest_idle"}
    assert (await api.call("PUT", "/teams/support", json_body=team)).status == 201
    assert (await upload(api, QUEUE_LINE))[0] == 201
    assert (await api.call("POST", "/workflows/queue-line/publish")).status == 200
    page = await signed_in(browser, api)
    await page.locator("#workflows button", has_text="queue-line").click()
    await expect(page.locator("#diagram")).to_have_attribute("data-workflow", "queue-line")

    # Nobody is free: the call waits in the queue, told its place.
    await page.get_by_role("button", name="Place a test call").click()
    await expect(page.locator("#try-queue")).to_have_text(
        "Waiting in the hold queue of team support."
    )
    await expect(page.locator("#try-lines li", has_text="You are number 1 in line")).to_have_count(
        1
    )
    # Alice comes back; the admin says she takes the call (that the queue itself never offers
    # her a test call is tests/ivr/test_test_calls.py's to show).
    back = await api.call("PUT", "/agents/alice", json_body=away | {"status": "available"})
    assert back.status == 200, back.text
    await expect(page.locator("#try-agent")).to_have_value("alice")
    await page.get_by_role("button", name="An agent takes the call").click()
    await expect(page.locator("#try-dialling")).to_have_text("Dialling +12025550181")
    await expect(page.locator("#try-holding")).to_be_hidden()
    await page.get_by_role("button", name="End the dial").click()
    await expect(page.locator("#try-state")).to_contain_text("Call ended")
    await expect(page.locator("#try-lines li", has_text="Dequeued")).to_have_count(1)
    await expect(step_node(page, "bye")).to_have_class(CURRENT)
