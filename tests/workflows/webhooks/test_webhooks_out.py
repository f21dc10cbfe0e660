"""Outbound webhooks through the real server: a subscription made over the API receives the
conversation and message events of a text, signed as Standard Webhooks says, checked here by
the ``standardwebhooks`` package's own verifier (not by Ringflow's code); a receiver that
answers 500 gets the same delivery again (same webhook-id, same body) after a backoff; URLs
that point inside the server's network are refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ivr.softphone import ScriptedCaller
from server import JOB_WORKER
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MovableClock
from tests.conftest import ServerFactory, eventually, jobs_settled
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.ivr.test_voice_calls import MENU_FLOW, phone
from tests.sms.test_post_call_texts import EXAMPLES
from tests.workflows.automations.helpers import CONTACT, Desk


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as running:
        yield running


async def start(
    servers: ServerFactory, stub: TwilioApiStub, session: aiohttp.ClientSession, **settings: Any
) -> Desk:
    """A server with ``settings`` (one worker: no other server claims the deliveries)."""
    clock = MovableClock()  # real time: receivers refuse timestamps five minutes off
    server = await servers.start(
        [],
        clock=clock,
        admin_token=ADMIN_TOKEN,
        flows_dir=EXAMPLES,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=stub.base_url,
        **settings,
    )
    return Desk(ApiClient(server, session), clock, stub)


async def subscribe(desk: Desk, url: str, events: list[str]) -> dict[str, Any]:
    answer = await desk.api.call("POST", "/webhooks", json_body={"url": url, "events": events})
    assert answer.status == 201, answer.text
    made: dict[str, Any] = answer.json
    return made


def wake(desk: Desk) -> None:
    desk.api.server.app[JOB_WORKER].wake()


async def test_deliveries_are_signed_and_retried_with_the_same_id(
    servers: ServerFactory,
    server_stub: TwilioApiStub,
    receiver: WebhookReceiver,
) -> None:
    async with aiohttp.ClientSession() as session:
        desk = await start(servers, server_stub, session, outbound_allowed_networks="127.0.0.0/8")
        made = await subscribe(desk, receiver.base_url + "/hooks", ["conversation.*"])
        assert made["secret"].startswith("whsec_")
        listed = (await desk.api.call("GET", "/webhooks")).json
        assert [s["id"] for s in listed] == [made["id"]]
        assert "secret" not in listed[0]
        await subscribe(desk, receiver.base_url + "/texts", ["message.received"])
        receiver.answers.extend([500])  # the first delivery fails once

        await desk.text_in("Hello, is my order shipped?")
        await eventually(lambda: len(receiver.received) >= 3, what="three posts")
        first = receiver.received[0]
        assert first.path in ("/hooks", "/texts")
        desk.clock.advance(timedelta(seconds=5))  # past the retry's backoff (at most 2 s)
        wake(desk)
        await eventually(lambda: len(receiver.received) >= 4, what="the retry")
        await jobs_settled(desk.api.server, "webhook:")

    verifier = Webhook(made["secret"])
    hooks = [post for post in receiver.received if post.path == "/hooks"]
    events = [verifier.verify(post.body, post.headers) for post in hooks]
    assert {event["type"] for event in events} == {
        "conversation.opened",
        "conversation.message.received",
    }
    said = next(e["data"] for e in events if e["type"] == "conversation.message.received")
    opened = next(e["data"] for e in events if e["type"] == "conversation.opened")
    assert said["body"] == "Hello, is my order shipped?"
    assert said["conversation_id"] == opened["conversation_id"]
    assert all(post.headers["Content-Type"] == "application/json" for post in hooks)
    # The delivery that met the 500 came again: same id and body, a fresh valid signature.
    bodies: dict[str, set[bytes]] = {}
    for post in receiver.received:
        bodies.setdefault(post.headers["webhook-id"], set()).add(post.body)
    assert len(bodies) == 3  # three deliveries, one of them twice
    assert all(len(seen) == 1 for seen in bodies.values())
    retried = receiver.received[0].headers["webhook-id"]
    assert [p.headers["webhook-id"] for p in receiver.received].count(retried) == 2

    # Another secret does not verify them: the signature is really checked.
    stranger = Webhook("whsec_" + "A" * 43 + "=")
    with pytest.raises(WebhookVerificationError):
        stranger.verify(hooks[0].body, hooks[0].headers)

    texts = [p for p in receiver.received if p.path == "/texts"]
    assert texts, "the message.received subscription got its event"
    body = json.loads(texts[-1].body)
    assert (body["type"], body["data"]["from"], body["data"]["direction"]) == (
        "message.received",
        CONTACT,
        "inbound",
    )


async def test_a_delivery_that_failed_once_is_delivered_and_recorded(
    servers: ServerFactory,
    server_stub: TwilioApiStub,
    receiver: WebhookReceiver,
) -> None:
    async with aiohttp.ClientSession() as session:
        desk = await start(servers, server_stub, session, outbound_allowed_networks="127.0.0.0/8")
        made = await subscribe(desk, receiver.base_url + "/in", ["message.received"])
        receiver.answers.extend([500])
        await desk.text_in("Hi")
        await eventually(lambda: len(receiver.received) == 1, what="the first attempt")
        desk.clock.advance(timedelta(seconds=5))
        wake(desk)
        await eventually(lambda: len(receiver.received) == 2, what="the retry")
        await jobs_settled(desk.api.server, "webhook:")
        first, second = receiver.received
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        assert first.body == second.body
        verifier = Webhook(made["secret"])
        assert verifier.verify(second.body, second.headers)["type"] == "message.received"
        deliveries = (await desk.api.call("GET", f"/webhooks/{made['id']}/deliveries")).json
        assert [(d["status"], d["attempts"], d["last_status"]) for d in deliveries] == [
            ("delivered", 2, 204)
        ]
        assert deliveries[0]["id"] == first.headers["webhook-id"]


async def test_urls_inside_the_servers_network_are_refused(
    servers: ServerFactory,
    server_stub: TwilioApiStub,
    receiver: WebhookReceiver,
) -> None:
    async with aiohttp.ClientSession() as session:
        desk = await start(servers, server_stub, session)
        for url in (
            "http://127.0.0.1:9/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://10.0.0.5/x",
            "ftp://example.com/x",
        ):
            answer = await desk.api.call(
                "POST", "/webhooks", json_body={"url": url, "events": ["*"]}
            )
            assert answer.status == 422, (url, answer.text)
            assert answer.json["errors"][0]["field"] == "body.url"
        bad = await desk.api.call(
            "POST", "/webhooks", json_body={"url": "https://x.example", "events": ["call.rang"]}
        )
        assert bad.json["errors"][0]["field"] == "body.events.0"
        # A name that resolves to loopback passes the form, and is refused at delivery.
        port = receiver.base_url.rsplit(":", 1)[1]
        made = await subscribe(desk, f"http://localhost:{port}/x", ["message.received"])
        await desk.text_in("Hi")
        await jobs_settled(desk.api.server)
        wake(desk)
        await eventually(lambda: _failed(desk, made["id"]), what="the delivery to be refused")
        assert receiver.received == []


async def _failed(desk: Desk, subscription_id: int) -> bool:
    answer = await desk.api.call("GET", f"/webhooks/{subscription_id}/deliveries")
    rows = answer.json
    if not rows or rows[0]["status"] != "failed":
        return False
    assert "not public" in rows[0]["last_error"], rows[0]
    return True


async def test_a_finished_call_is_reported(
    servers: ServerFactory, receiver: WebhookReceiver
) -> None:
    server = await servers.start(
        [MENU_FLOW],
        clock=MovableClock(),
        admin_token=ADMIN_TOKEN,
        outbound_allowed_networks="127.0.0.0/8",
    )
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server, session)
        answer = await api.call(
            "POST", "/webhooks", json_body={"url": receiver.base_url, "events": ["call.*"]}
        )
        secret = answer.json["secret"]
        result = await phone(server).call(ScriptedCaller(["2"]))
        server.app[JOB_WORKER].wake()
        await eventually(lambda: receiver.received, what="the call.ended delivery")
    (post,) = receiver.received
    event = Webhook(secret).verify(post.body, post.headers)
    assert event["type"] == "call.ended"
    assert event["data"]["sid"] == result.call_sid
    assert event["data"]["status"] == "completed"
    assert event["data"]["outcome"] == "self_service"


async def test_a_receiver_that_keeps_failing_is_given_up_and_410_disables(
    servers: ServerFactory,
    server_stub: TwilioApiStub,
    receiver: WebhookReceiver,
) -> None:
    async with aiohttp.ClientSession() as session:
        desk = await start(
            servers,
            server_stub,
            session,
            outbound_allowed_networks="127.0.0.0/8",
            webhook_max_attempts=2,
        )
        made = await subscribe(desk, receiver.base_url + "/down", ["message.received"])
        receiver.answers.extend([503, 502])
        await desk.text_in("Hi")
        await eventually(lambda: len(receiver.received) == 1, what="the first attempt")
        desk.clock.advance(timedelta(seconds=5))
        wake(desk)
        await eventually(lambda: _status(desk, made["id"], "failed"), what="given up")
        assert len(receiver.received) == 2
        assert (await desk.api.call("DELETE", f"/webhooks/{made['id']}")).status == 204

        gone = await subscribe(desk, receiver.base_url + "/gone", ["message.received"])
        receiver.answers.extend([410])
        await desk.text_in("Hello again")
        await eventually(lambda: _status(desk, gone["id"], "failed"), what="410 recorded")
        found = (await desk.api.call("GET", f"/webhooks/{gone['id']}")).json
        assert found["disabled_at"] is not None
        assert "410" in found["disabled_reason"]


async def _status(desk: Desk, subscription_id: int, status: str) -> bool:
    rows = (await desk.api.call("GET", f"/webhooks/{subscription_id}/deliveries")).json
    return bool(rows) and rows[0]["status"] == status
