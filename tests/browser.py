"""Browser tests: Playwright (from PyPI) driving Debian's Chromium, registered in
``tests/conftest.py``.

``browser`` is a headless Chromium at :data:`CHROMIUM` (``./run test`` installs Debian's
``chromium`` package when it is missing; ``playwright install`` is never used: it downloads a
browser of its own). Without it the browser tests are skipped, with the reason, except in CI
(``CI`` set), where they must run: a missing browser fails them there.
``page`` is a fresh page in a fresh context (its own storage), closed after the test.
``patient_expectations`` makes ``expect`` wait up to :data:`TIMEOUT_MS` (workers, live updates
and NOTIFY on a busy CI machine); a module opts in with
``pytestmark = pytest.mark.usefixtures("patient_expectations")``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

CHROMIUM: Final = Path(os.environ.get("RINGFLOW_TEST_CHROMIUM", "/usr/bin/chromium"))
FLAGS: Final = (
    "--no-sandbox",  # root in containers and CI: Chromium's sandbox needs user namespaces
    # Nothing in the background talks to the network: the tests stay offline and quiet.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
)
TIMEOUT_MS: Final = 10_000
"""How long a test waits for what a page shows (Playwright's default: 5 s)."""


def require_chromium() -> None:
    """Skip the test without Debian's chromium (fail it in CI, where it must be there)."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI runs the browser tests (./run test installs it)")
    pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (./run test installs it)")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium, closed after the test."""
    require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(FLAGS), headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser context (cookies, storage), closed after the test."""
    opened = await browser.new_context(viewport={"width": 1000, "height": 720})
    opened.set_default_timeout(TIMEOUT_MS)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    """A page of ``context``."""
    return await context.new_page()


@pytest.fixture
def patient_expectations() -> Iterator[None]:
    """``expect`` waits up to :data:`TIMEOUT_MS`, then Playwright's default again."""
    expect.set_options(timeout=TIMEOUT_MS)
    yield
    expect.set_options(timeout=5_000)
