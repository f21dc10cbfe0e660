"""The ``http_request`` step through the real server: a text starts a workflow that asks a
CRM (a JSON API on a loopback port) about the contact, saves fields of the answer into
variables and texts them back; refusals, timeouts, errors and answers that are not JSON take
``on_error``; the step is refused in voice workflows."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from server import JOB_WORKER
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MovableClock
from tests.conftest import ServerFactory, eventually, workflow
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.sms.test_post_call_texts import EXAMPLES
from tests.workflows.automations.helpers import CONTACT, Desk
from workflows.loader import from_text
from workflows.problems import WorkflowInvalid


class Crm:
    """A JSON API: ``/ok`` answers the customer, ``/fail`` 500, ``/slow`` after 3 s,
    ``/html`` a page, ``/moved`` a redirect to ``/ok``; keeps what it was sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], Any]] = []
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.seen.append((request.path, dict(request.headers), json.loads(raw) if raw else None))
        if request.path == "/ok":
            return web.json_response({"customer": {"tier": "gold"}, "orders": [{"id": 7}]})
        if request.path == "/fail":
            return web.json_response({"error": "down"}, status=500)
        if request.path == "/slow":
            await asyncio.sleep(3)
            return web.json_response({})
        if request.path == "/moved":
            raise web.HTTPFound("/ok")
        return web.Response(text="<html>hello</html>", content_type="text/html")


@pytest.fixture
async def crm() -> AsyncIterator[Crm]:
    api = Crm()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    api.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    yield api
    await runner.cleanup()


def lookup(url: str) -> Any:
    return workflow(
        f"""
id: lookup
trigger: {{event: sms.received}}
start: ask_crm
steps:
  ask_crm:
    http_request:
      method: POST
      url: "{url}"
      headers: {{Authorization: "Bearer k-{{{{call.to}}}}"}}
      json: {{phone: "{{{{call.from}}}}", said: "{{{{message.body}}}}", tags: [sms]}}
      timeout: 1
      save: {{tier: customer.tier, order: orders.0.id}}
    next: found
    on_error: sorry
  found: {{send_sms: "Tier {{{{vars.tier | none}}}}, order {{{{vars.order | none}}}}."}}
  sorry: {{send_sms: "Sorry, try later ({{{{vars.http_status}}}})."}}
"""
    )


async def answer_to(
    servers: ServerFactory, stub: TwilioApiStub, url: str, **settings: Any
) -> list[str]:
    """Text the business once with the ``lookup`` workflow calling ``url``; the answers."""
    clock = MovableClock()
    async with aiohttp.ClientSession() as session:
        server = await servers.start(
            [lookup(url)],
            clock=clock,
            admin_token=ADMIN_TOKEN,
            flows_dir=EXAMPLES,
            twilio_account_sid=ACCOUNT_SID,
            twilio_api_base_url=stub.base_url,
            **settings,
        )
        desk = Desk(ApiClient(server, session), clock, stub)
        await desk.text_in("where is my order?")
        server.app[JOB_WORKER].wake()
        await eventually(lambda: desk.received(), within=8, what="the answer")
        return desk.received(CONTACT)


ALLOWED = {"http_request_hosts": "127.0.0.1", "outbound_allowed_networks": "127.0.0.0/8"}


async def test_the_answer_fills_variables(
    servers: ServerFactory, server_stub: TwilioApiStub, crm: Crm
) -> None:
    assert await answer_to(servers, server_stub, crm.base_url + "/ok", **ALLOWED) == [
        "Tier gold, order 7."
    ]
    ((path, headers, body),) = crm.seen
    assert path == "/ok"
    assert headers["Authorization"] == "Bearer k-+15005550001"
    assert headers["Content-Type"] == "application/json"
    assert body == {"phone": CONTACT, "said": "where is my order?", "tags": ["sms"]}


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/fail", "Sorry, try later (500)."),
        ("/slow", "Sorry, try later (0)."),
        ("/html", "Sorry, try later (200)."),
        ("/moved", "Sorry, try later (302)."),  # redirects are not followed
    ],
)
async def test_failures_take_on_error(
    servers: ServerFactory, server_stub: TwilioApiStub, crm: Crm, path: str, answer: str
) -> None:
    assert await answer_to(servers, server_stub, crm.base_url + path, **ALLOWED) == [answer]
    assert [seen[0] for seen in crm.seen] == [path]


@pytest.mark.parametrize(
    "settings",
    [
        {},  # no allowlist: every request is refused
        {"http_request_hosts": "127.0.0.1"},  # allowed host, but a loopback address
        {"http_request_hosts": "crm.example", "outbound_allowed_networks": "127.0.0.0/8"},
    ],
)
async def test_refused_requests_reach_nothing(
    servers: ServerFactory, server_stub: TwilioApiStub, crm: Crm, settings: dict[str, str]
) -> None:
    answer = await answer_to(servers, server_stub, crm.base_url + "/ok", **settings)
    assert answer == ["Sorry, try later (0)."]
    assert crm.seen == []


def test_the_step_is_refused_on_voice() -> None:
    with pytest.raises(WorkflowInvalid, match="cannot run on voice"):
        from_text(
            """
id: voice-lookup
trigger: {event: call.incoming}
start: ask
steps:
  ask: {http_request: "https://crm.example/x", next: bye}
  bye: {hangup: "Bye."}
""",
            "voice.yaml",
        )


def test_bad_parameters_are_named() -> None:
    with pytest.raises(WorkflowInvalid) as refused:
        from_text(
            """
id: bad
trigger: {event: sms.received}
start: ask
steps:
  ask:
    http_request: {url: "ftp://x.example/y", save: {tier: "a b"}, timeout: 90}
""",
            "bad.yaml",
        )
    text = str(refused.value)
    assert "steps.ask.http_request" in text
