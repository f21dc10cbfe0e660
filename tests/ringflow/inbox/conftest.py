"""Fixtures of the inbox tests: a signed-in agent over HTTP (aiohttp, cookies as a browser
keeps them). The browser is the shared ``browser`` fixture (:mod:`tests.browser`: Playwright
driving Debian's ``/usr/bin/chromium``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp
import pytest
from yarl import URL

from tests.ringflow.admin.people import Desk, desk

__all__ = ["Agent", "Desk", "desk", "sign_in", "sign_in_with"]


@pytest.fixture(autouse=True)
def _patient(patient_expectations: None) -> None:
    """Live updates on a busy CI machine: every inbox test waits up to 10 s."""


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
    return await sign_in_with(desk.api.server.base_url, name, token)


async def sign_in_with(base: str, name: str, token: str) -> Agent:
    """Sign in to the inbox at ``base`` with the token of the agent ``name`` (as the form
    does) and read the page's CSRF token."""
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
