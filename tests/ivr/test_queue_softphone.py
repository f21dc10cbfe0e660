"""Issue 11's acceptance with the softphone: a team of 3 agents and 5 simultaneous callers,
each caller a :class:`Softphone` playing Twilio's side of a real call (signed webhooks, TwiML
executed verb by verb, waiting in the ``<Enqueue>`` queue on its wait URL), Twilio's Calls API
a stub over HTTP whose redirects take a waiting call out of the queue, as Twilio does. The
test plays the agents: it posts their legs' status callbacks when a caller's ``<Dial>`` rings
them. On SQLite and PostgreSQL.

Checked: the strategy (longest idle: each of the first three callers rings a different agent,
one at a time); the two others wait and are told their place; one hangs up in the queue (the
missed-call text) and the other's place moves up; an agent freeing up takes the next caller
(the REST redirect dequeues them; they talk; the call is logged with that agent); a caller who
presses 1 is called back when an agent frees up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from ivr.calllog import call_by_sid
from ivr.softphone import (
    CallerHungUp,
    CallResult,
    DialAttempt,
    DialResult,
    GatherPrompt,
    RecordPrompt,
    RecordResult,
    Softphone,
)
from tests.clock import MovableClock
from tests.conftest import (
    AUTH_TOKEN,
    PUBLIC_URL,
    RunningServer,
    ServerFactory,
    eventually,
    jobs_settled,
    signed_post,
)
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.ivr.test_team_routing import AGENTS, LINE, start, texts_to

MISSED = "Sorry we missed your call."
AGENT_BY_NUMBER = {number: name for name, number in AGENTS.items()}
Action = str | None | type[CallerHungUp]
"""What a waiting caller does at the next wait round: keys, silence (None), or hang up."""


@dataclass
class QueueCaller:
    """A caller (a :class:`CallerScript`) the test steers, and the agents their ``<Dial>``
    rings: the first agent rung answers (its leg's status callback), and the call with them
    lasts until :meth:`end_talk`."""

    server: RunningServer
    number: str
    call_sid: str = ""
    heard: list[str] = field(default_factory=list)
    actions: asyncio.Queue[Action] = field(default_factory=asyncio.Queue)
    talking_to: str | None = None
    talking: asyncio.Event = field(default_factory=asyncio.Event)
    _talk_over: asyncio.Event = field(default_factory=asyncio.Event)
    _legs: int = 0

    def hear(self, line: str) -> None:
        self.heard.append(line)

    async def keys(self, gather: GatherPrompt) -> str | None:
        action = await self.actions.get()
        if action is CallerHungUp:
            raise CallerHungUp()
        assert action is None or isinstance(action, str)
        return action

    async def dial(self, dial: DialAttempt) -> DialResult:
        assert len(dial.targets) == 1, f"longest idle rings one agent at a time: {dial.targets}"
        agent = AGENT_BY_NUMBER[dial.targets[0]]
        self._legs += 1
        leg_sid = f"CA{self.number[-4:]}{self._legs:028x}"
        await self._leg(agent, leg_sid, "in-progress")
        self.talking_to = agent
        self.talking.set()
        await self._talk_over.wait()
        await self._leg(agent, leg_sid, "completed")
        return DialResult("completed", 30)

    async def record(self, record: RecordPrompt) -> RecordResult | None:
        return None  # says nothing after the tone

    def end_talk(self) -> None:
        """The agent and the caller say goodbye: the agent's leg ends, then the dial."""
        self._talk_over.set()

    async def _leg(self, agent: str, leg_sid: str, status: str) -> None:
        form = {
            "CallSid": leg_sid,
            "ParentCallSid": self.call_sid,
            "AccountSid": ACCOUNT_SID,
            "From": LINE,
            "To": AGENTS[agent],
            "CallStatus": status,
        }
        path = f"/twilio/voice/agents/{agent}/status?team=support"
        reply = await signed_post(self.server, path, form)
        assert reply.status == 204, reply.text

    async def hears(self, text: str, within: float = 10.0) -> None:
        await eventually(lambda: any(text in line for line in self.heard), within, repr(text))

    def heard_count(self, text: str) -> int:
        return sum(text in line for line in self.heard)


@dataclass
class BusyLine:
    """The support line with its three agents talking to the first three callers and the
    other callers waiting in the queue, each a softphone call in progress."""

    server: RunningServer
    callers: list[QueueCaller]
    calls: list[asyncio.Task[CallResult]]


@contextlib.asynccontextmanager
async def busy_line(
    servers: ServerFactory, stub: TwilioApiStub, clock: MovableClock, count: int, prefix: str
) -> AsyncIterator[BusyLine]:
    """``count`` callers calling one second apart (longest idle: the first three reach an
    agent each); every call is ended when the test is over."""
    server = await start(servers, stub, "longest_idle", clock)
    phone = Softphone(
        server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL, dequeued=stub.next_redirect
    )
    callers = [QueueCaller(server, f"+1202555{prefix}{i}") for i in range(count)]
    calls: list[asyncio.Task[CallResult]] = []
    try:
        for index, caller in enumerate(callers):
            caller.call_sid = f"CA{prefix}{index + 1:029x}"
            call = phone.call(caller, from_=caller.number, to=LINE, call_sid=caller.call_sid)
            calls.append(asyncio.create_task(call))
            if index < 3:
                await asyncio.wait_for(caller.talking.wait(), 10)
            else:
                await caller.hears("Enqueue: support")
            clock.advance(timedelta(seconds=1))
        yield BusyLine(server, callers, calls)
    finally:
        for caller in callers:
            caller.end_talk()
            caller.actions.put_nowait(CallerHungUp)
        await asyncio.gather(*calls, return_exceptions=True)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


async def test_three_agents_and_five_callers_through_the_softphone(
    servers: ServerFactory, server_stub: TwilioApiStub, clock: MovableClock
) -> None:
    async with busy_line(servers, server_stub, clock, 5, "017") as line:
        server, callers, calls = line.server, line.callers, line.calls
        # Longest idle, one agent at a time: each of the first three took a different agent.
        assert sorted(c.talking_to or "" for c in callers[:3]) == sorted(AGENTS)
        fourth, fifth = callers[3], callers[4]
        await fourth.hears("You are number 1 in line")
        await fifth.hears("You are number 2 in line")
        assert fifth.heard_count("Press 1 to be called back") == 1

        # The fourth hangs up while waiting: missed, and the missed-call text.
        await fourth.actions.put(CallerHungUp)
        result = await asyncio.wait_for(calls[3], 10)
        assert result.ended_by == "caller-hangup"
        entry = await server.db.read(lambda conn: call_by_sid(conn, fourth.call_sid))
        assert entry is not None
        assert entry.outcome == "missed"
        await eventually(lambda: texts_to(server, fourth.number), what="the missed-call text")
        assert await texts_to(server, fourth.number) == [MISSED]

        # The fifth's place moves up at the next announcement.
        clock.advance(timedelta(seconds=30))
        await fifth.actions.put(None)  # the music ends: the queue asks the wait URL again
        await fifth.hears("You are number 1 in line")

        # The agent talking to the second caller frees up: the fifth is taken out of the
        # queue (Twilio's REST API redirects the call) and rings that agent, and only them.
        freed = callers[1].talking_to
        assert freed is not None
        callers[1].end_talk()
        await asyncio.wait_for(calls[1], 10)
        await asyncio.wait_for(fifth.talking.wait(), 15)
        assert fifth.talking_to == freed
        assert fifth.heard_count("Dequeued") == 1
        fifth.end_talk()
        result = await asyncio.wait_for(calls[4], 10)
        assert result.transcript[-2:] == ("Say: Thank you for calling.", "Hangup")
        entry = await server.db.read(lambda conn: call_by_sid(conn, fifth.call_sid))
        assert entry is not None
        assert (entry.outcome, entry.agent) == ("ended", freed)
        assert await texts_to(server, fifth.number) == []
        assert [r.sid for r in server_stub.redirects] == [fifth.call_sid]  # each caller once


async def test_a_caller_who_presses_1_in_the_queue_is_called_back_when_an_agent_frees_up(
    servers: ServerFactory, server_stub: TwilioApiStub, clock: MovableClock
) -> None:
    async with busy_line(servers, server_stub, clock, 4, "018") as line:
        server, callers, calls = line.server, line.callers, line.calls
        waiting = callers[3]
        await waiting.hears("You are number 1 in line")
        await waiting.actions.put("1")  # call me back, keeping my place
        await waiting.hears("We will call you back")
        await waiting.hears("Left the queue support")
        await asyncio.wait_for(calls[3], 10)
        entry = await server.db.read(lambda conn: call_by_sid(conn, waiting.call_sid))
        assert entry is not None
        assert entry.outcome == "callback"
        assert await texts_to(server, waiting.number) == []  # not "sorry we missed your call"

        # An agent frees up: the callback calls them first (Twilio's Calls API).
        freed = callers[0].talking_to
        assert freed is not None
        callers[0].end_talk()
        await asyncio.wait_for(calls[0], 10)
        clock.advance(timedelta(minutes=2, seconds=1))  # past any wait for a free agent
        await jobs_settled(server)  # the callback and any offer of the freed agent ran
        await eventually(lambda: server_stub.calls, what="the callback's call to the agent")
        assert [call.to for call in server_stub.calls] == [AGENTS[freed]]
        assert server_stub.redirects == []  # nobody else waits: no queued call was redirected
