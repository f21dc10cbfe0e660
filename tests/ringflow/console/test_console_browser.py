"""The admin console in a real browser (Chromium through Playwright): an admin signs in with a
stored admin token, writes a workflow with an error and sees it at its line, fixes it, saves
it as a draft, publishes it and sees its diagram; the demo workflow's diagram has every step
as a node and every option as an edge; the line's recent calls show with their outcome and
path, and a job that died is cancelled from the page. Scoped tokens cannot sign in. One test
writes ``docs/console.png``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import pytest
import yaml
from playwright.async_api import Browser, Page, expect

from ivr.softphone import CallerHungUp, ScriptedCaller, Softphone
from ringflow.admin.tokens import create_token
from tests.api_client import ApiClient
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, eventually
from tests.ringflow.admin.test_jobs_api import UNHANDLED, dying_job
from tests.ringflow.admin.test_workflows import LINE
from workflows.checks import written_targets
from workflows.loader import from_file

pytestmark = pytest.mark.usefixtures("patient_expectations")

ROOT = Path(__file__).resolve().parents[3]
CALLER = "+14155550123"
DEMO_NUMBER = "+15005550001"
SVG = "{http://www.w3.org/2000/svg}"
WITH_AN_ERROR = LINE.replace('"1": sales', '"1": sale')
"""The admin API tests' sales line with a menu option to a step that does not exist."""


async def admin_token(api: ApiClient, **options: object) -> str:
    """A stored admin token (the environment's cannot open a browser session)."""
    now = api.server.clock()
    token: str = await api.server.db.write(
        lambda conn: create_token(conn, "console", now, **options)  # type: ignore[arg-type]
    )
    return token


async def signed_in(browser: Browser, api: ApiClient) -> Page:
    context = await browser.new_context(
        base_url=api.server.base_url, viewport={"width": 1400, "height": 1000}
    )
    page = await context.new_page()
    await page.goto("/console")
    await expect(page).to_have_url(api.server.base_url + "/console/sign-in")
    await page.fill("#token", await admin_token(api))
    await page.click("button[type=submit]")
    await expect(page).to_have_url(api.server.base_url + "/console")
    return page


async def drawing(page: Page) -> str:
    """The diagram drawn in the page, as SVG text."""
    svg: str = await page.locator("#diagram svg").evaluate(
        "svg => new XMLSerializer().serializeToString(svg)"
    )
    return svg


def drawn(svg: bytes) -> tuple[set[str], list[tuple[str, str, str]]]:
    root = ET.fromstring(svg)  # noqa: S314 - our server's diagram
    nodes: set[str] = set()
    edges: list[tuple[str, str, str]] = []
    for group in root.iter(f"{SVG}g"):
        title = group.find(f"{SVG}title")
        if title is None or title.text is None:
            continue
        if group.get("class") == "node":
            nodes.add(title.text)
        elif group.get("class") == "edge":
            tail, head = title.text.split("->")
            label = "".join(t.text or "" for t in group.iter(f"{SVG}text"))
            edges.append((tail, head, label))
    return nodes, edges


