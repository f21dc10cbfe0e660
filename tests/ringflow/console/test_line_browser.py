"""The rest of the console in a real browser (Chromium through Playwright): rolling a workflow
back and disabling it, installing a recipe from the form made from its parameters (a missing
one shown at its field), a text refused with its reason, a schedule closed or opened now by the
override switch and handed back to its hours, and prompts uploaded and spoken, listened to in
the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from ivr.softphone import CallerHungUp, ScriptedCaller, Softphone
from tests.api_client import ApiClient
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, eventually, jobs_settled
from tests.prompts.media import tone
from tests.ringflow.admin.test_workflows import LINE, LINE_V2, upload
from tests.ringflow.console.test_console_browser import signed_in

pytestmark = pytest.mark.usefixtures("patient_expectations")

CALLER = "+14155550123"


async def test_an_admin_rolls_a_workflow_back_disables_it_and_installs_a_recipe(
    browser: Browser, api: ApiClient
) -> None:
    for text in (LINE, LINE_V2):
        assert (await upload(api, text))[0] == 201
        assert (await api.call("POST", "/workflows/sales-line/publish")).status == 200
    page = await signed_in(browser, api)
    await page.locator("#workflows button", has_text="sales-line").click()
    await expect(page.locator("#status")).to_contain_text("Published version 2")
    rollback = page.get_by_role("button", name="Publish this version again")
    await expect(rollback).to_be_hidden()  # the published version is shown
    await page.select_option("#version", "1")
    await rollback.click()
    await expect(page.locator("#message")).to_have_text(
        "Version 1 of sales-line is published again (as version 3)."
    )
    await expect(page.locator("#status")).to_contain_text("Published version 3")
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    again = await phone.call(ScriptedCaller(["1"]), to="+15005550002")
    assert "Say: Sales it is." in again.transcript  # version 1's words

    await page.get_by_role("button", name="Disable").click()
    await expect(page.locator("#message")).to_have_text(
        "sales-line is disabled: it starts no new runs."
    )
    await expect(page.locator("#status")).to_contain_text("disabled")
    assert (await api.call("GET", "/workflows/sales-line")).json["enabled"] is False
    await page.get_by_role("button", name="Enable").click()
    await expect(page.locator("#status")).to_contain_text("enabled")

    # A recipe from its form: the missing name is shown at its field, then it installs.
    await page.select_option("#recipe", "missed-call-text")
    await expect(page.locator("#recipe-about")).to_contain_text("call.missed")
    await expect(page.locator("#recipe-message")).to_have_value(
        "We will call you back soon. Reply STOP to opt out."
    )
    await page.fill("#recipe-workflow_id", "missed-text")
    await page.get_by_role("button", name="Install").click()
    problem = page.locator('[data-parameter="business_name"] .field-problem')
    await expect(problem).not_to_be_empty()
    assert (await api.call("GET", "/workflows/missed-text")).status == 404
    await page.fill("#recipe-business_name", "Acme")
    await page.get_by_role("button", name="Install").click()
    await expect(page.locator("#message")).to_have_text("Installed missed-text as a draft.")
    await expect(page.locator("#diagram")).to_have_attribute("data-workflow", "missed-text")
    installed = await api.call("GET", "/workflows/missed-text")
    assert installed.json["has_draft"] is True


async def test_the_line_shows_refused_texts_schedules_and_prompts(
    browser: Browser, api: ApiClient, tmp_path: Path
) -> None:
    # The caller opted out; pressing 2 asks for the address by text: refused, with the reason.
    assert (await api.call("PUT", f"/opt-outs/{CALLER}")).status in (200, 201)
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    await phone.call(ScriptedCaller(["2", CallerHungUp]), from_=CALLER)
    await jobs_settled(api.server)
    created = await api.call(
        "PUT",
        "/schedules/front-desk",
        json_body={"timezone": "America/New_York", "weekly": {"mon": ["09:00-17:00"]}},
    )
    assert created.status == 201, created.text
    page = await signed_in(browser, api)

    await page.select_option("#text-status", "failed")
    refused = page.locator("#texts tr", has_text="Acme: 1 Example Street")
    await expect(refused).to_contain_text("recipient opted out")
    await expect(refused).to_contain_text(CALLER)

    # The override switch: the opposite of now, then back to the hours.
    row = page.locator('#schedules tr[data-schedule="front-desk"]')
    was_open = (await api.call("GET", "/schedules/front-desk")).json["open"]
    switch = "Close now" if was_open else "Open now"
    await row.get_by_role("button", name=switch).click()
    now_state = "closed (override)" if was_open else "open (override)"
    await expect(row.locator("td.now")).to_have_text(now_state)
    assert (await api.call("GET", "/schedules/front-desk")).json["overridden"] is True
    await row.get_by_role("button", name="Follow the hours").click()
    await expect(row.locator("td.now")).to_have_text("open" if was_open else "closed")
    assert (await api.call("GET", "/schedules/front-desk")).json["override"] is None

    # Prompts: a file uploaded (the drop zone's file picker), a text spoken; both playable.
    await page.set_input_files("#prompt-file", str(tone(tmp_path, "chime.wav", 1.5)))
    await expect(page.locator("#message")).to_contain_text("Uploaded chime as pr_")
    uploaded = page.locator("#prompts tr", has_text="uploaded audio")
    await expect(uploaded).to_have_count(1)
    await expect(uploaded.locator("audio")).to_have_attribute(
        "src", re.compile(r"^/media/prompts/[0-9a-f]{32}\.wav$")
    )
    await page.fill("#speak-text", "Welcome to Acme.")
    await page.get_by_role("button", name="Speak it").click()
    spoken = page.locator("#prompts tr", has_text="spoken: Welcome to Acme.")
    await expect(spoken).to_have_count(1)
    audio = spoken.locator("audio")

    async def played() -> bool:
        return bool(await audio.evaluate("audio => audio.played.length > 0"))

    await eventually(played, within=10, what="the spoken prompt to play")  # once it is made
    listed = (await api.call("GET", "/prompts")).json
    assert {prompt["kind"] for prompt in listed} == {"audio", "speech"}
