"""Test calls placed from the console meet a team: they change nothing of the team's and are
offered to no agent. On the support line of ``test_queue_softphone`` (three agents, a hold
queue; real callers are softphone calls, Twilio's Calls API a stub over HTTP), on SQLite and
PostgreSQL:

- a test call waiting in the queue hears its place among the real callers ahead, is never
  offered to an agent who frees up (the real caller behind it is), and no real caller counts
  it ahead of them;
- the admin names the agent who takes it: it leaves the queue and rings that agent only; an
  offered agent the admin says did not answer stays available, and the call is back in the
  queue;
- pressing 1 in the queue asks for no callback;
- on a round-robin team it takes no turn: the next real caller rings whom it would have.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from ivr.softphone import CallerHungUp, Softphone
from tests.api_client import ApiClient
from tests.clock import MovableClock
from tests.conftest import (
    AUTH_TOKEN,
    PUBLIC_URL,
    RunningServer,
    ServerFactory,
    eventually,
    jobs_settled,
)
from tests.fakes.twilio_api import TwilioApiStub
from tests.ivr.test_queue_softphone import AGENT_BY_NUMBER, QueueCaller, busy_line
from tests.ivr.test_team_routing import AGENTS, LINE, start
from tests.ringflow.admin.test_test_calls import press, texts, until_asked, until_ended
from workflows.callbacks.db import callback_requests
from workflows.jobs.db import jobs
from workflows.people.db import agents
from workflows.people.queue import OFFER_JOB


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@contextlib.asynccontextmanager
async def admin_api(server: RunningServer) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server, session)


async def place(api: ApiClient) -> str:
    placed = await api.call("POST", "/test-calls", json_body={"workflow_id": "support-queue"})
    assert placed.status == 201, placed.text
    call_id: str = placed.json["id"]
    return call_id


async def take(api: ApiClient, call_id: str, agent: str) -> Any:
    return await api.call(
        "POST", f"/test-calls/{call_id}/answer", json_body={"kind": "agent", "agent": agent}
    )


async def dial(api: ApiClient, call_id: str, status: str, seconds: int = 0) -> None:
    answer = await api.call(
        "POST",
        f"/test-calls/{call_id}/answer",
        json_body={"kind": "dial", "status": status, "seconds": seconds},
    )
    assert answer.status == 200, answer.text


async def agent_status(api: ApiClient, name: str) -> str:
    answer = await api.call("GET", f"/agents/{name}")
    assert answer.status == 200, answer.text
    status: str = answer.json["status"]
    return status


async def off_the_call(server: RunningServer, name: str) -> None:
    """Wait until agent ``name``'s call has ended for Ringflow (their leg's status callback
    recorded): ``status`` stays ``available`` through a call, so the API cannot tell."""
    query = select(agents.c.on_call).where(agents.c.name == name)

    async def off() -> bool:
        return await server.db.read(lambda conn: conn.execute(query).scalar()) is None

    await eventually(off, within=10, what=f"{name}'s call to end")


async def offers_to(server: RunningServer, call_id: str) -> int:
    """``call.offer`` jobs ever written for ``call_id``."""
    query = select(jobs.c.payload).where(jobs.c.kind == OFFER_JOB)
    payloads = await server.db.read(lambda conn: conn.execute(query).scalars().all())
    return sum(payload["call"] == call_id for payload in payloads)


async def test_a_test_call_in_the_queue_is_offered_to_no_one_and_taken_by_the_agent_named(
    servers: ServerFactory, server_stub: TwilioApiStub, clock: MovableClock
) -> None:
    # Three callers talk to the three agents: the next callers wait.
    async with busy_line(servers, server_stub, clock, 3, "031") as line:
        server = line.server
        async with admin_api(server) as api:
            call_id = await place(api)
            waiting = await until_asked(api, call_id)
            assert "Enqueue: support" in texts(waiting)
            assert any("You are number 1 in line" in text for text in texts(waiting))
            assert waiting["holding"] == {"team": "support", "agents": sorted(AGENTS)}
            assert waiting["step"] == "connect"

            # A real caller after it: the test call is not counted ahead of them.
            phone = Softphone(
                server.base_url,
                auth_token=AUTH_TOKEN,
                public_url=PUBLIC_URL,
                dequeued=server_stub.next_redirect,
            )
            real = QueueCaller(server, "+12025550931", call_sid=f"CA931{1:029x}")
            real_call = asyncio.create_task(
                phone.call(real, from_=real.number, to=LINE, call_sid=real.call_sid)
            )
            try:
                await real.hears("You are number 1 in line")

                # An agent frees up: the real caller is offered the agent, though the test
                # call waited longer; the test call is offered to no one.
                freed = line.callers[0].talking_to
                assert freed is not None
                line.callers[0].end_talk()
                await asyncio.wait_for(real.talking.wait(), 15)
                assert real.talking_to == freed
                await jobs_settled(server)
                assert await offers_to(server, call_id) == 0
                still = await until_asked(api, call_id)
                assert still["holding"] is not None

                # Another agent frees up, no real caller waits: the agent stays free.
                second = line.callers[1].talking_to
                assert second is not None
                line.callers[1].end_talk()
                # Free once their leg's status callback is in, which the caller sends after the
                # goodbye: until then there is nothing to offer, and no one to take the call.
                await off_the_call(server, second)
                await jobs_settled(server)
                assert await offers_to(server, call_id) == 0

                # The admin names who takes the test call: someone of another team is refused.
                refused = await take(api, call_id, "mallory")
                assert refused.status == 422, refused.text
                assert refused.json["errors"][0]["field"] == "body.agent"

                # The agent it is taken by does not answer: still available, and the call is
                # back in the queue.
                assert (await take(api, call_id, second)).status == 200
                ringing = await until_asked(api, call_id, "dial")
                assert [AGENT_BY_NUMBER[t] for t in ringing["question"]["targets"]] == [second]
                assert ringing["holding"] is None
                await dial(api, call_id, "no-answer")
                again = await until_asked(api, call_id)
                assert again["holding"] is not None
                assert await agent_status(api, second) == "available"

                # Taken again, answered: the call log names the agent.
                assert (await take(api, call_id, second)).status == 200
                await until_asked(api, call_id, "dial")
                await dial(api, call_id, "completed", seconds=42)
                ended = await until_ended(api, call_id)
                assert ended["ended_by"] != "error", texts(ended)
                logged = await api.call("GET", f"/calls/{call_id}")
                assert logged.json["agent"] == second
                assert logged.json["test"] is True
                # Nothing took the test call out through the Calls API.
                assert all(call_id not in request.path for request in server_stub.requests)

                # Once it has ended, nothing can take it.
                late = await take(api, call_id, second)
                assert late.status == 409
            finally:
                real.end_talk()
                real.actions.put_nowait(CallerHungUp)
                await asyncio.gather(real_call, return_exceptions=True)


async def test_pressing_1_in_the_queue_asks_for_no_callback(
    servers: ServerFactory, server_stub: TwilioApiStub, clock: MovableClock
) -> None:
    async with (
        busy_line(servers, server_stub, clock, 3, "032") as line,
        admin_api(line.server) as api,
    ):
        call_id = await place(api)
        await until_asked(api, call_id)
        await press(api, call_id, "1")
        after = await until_asked(api, call_id, "record")  # the line's voicemail comes next
        assert "Say: Thank you. We will call you back as soon as an agent is free." in texts(after)
        await jobs_settled(line.server)
        requests = select(func.count()).select_from(callback_requests)
        count = await line.server.db.read(lambda conn: conn.execute(requests).scalar_one())
        assert count == 0


async def test_a_test_call_takes_no_round_robin_turn(
    servers: ServerFactory, server_stub: TwilioApiStub, clock: MovableClock
) -> None:
    server = await start(servers, server_stub, "round_robin", clock)
    async with admin_api(server) as api:
        rung = []
        for _ in range(2):
            call_id = await place(api)
            ringing = await until_asked(api, call_id, "dial")
            rung.append([AGENT_BY_NUMBER[t] for t in ringing["question"]["targets"]])
            hung_up = await api.call(
                "POST", f"/test-calls/{call_id}/answer", json_body={"kind": "hang_up"}
            )
            assert hung_up.status == 200
            await until_ended(api, call_id)
            clock.advance(timedelta(seconds=5))
        # Both rang the one whose turn it is; a real call would have moved the turn on.
        assert rung[0] == rung[1]
        assert len(rung[0]) == 1
