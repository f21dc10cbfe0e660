"""A shop for the chat recipe tests: a Ringflow server on a movable clock (the office
schedule, the site's identity secret, texts through Twilio's REST fake when given), an admin
client, and the shop's own site (another origin) whose pages embed the widget for visitors
coming in with a real browser."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.browser import TIMEOUT_MS
from tests.clock import MONDAY, MovableClock, next_weekday_at
from tests.conftest import RunningServer, ServerFactory
from workflows.loader import Workflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "post-call"
NEW_YORK = ZoneInfo("America/New_York")
IDENTITY_SECRET = "site-identity-secret-for-tests"


@dataclass
class Shop:
    """A Ringflow server (office schedule, movable clock, the site's identity secret), an
    admin client, and the browser its visitors come in with."""

    api: ApiClient
    clock: MovableClock
    browser: Browser
    site: str
    """The shop's own site (another origin than the server's), serving :attr:`pages`."""
    pages: dict[str, str]
    contexts: list[BrowserContext]
    """The visitors' browser contexts, closed before the server stops (open sockets would
    hold its shutdown up)."""

    @property
    def server(self) -> RunningServer:
        return self.api.server

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        answer = await self.api.call(method, path, json_body=body)
        assert answer.status in (200, 201, 202), f"{method} {path}: {answer.status} {answer.text}"
        return answer.json

    async def install(self, recipe: str, **parameters: Any) -> None:
        """One call: the recipe's workflow, installed and published."""
        body = {"parameters": parameters, "publish": True}
        await self.admin("POST", f"/recipes/{recipe}/install", body)

    async def team(self, name: str, agent: str) -> None:
        await self.admin("PUT", f"/agents/{agent}", {"status": "available"})
        await self.admin("PUT", f"/teams/{name}", {"members": [agent]})

    async def visitor(self, identity: dict[str, Any] | None = None, *, signed: bool = True) -> Page:
        """A new visitor (own browser context) on the shop's page, which embeds the widget,
        open, with ``identity`` signed by the site's secret (or with a made-up signature)."""
        context = await self.browser.new_context()
        self.contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        attributes = ""
        if identity is not None:
            text = json.dumps(identity)
            key = IDENTITY_SECRET if signed else "not-the-secret"
            mac = hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()
            attributes = f' data-identity="{html.escape(text)}" data-identity-hmac="{mac}"'
        page_html = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title></head>"
            f'<body><h1>Shop</h1><script src="{self.server.base_url}/chat/widget.js"'
            f' data-title="Shop" data-open="true"{attributes} async></script></body></html>'
        )
        path = f"/page-{len(self.pages)}"
        self.pages[path] = page_html
        page = await context.new_page()
        await page.goto(self.site + path)
        await expect(page.locator(".rf-chat")).to_have_attribute("data-connection", "online")
        return page


@asynccontextmanager
async def open_shop(
    tmp_path: Path,
    browser: Browser,
    flows: Sequence[Workflow],
    database_url: str | None = None,
    **settings: Any,
) -> AsyncIterator[Shop]:
    """A shop running ``flows`` (the office schedule in its flows folder) from the next Monday
    10:00 in New York, on ``database_url`` (default: SQLite under ``tmp_path``), with extra
    server ``settings``."""
    flows_dir = tmp_path / "flows"
    (flows_dir / "schedules").mkdir(parents=True)
    shutil.copy(EXAMPLES / "schedules" / "office.yaml", flows_dir / "schedules" / "office.yaml")
    clock = MovableClock(next_weekday_at(MONDAY, time(10, 0), NEW_YORK))
    factory = ServerFactory(database_url or f"sqlite:///{tmp_path / 'ringflow.db'}", tmp_path)
    try:
        server = await factory.start(
            list(flows),
            clock=clock,
            flows_dir=flows_dir,
            admin_token=ADMIN_TOKEN,
            chat_identity_secret=IDENTITY_SECRET,
            **settings,
        )
        pages: dict[str, str] = {}

        async def page(request: web.Request) -> web.Response:
            if request.path not in pages:
                raise web.HTTPNotFound()
            return web.Response(text=pages[request.path], content_type="text/html")

        app = web.Application()
        app.router.add_get("/{name}", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        # The shop's site: another origin (localhost, not 127.0.0.1) served for real, since
        # Chromium refuses a page the test intercepted (a public page to it) the loopback
        # server's widget.
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        contexts: list[BrowserContext] = []
        try:
            async with aiohttp.ClientSession() as session:
                api = ApiClient(server, session)
                yield Shop(api, clock, browser, f"http://localhost:{port}", pages, contexts)
        finally:
            for context in contexts:
                await context.close()
            await runner.cleanup()
    finally:
        await factory.stop()


def bot(page: Page) -> Locator:
    """The bot's messages (workflows' words) in the widget."""
    return page.locator(".rf-bot .rf-bubble")


def answers(page: Page) -> Locator:
    """The answer buttons in the widget."""
    return page.locator(".rf-answer")


async def visitor_id(page: Page) -> str:
    """The visitor id the widget keeps in the browser's storage."""
    stored = await page.evaluate("localStorage.getItem('ringflow.chat.visitor')")
    found: str = json.loads(stored)
    return found


async def write(page: Page, text: str) -> None:
    """The visitor types ``text`` and sends it, and sees it sent."""
    box = page.get_by_label("Message")
    await box.fill(text)
    await box.press("Enter")
    sent = page.locator(".rf-visitor:not(.rf-pending) .rf-bubble").filter(has_text=text)
    await expect(sent.last).to_be_visible(timeout=TIMEOUT_MS)
