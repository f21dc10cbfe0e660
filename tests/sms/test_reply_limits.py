"""Automated replies are limited per number: two auto-responders cannot loop, and a number
that opted out is answered a HELP (or a repeated STOP) at most once a day."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import select

from ringflow.settings import DEFAULT_HELP_REPLY, DEFAULT_STOP_REPLY
from sms.db import messages
from sms.send_job import SEND_SMS, SendSmsHandler
from sms.twilio_provider import TwilioSmsProvider
from tests.clock import MovableClock
from tests.conftest import RunningServer, ServerFactory, eventually, signed_post, workflow
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub
from workflows.db import trigger_firings
from workflows.jobs import JobWorker, RetryPolicy

CONTACT = "+14155550123"
OUR_NUMBER = "+15005550001"
ANSWER = "Thanks for your text, we will get back to you."
ANSWERING = workflow(
    f"""
id: answering
trigger: {{event: sms.received}}
start: thanks
steps:
  thanks: {{send_sms: "{ANSWER}"}}
"""
)
_SIDS = (f"SM{n:032d}" for n in itertools.count(1))
HOP_WITHIN = 30
"""Seconds allowed for one exchange: the webhook, the inbound job, the workflow's turn and the
send job, two of them through a worker that polls every 0.5 s. About 0.3 s on an idle machine,
but the suite runs on two cores shared with other suites; at a load average of 10 whole runs
of this test ranged from 1.6 s to 7.9 s, and one exchange once outlived the former 5 s. It is
only how long a hang takes to be reported: every count is asserted exactly once the exchange
is over, so waiting longer cannot let a fourth answer pass."""


async def text(server: RunningServer, body: str) -> str:
    """The contact texts ``body`` to our number; its MessageSid."""
    sid = next(_SIDS)
    form = {
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": CONTACT,
        "To": OUR_NUMBER,
        "Body": body,
    }
    assert (await signed_post(server, "/twilio/sms", form)).status == 200
    return sid


async def firing_status(server: RunningServer, sid: str) -> str | None:
    query = select(trigger_firings.c.status).where(trigger_firings.c.event_key == f"inbound:{sid}")
    return await server.db.read(lambda conn: conn.execute(query).scalar())


async def inbound_count(server: RunningServer) -> int:
    query = select(messages.c.id).where(messages.c.direction == "inbound")
    return len(await server.db.read(lambda conn: conn.execute(query).all()))


def received_at_least(stub: TwilioApiStub, count: int) -> bool:
    return len(stub.accepted) >= count


async def test_two_auto_responders_cannot_loop(
    servers: ServerFactory, server_stub: TwilioApiStub, caplog: pytest.LogCaptureFixture
) -> None:
    clock = MovableClock()
    server = await servers.start(
        [ANSWERING],
        clock=clock,
        sms_reply_limit=3,
        sms_reply_window_seconds=600,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    # The contact's phone is an auto-responder too: it answers each of our texts.
    sid = await text(server, "Hello")
    with caplog.at_level(logging.WARNING, logger="sms.workflow_jobs"):
        for answered in range(1, 10):
            await eventually(
                partial(firing_status, server, sid), HOP_WITHIN, f"text {answered} handled"
            )
            if await firing_status(server, sid) == "limited":
                break
            await eventually(partial(received_at_least, server_stub, answered), HOP_WITHIN)
            sid = await text(server, "Auto-reply: I am away until Monday.")
    assert [m.body for m in server_stub.accepted] == [ANSWER] * 3
    assert await inbound_count(server) == 4  # the fourth is recorded, not answered
    assert await firing_status(server, sid) == "limited"
    assert any("reached 3 texts in 10 min" in r.getMessage() for r in caplog.records)

    # Once the window has passed, the number is answered again.
    clock.advance(timedelta(minutes=11))
    sid = await text(server, "Hello again")
    await eventually(lambda: len(server_stub.accepted) == 4, HOP_WITHIN, "answered again")
    assert await firing_status(server, sid) == "started"


@pytest.fixture
async def clocked(servers: ServerFactory) -> RunningServer:
    """A server without a worker (the test runs its own), on a clock the test moves."""
    return await servers.start(worker=False, clock=MovableClock(), sms_reply_limit=2)


@pytest.fixture
async def worker(clocked: RunningServer, stub: TwilioApiStub) -> AsyncIterator[JobWorker]:
    provider = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url, timeout=5)
    handler = SendSmsHandler(clocked.db, provider, "twilio", None, clock=clocked.clock)
    yield JobWorker(
        clocked.db, {SEND_SMS: handler}, owner="test", policy=RetryPolicy(), clock=clocked.clock
    )
    await provider.close()


async def drain(worker: JobWorker) -> None:
    while await worker.run_once():
        pass


def advance(server: RunningServer, delta: timedelta) -> None:
    clock = server.clock
    assert isinstance(clock, MovableClock)
    clock.advance(delta)


async def test_help_to_an_opted_out_number_is_answered_once_a_day(
    clocked: RunningServer, stub: TwilioApiStub, worker: JobWorker
) -> None:
    await text(clocked, "STOP")
    for _ in range(3):
        await text(clocked, "HELP")
    await drain(worker)
    assert sorted(m.body for m in stub.accepted) == [DEFAULT_HELP_REPLY, DEFAULT_STOP_REPLY]
    assert await inbound_count(clocked) == 4

    advance(clocked, timedelta(hours=23))
    await text(clocked, "help")
    await drain(worker)
    assert len(stub.accepted) == 2

    advance(clocked, timedelta(hours=1, minutes=1))
    await text(clocked, "help")
    await drain(worker)
    assert [m.body for m in stub.accepted][-1] == DEFAULT_HELP_REPLY
    assert len(stub.accepted) == 3


async def test_a_repeated_stop_is_confirmed_once_a_day(
    clocked: RunningServer, stub: TwilioApiStub, worker: JobWorker
) -> None:
    for _ in range(4):
        await text(clocked, "STOP")
    await drain(worker)
    assert [m.body for m in stub.accepted] == [DEFAULT_STOP_REPLY]

    advance(clocked, timedelta(days=1, minutes=1))
    await text(clocked, "Stop.")
    await drain(worker)
    assert [m.body for m in stub.accepted] == [DEFAULT_STOP_REPLY] * 2


async def test_the_first_stop_is_confirmed_even_over_the_reply_limit(
    clocked: RunningServer, stub: TwilioApiStub, worker: JobWorker
) -> None:
    for _ in range(3):
        await text(clocked, "HELP")
    await text(clocked, "STOP")
    await drain(worker)
    assert sorted(m.body for m in stub.accepted) == [DEFAULT_HELP_REPLY] * 2 + [DEFAULT_STOP_REPLY]


async def test_keyword_replies_to_a_subscribed_number_keep_to_the_reply_limit(
    clocked: RunningServer, stub: TwilioApiStub, worker: JobWorker, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sms.routes"):
        for body in ("HELP", "START", "INFO", "HELP"):
            await text(clocked, body)
    await drain(worker)
    assert len(stub.accepted) == 2  # the limit is 2 texts in 10 minutes
    assert await inbound_count(clocked) == 4
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("not answered: 2 texts in 10 min" in w for w in warnings) == 2

    advance(clocked, timedelta(minutes=11))
    await text(clocked, "HELP")
    await drain(worker)
    assert len(stub.accepted) == 3
