"""Fixtures of the inbox tests: a signed-in agent over HTTP (aiohttp, cookies as a browser
keeps them) and a real browser (Playwright driving Debian's ``/usr/bin/chromium``).

The browser fixture is small on purpose: the chat tests have the same one, to be folded into
one shared fixture. Never ``playwright install``: it downloads a browser (and fails here).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, async_playwright
from yarl import URL

from tests.ringflow.admin.people import Desk, desk

__all__ = ["Agent", "Desk", "browser", "desk", "sign_in"]

CHROMIUM = Path(os.environ.get("RINGFLOW_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in CI and containers
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
]
"""No sandbox (root), and no calls home: the machine may have no network at all."""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium (``apt-get install chromium``; ``./run test`` installs it)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (./run test does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Agent:
    """An agent signed in to the inbox over HTTP: its cookie jar and the page's CSRF token."""

    name: str
    token: str
    http: aiohttp.ClientSession
    base_url: str
    csrf: str

    @property
    def origin(self) -> str:
        return self.base_url

    async def api(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        csrf: str | None = "page",
        origin: str | None = "same",
    ) -> aiohttp.ClientResponse:
        """``/api`` with the session cookie; ``csrf``/``origin``: "page"/"same" send the
        right ones, None none, anything else that value."""
        headers = {}
        if csrf is not None:
            headers["X-CSRF-Token"] = self.csrf if csrf == "page" else csrf
        if origin is not None:
            headers["Origin"] = self.origin if origin == "same" else origin
        async with self.http.request(
            method, self.base_url + "/api" + path, json=body, headers=headers
        ) as response:
            await response.read()
            return response


CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]{64})">')


async def sign_in(desk: Desk, name: str) -> Agent:
    """Create the agent ``name`` with a token, sign in to the inbox with it (as the form
    does) and read the page's CSRF token."""
    await desk.agent(name)
    token = await desk.agent_token(name)
    base = desk.api.server.base_url
    # A cookie jar that keeps Secure cookies on http://127.0.0.1 (as Chromium does for
    # loopback addresses): the test server's public URL is https.
    http = aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
    )
    async with http.post(
        base + "/inbox/sign-in",
        data={"token": token},
        headers={"Origin": base},
        allow_redirects=False,
    ) as answer:
        assert answer.status == 303, await answer.text()
        assert answer.headers["Location"] == "/inbox"
    async with http.get(base + "/inbox") as page:
        assert page.status == 200
        found = CSRF_META.search(await page.text())
    assert found is not None
    assert http.cookie_jar.filter_cookies(URL(base))
    return Agent(name, token, http, base, found.group(1))