async def test_an_admin_fixes_a_workflow_at_its_line_publishes_it_and_sees_it_drawn(
    browser: Browser, api: ApiClient
) -> None:
    page = await signed_in(browser, api)
    await expect(page.locator("#workflows button")).not_to_have_count(0)

    await page.get_by_role("button", name="New workflow").click()
    await page.fill("#text", WITH_AN_ERROR)
    await page.get_by_role("button", name="Check").click()
    problems = page.locator("#problems li")
    await expect(problems).to_have_text(
        [
            "Line 10 · steps.main.menu.options.1unknown step 'sale'",
            "Line 11 · steps.salesunreachable from start 'main'",
        ]
    )
    await expect(page.locator("#gutter li.bad")).to_have_text(["10", "11"])
    problem = problems.first
    # Saving it anyway is refused the same way: nothing is stored.
    await page.get_by_role("button", name="Save as draft").click()
    await expect(page.locator("#message")).to_have_class("message error")
    await expect(problem).to_contain_text("Line 10")
    assert (await api.call("GET", "/workflows/sales-line")).status == 404

    await problem.click()  # the problem's line is selected in the editor
    selected = await page.evaluate(
        "(() => { const t = document.getElementById('text');"
        " return t.value.slice(t.selectionStart, t.selectionEnd); })()"
    )
    assert selected == '        "1": sale'
    await page.fill("#text", LINE)
    await page.get_by_role("button", name="Check").click()
    await expect(page.locator("#message")).to_have_text("No problems: sales-line can be saved.")
    await page.get_by_role("button", name="Save as draft").click()
    await expect(page.locator("#title")).to_have_text("Sales line")
    await expect(page.locator("#status")).to_contain_text("Not published · a draft waits")
    await page.get_by_role("button", name="Publish the draft").click()
    await expect(page.locator("#message")).to_have_text("Published version 1 of sales-line.")
    await expect(page.locator("#status")).to_contain_text("Published version 1")
    published = await api.call("GET", "/workflows/sales-line")
    assert published.json["published_version"] == 1

    # The diagram of what was published, in the page, and its definition line by line.
    diagram = page.locator("#diagram")
    await expect(diagram).to_have_attribute("data-workflow", "sales-line")
    await expect(diagram).to_have_attribute("data-version", "1")
    await expect(diagram.locator("svg g.node")).not_to_have_count(0)
    await expect(page.locator("#yaml li").first).to_have_text("id: sales-line")

    # The demo workflow: every step is a node, every option an edge.
    await page.locator("#workflows button", has_text="demo-line").click()
    await expect(page.locator("#title")).to_have_text("Acme main line (demo)")
    await expect(diagram).to_have_attribute("data-workflow", "demo-line")
    await expect(diagram.locator("svg g.node title", has_text="text_address")).to_have_count(1)
    nodes, edges = drawn((await drawing(page)).encode())
    demo = from_file(ROOT / "workflows" / "demo" / "demo-line.yaml").spec
    assert set(demo.steps) <= nodes
    for name, step in demo.steps.items():
        for path, target in written_targets(name, step):
            assert (name, target, str(path[-1])) in edges
    options = yaml.safe_load((ROOT / "workflows/demo/demo-line.yaml").read_text())
    keys = set(options["steps"]["main"]["menu"]["options"])
    assert keys <= {label for tail, _, label in edges if tail == "main"}
    await page.screenshot(path=str(ROOT / "docs" / "console.png"), full_page=True)


async def test_only_admin_tokens_open_the_console(api: ApiClient) -> None:
    base = api.server.base_url
    scoped = await admin_token(api, scopes=["events"])
    async with aiohttp.ClientSession() as http:
        for token in (scoped, "rf_not_a_token"):
            async with http.post(
                base + "/console/sign-in",
                data={"token": token},
                headers={"Origin": base},
                allow_redirects=False,
            ) as answer:
                assert answer.status in (401, 403)
        async with http.get(base + "/console", allow_redirects=False) as page:
            assert page.status == 303
            assert page.headers["Location"] == "/console/sign-in"


async def test_the_line_shows_calls_with_their_path_and_jobs_that_died(
    browser: Browser, api: ApiClient
) -> None:
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    await phone.call(ScriptedCaller(["2", CallerHungUp]), from_=CALLER, to=DEMO_NUMBER)
    await eventually(lambda: _ended(api), what="the call's outcome")
    dead = await dying_job(api, "console-test")

    page = await signed_in(browser, api)
    [call] = (await api.call("GET", "/calls")).json
    row = page.locator(f'#calls tr[data-sid="{call["sid"]}"]')
    await expect(row).to_contain_text(CALLER)
    await expect(row).to_contain_text(call["outcome"])
    await expect(row.locator("td.path")).to_have_text(" → ".join(call["path"]))
    assert "address" in call["path"]  # pressed 2: the address
    # Filtering by another outcome hides it.
    other = "abandoned" if call["outcome"] != "abandoned" else "missed"
    await page.select_option("#call-outcome", other)
    await expect(row).to_have_count(0)
    await expect(page.locator("#calls-empty")).to_be_visible()

    job = page.locator(f'#jobs tr[data-job="{dead}"]')
    await expect(job).to_contain_text(UNHANDLED)
    await job.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#message")).to_have_text(f"Job {dead} ({UNHANDLED}) cancelled.")
    await expect(job).to_have_count(0)
    assert (await api.call("GET", "/jobs/dead")).json == []


async def _ended(api: ApiClient) -> bool:
    calls = (await api.call("GET", "/calls")).json
    return bool(calls) and calls[0]["outcome"] is not None
