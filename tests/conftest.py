"""Shared fixtures: a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set) and
a real Ringflow server on a loopback port."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from twilio.request_validator import RequestValidator

from prompts.service import Synthesizer
from ringflow.clock import Clock, system_clock
from ringflow.database import Database, metadata, open_database
from ringflow.database import database_url as driver_url
from ringflow.migrate import upgrade
from ringflow.settings import Settings, load_settings
from server import DATABASE, JOB_WORKER, create_app
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from workflows.jobs.db import jobs
from workflows.loader import Workflow, from_text

AUTH_TOKEN = "12345678901234567890123456789012"
PUBLIC_URL = "https://ivr.example.com"


async def reset_postgres(url: str) -> None:
    """Drop every table the previous test left behind."""
    engine = create_async_engine(driver_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each supported kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ringflow.db'}"
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (CI sets it in .ci/run)")
    await reset_postgres(url)
    return url


@pytest.fixture
async def migrated_db(database_url: str) -> AsyncIterator[Database]:
    """The test database with Ringflow's schema, closed after the test."""
    database = await open_database(database_url)
    try:
        await upgrade(database)
        yield database
    finally:
        await database.close()


@dataclass
class RunningServer:
    """A Ringflow server listening on a loopback port."""

    base_url: str
    settings: Settings
    app: web.Application
    clock: Clock
    """The server's one clock: what a test writes beside the server is stamped with it."""

    @property
    def db(self) -> Database:
        """The server's own database."""
        return self.app[DATABASE]

    async def count(self, table: str) -> int:
        """Rows in ``table``."""
        query = select(func.count()).select_from(metadata.tables[table])
        return int(await self.db.read(lambda conn: conn.execute(query).scalar_one()))


@dataclass(frozen=True)
class Reply:
    """What a server answered."""

    status: int
    content_type: str
    text: str


async def signed_post(
    server: RunningServer, path: str, form: dict[str, str], token: str = AUTH_TOKEN
) -> Reply:
    """POST ``form`` to ``path``, signed as Twilio signs it for the public URL."""
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + path, form)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.base_url + path, data=form, headers={"X-Twilio-Signature": signature}
        ) as response,
    ):
        return Reply(response.status, response.content_type, await response.text())


def workflow(yaml_text: str) -> Workflow:
    """A workflow from inline YAML (validated like a file)."""
    return from_text(yaml_text, "test.yaml")


class ServerFactory:
    """Starts servers for a test and stops them after it."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.runners: list[web.AppRunner] = []

    async def start(
        self,
        flows: Sequence[Workflow] | None = None,
        *,
        auth_token: str | None = AUTH_TOKEN,
        public_url: str | None = PUBLIC_URL,
        clock: Clock = system_clock,
        speech: Synthesizer | None = None,
        **settings: object,
    ) -> RunningServer:
        """A server on a free port; ``flows`` default to the demo workflow; ``clock`` is the
        server's "now" (business hours, quiet hours, jobs); ``speech`` its voice (default:
        espeak-ng); ``data_dir`` defaults to one folder shared by the test's servers."""
        data_dir = settings.pop("data_dir", self.tmp_path / "data")
        config = load_settings(
            data_dir=data_dir,
            database_url=self.database_url,
            twilio_auth_token=auth_token,
            public_url=public_url,
            **settings,
        )
        app = create_app(config, flows, clock=clock, speech=speech)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self.runners.append(runner)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        await site.start()
        port = sock.getsockname()[1]
        return RunningServer(f"http://127.0.0.1:{port}", config, app, clock)

    async def stop(self) -> None:
        """Stop every server started."""
        for runner in reversed(self.runners):
            await runner.cleanup()


@pytest.fixture(autouse=True)
def _no_twilio_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    """TWILIO_EDGE / TWILIO_REGION would splice themselves into a Twilio stub's host name."""
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """A test that runs ``ringflow serve`` or ``ringflow call`` in-process configures the root
    logger (``configure_logging``) with a handler on the stderr of that moment, pytest's
    capture of that test; left in place, a later test's log line goes to a closed file
    ("--- Logging error ---" in CI). Each test gets back the handlers and levels it found."""
    root = logging.getLogger()
    twilio_http = logging.getLogger("twilio.http_client")
    handlers, level, twilio_level = list(root.handlers), root.level, twilio_http.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    twilio_http.setLevel(twilio_level)


@pytest.fixture(autouse=True)
def _finished_servers_released() -> Iterator[None]:
    """aiohttp keeps each request's middleware chain in a module-level LRU cache of 1,024
    keyed by ``(handler, apps)``: in a server that builds its app once that costs nothing,
    but a test suite builds an app per test, so the cache kept hundreds of finished servers
    alive (their databases, services and caches, ~5 MB each: the suite's process grew to
    2.2 GB). Emptied after each test; the cache is aiohttp's private detail, hence ``getattr``."""
    yield
    cached = getattr(aiohttp.web_app, "_cached_build_middleware", None)
    if cached is not None:
        cached.cache_clear()


@pytest.fixture
async def server_stub() -> AsyncIterator[TwilioApiStub]:
    """Twilio's Messages API on a loopback port, taking the servers' auth token (a server
    uses one token for webhook signatures and for Twilio's REST API); point a server at it
    with ``twilio_account_sid=ACCOUNT_SID, twilio_api_base_url=server_stub.base_url``."""
    async with TwilioApiStub(ACCOUNT_SID, AUTH_TOKEN) as running:
        yield running


@pytest.fixture
async def servers(database_url: str, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start Ringflow servers on the test's database."""
    factory = ServerFactory(database_url, tmp_path)
    yield factory
    await factory.stop()


async def eventually(check: Callable[[], Any], within: float = 5.0, what: str = "") -> None:
    """Wait until ``check()`` (sync or async) is true, polling; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or check}")
        await asyncio.sleep(0.01)


async def jobs_settled(server: RunningServer, *prefixes: str, within: float = 10.0) -> None:
    """Wake ``server``'s worker and wait until none of its jobs (those whose dedupe key
    starts with one of ``prefixes``; all when none given) is due by the server's clock or
    running: what a test asserts "nothing more happened" after (jobs due later stay queued)."""
    worker = server.app.get(JOB_WORKER)
    if worker is not None:
        worker.wake()
    now = server.clock()

    def mine(key: str | None) -> bool:
        return not prefixes or any((key or "").startswith(p) for p in prefixes)

    async def idle() -> bool:
        query = select(jobs.c.status, jobs.c.due_at, jobs.c.dedupe_key)
        rows = await server.db.read(lambda conn: conn.execute(query).all())
        for row in rows:
            if not mine(row.dedupe_key):
                continue
            if row.status == "running":
                return False
            due = row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=now.tzinfo)
            if row.status == "queued" and due <= now:
                return False
        return True

    await eventually(idle, within=within, what=f"jobs {prefixes or 'all'} to settle")


pytest_plugins = ["tests.api_client", "tests.browser"]
