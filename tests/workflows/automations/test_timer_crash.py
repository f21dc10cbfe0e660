"""Timers survive a crash: ``ringflow worker`` runs as a subprocess (on the real clock) for
a server that runs no worker; agents reply to two customers, the worker sets the
``no_customer_reply`` timers and is SIGKILLed before they are due; one customer then writes
back. A second worker fires the timer whose condition still holds, once, and does nothing for
the other."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MovableClock
from tests.conftest import AUTH_TOKEN, ServerFactory, eventually, workflow
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.sms.test_send_crash import start_worker, worker_env
from tests.workflows.automations.helpers import CONTACT, Desk
from workflows.jobs.db import jobs

OTHER = "+14155550199"
NUDGE = "Are you still there?"
FLOW = workflow(
    """
id: nudge
trigger: {event: no_customer_reply, after: 8s}
start: nudge
steps:
  nudge: {reply: "Are you still there?"}
"""
)


@pytest.fixture
async def desk(servers: ServerFactory, server_stub: TwilioApiStub) -> AsyncIterator[Desk]:
    server = await servers.start(
        [FLOW],
        admin_token=ADMIN_TOKEN,
        worker=False,  # the subprocesses do the jobs
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    async with aiohttp.ClientSession() as session:
        # The real clock: the workers in other processes keep it.
        yield Desk(ApiClient(server, session), MovableClock(), server_stub)


async def _timer_statuses(desk: Desk) -> list[str]:
    query = select(jobs.c.status).where(jobs.c.kind == "conversation.timer")
    rows = await desk.api.server.db.read(lambda conn: conn.execute(query).scalars().all())
    return [str(status) for status in rows]


async def test_a_timer_set_before_a_kill_fires_once_or_not_at_all(
    desk: Desk, database_url: str, server_stub: TwilioApiStub, tmp_path: Path
) -> None:
    env = worker_env(database_url, server_stub, tmp_path / "worker-data")
    env["TWILIO_AUTH_TOKEN"] = AUTH_TOKEN  # the servers' token, which the stub takes
    log = tmp_path / "workers.log"
    await desk.text_in("Can I change my order?")
    await desk.text_in("Is the shop open Sunday?", sender=OTHER)
    quiet, chatty = await desk.conversation(), await desk.conversation(OTHER)
    await desk.act(quiet["id"], "replies", {"body": "Yes: which item?"})
    await desk.act(chatty["id"], "replies", {"body": "Yes, 10 to 4."})

    first = await start_worker(env, log)
    try:
        await eventually(
            lambda: _count(desk, 2), within=10, what=f"two timers set\n{log.read_text()}"
        )
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
        assert await _timer_statuses(desk) == ["queued", "queued"]  # killed before they came due

        await desk.text_in("Great, see you Sunday", sender=OTHER)
        second = await start_worker(env, log)
        try:
            # The agent's reply may leave after the nudge: its send job was the dead
            # worker's (its lease runs out first); each arrives once either way.
            await eventually(
                lambda: NUDGE in desk.received(CONTACT) and len(desk.received(CONTACT)) >= 2,
                within=30,
                what="the reply and the nudge",
            )
            await eventually(
                lambda: _all_done(desk), within=20, what=f"both timers done\n{log.read_text()}"
            )
            await asyncio.sleep(1)
            assert sorted(desk.received(CONTACT)) == sorted(["Yes: which item?", NUDGE]), (
                f"{desk.received(CONTACT)}\n{log.read_text()}"
            )
            assert desk.received(OTHER) == ["Yes, 10 to 4."]
        finally:
            second.send_signal(signal.SIGTERM)
            await second.wait()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()


async def _count(desk: Desk, expected: int) -> bool:
    return len(await _timer_statuses(desk)) == expected


async def _all_done(desk: Desk) -> bool:
    return await _timer_statuses(desk) == ["done", "done"]
