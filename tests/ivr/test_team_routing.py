"""Calls reach a team's agents: ring strategies, presence following the agents' legs, the hold
queue with positions, a caller who hangs up in it, and queued callers connected first come,
first served, each once, when agents free up. Over the real voice webhooks (signed as Twilio
signs them), with a stub of Twilio's Calls API on a loopback port; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import select

from ivr.calllog import call_by_sid
from ivr.routes import HOLD_QUEUES
from ringflow.database import stored_time
from sms.db import messages
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MovableClock
from tests.conftest import (
    PUBLIC_URL,
    RunningServer,
    ServerFactory,
    eventually,
    jobs_settled,
    signed_post,
    workflow,
)
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from workflows.callbacks import list_callbacks
from workflows.jobs import jobs
from workflows.people.agents import AgentFields, Endpoint, find_agent, put_agent, set_status
from workflows.people.db import agents, queue_entries
from workflows.people.queue import OFFER_JOB
from workflows.people.routing import RingStrategy
from workflows.people.teams import TeamFields, put_team

LINE = "+12025550100"
SUPPORT = workflow(
    f"""
id: support-queue
trigger: {{event: call.incoming, to: "{LINE}"}}
start: connect
steps:
  connect:
    connect:
      team: support
      ring_timeout: 15
      max_rounds: 2
      queue: {{max_wait: 600, announce_every: 30}}
    on_answered: bye
    on_no_agents: voicemail
  voicemail: {{record: {{say: "Please leave a message.", max_seconds: 60}}, next: bye}}
  bye: {{hangup: "Thank you for calling."}}
"""
)
MISSED_TEXT = workflow(
    """
id: missed-text
trigger: {event: call.missed, once_per: 1s}
start: text
steps:
  text: {send_sms: "Sorry we missed your call."}
"""
)
AGENTS = {"alice": "+12025550181", "bob": "+12025550182", "carol": "+12025550183"}
_sids = itertools.count(1)


def sid(prefix: str = "CA") -> str:
    return f"{prefix}{next(_sids):032x}"


async def start(
    servers: ServerFactory,
    stub: TwilioApiStub,
    strategy: RingStrategy = "ring_all",
    clock: MovableClock | None = None,
) -> RunningServer:
    clock = clock or MovableClock()
    server = await servers.start(
        [SUPPORT, MISSED_TEXT],
        clock=clock,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=stub.base_url,
        admin_token=ADMIN_TOKEN,
    )
    now = clock()

    def people(conn: Any) -> None:
        for name, number in AGENTS.items():
            fields = AgentFields(endpoints=(Endpoint("phone", number),), status="available")
            put_agent(conn, name, fields, now)
        put_team(conn, "support", TeamFields(members=tuple(AGENTS), ring_strategy=strategy), now)

    await server.db.write(people)
    return server


def form(call: str, caller: str, **extra: str) -> dict[str, str]:
    return {
        "CallSid": call,
        "AccountSid": ACCOUNT_SID,
        "From": caller,
        "To": LINE,
        "CallStatus": "in-progress",
        **extra,
    }


def path_of(url: str) -> str:
    parts = urlsplit(url.replace("&amp;", "&"))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def dialled(twiml: str) -> list[str]:
    return re.findall(r"<Number[^>]*>([^<]+)</Number>", twiml)


def action_of(twiml: str, verb: str) -> str:
    found = re.search(rf'<{verb} action="([^"]+)"', twiml)
    assert found, twiml
    return path_of(found.group(1))


class Caller:
    """One caller of the line, driving the webhooks Twilio would send."""

    def __init__(self, server: RunningServer, number: str) -> None:
        self.server = server
        self.sid = sid()
        self.number = number
        self.twiml = ""

    async def call(self) -> str:
        reply = await signed_post(self.server, "/twilio/voice", form(self.sid, self.number))
        assert reply.status == 200, reply.text
        self.twiml = reply.text
        return reply.text

    async def post(self, path: str, **extra: str) -> str:
        reply = await signed_post(self.server, path, form(self.sid, self.number, **extra))
        assert reply.status == 200, reply.text
        self.twiml = reply.text
        return reply.text

    async def waiting(self) -> str:
        return await self.post("/twilio/voice/queue/wait")

    async def hang_up(self) -> None:
        reply = await signed_post(
            self.server,
            "/twilio/voice/status",
            form(self.sid, self.number, CallStatus="completed", CallDuration="40"),
        )
        assert reply.status == 204

    async def dial_ends(self, status: str, leg: str | None = None) -> str:
        extra = {"DialCallStatus": status, "DialCallDuration": "30"}
        if leg:
            extra["DialCallSid"] = leg
        return await self.post(action_of(self.twiml, "Dial"), **extra)


async def leg(server: RunningServer, agent: str, leg_sid: str, call: str, status: str) -> None:
    reply = await signed_post(
        server,
        f"/twilio/voice/agents/{agent}/status?team=support",
        {
            "CallSid": leg_sid,
            "ParentCallSid": call,
            "AccountSid": ACCOUNT_SID,
            "From": LINE,
            "To": AGENTS[agent],
            "CallStatus": status,
        },
    )
    assert reply.status == 204


async def answered_by(server: RunningServer, caller: Caller, agent: str) -> str:
    """``agent`` answers ``caller``'s ring; the agent's leg id."""
    leg_sid = sid()
    await leg(server, agent, leg_sid, caller.sid, "in-progress")
    return leg_sid


async def presence(server: RunningServer) -> dict[str, tuple[str, bool]]:
    rows = await server.db.read(
        lambda conn: conn.execute(select(agents.c.name, agents.c.status, agents.c.on_call)).all()
    )
    return {row.name: (row.status, row.on_call is not None) for row in rows}


async def texts_to(server: RunningServer, number: str) -> list[str]:
    query = select(messages.c.body).where(messages.c.to_number == number)
    return list(await server.db.read(lambda conn: conn.execute(query).scalars().all()))


# --- ring strategies ------------------------------------------------------------------------


async def test_ring_all_rings_every_free_agent_and_logs_who_answered(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    server = await start(servers, server_stub, "ring_all")
    caller = Caller(server, "+12025550101")
    twiml = await caller.call()

    assert dialled(twiml) == list(AGENTS.values())
    assert 'statusCallbackEvent="answered completed"' in twiml
    assert f"{PUBLIC_URL}/twilio/voice/agents/bob/status?team=support" in twiml
    bob_leg = await answered_by(server, caller, "bob")
    assert (await presence(server))["bob"] == ("available", True)  # busy: on a call

    # Someone else calls meanwhile: bob is on a call, so only alice and carol ring.
    other = Caller(server, "+12025550102")
    assert dialled(await other.call()) == [AGENTS["alice"], AGENTS["carol"]]

    bye = await caller.dial_ends("completed", leg=bob_leg)
    assert "Thank you for calling." in bye
    await leg(server, "bob", bob_leg, caller.sid, "completed")
    await caller.hang_up()
    assert (await presence(server))["bob"] == ("available", False)
    entry = await server.db.read(lambda conn: call_by_sid(conn, caller.sid))
    assert entry is not None
    assert (entry.outcome, entry.agent) == ("ended", "bob")


async def test_an_agent_whose_leg_never_said_it_ended_is_free_when_the_call_ends(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    server = await start(servers, server_stub, "ring_all")
    caller = Caller(server, "+12025550103")
    await caller.call()
    bob_leg = await answered_by(server, caller, "bob")
    await caller.dial_ends("completed", leg=bob_leg)
    assert (await presence(server))["bob"] == ("available", True)

    await caller.hang_up()  # bob's leg's own "completed" is lost (or still on its way)
    assert (await presence(server))["bob"] == ("available", False)
    other = Caller(server, "+12025550104")
    assert AGENTS["bob"] in dialled(await other.call())

    await leg(server, "bob", bob_leg, caller.sid, "completed")  # late: changes nothing
    assert (await presence(server))["bob"] == ("available", False)


async def test_the_agents_api_shows_who_is_on_a_call_and_in_wrap_up(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    clock = MovableClock()
    server = await start(servers, server_stub, "ring_all", clock)
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server, session)
        body = {"members": list(AGENTS), "ring_strategy": "ring_all", "wrap_up": 30}
        assert (await api.call("PUT", "/teams/support", json_body=body)).status == 200

        async def shown(name: str) -> tuple[str, bool, str | None]:
            agent = (await api.call("GET", f"/agents/{name}")).json
            return agent["status"], agent["on_call"], agent["wrap_up_until"]

        caller = Caller(server, "+12025550105")
        await caller.call()
        bob_leg = await answered_by(server, caller, "bob")
        assert await shown("bob") == ("available", True, None)
        assert await shown("alice") == ("available", False, None)

        await leg(server, "bob", bob_leg, caller.sid, "completed")
        status, on_call, until = await shown("bob")
        assert (status, on_call) == ("available", False)
        assert until is not None
        wrap_up_left = datetime.fromisoformat(until) - clock()  # the clock runs on
        assert timedelta(seconds=29) < wrap_up_left <= timedelta(seconds=30)
        listed = (await api.call("GET", "/agents")).json
        assert [(a["name"], a["on_call"], a["wrap_up_until"]) for a in listed] == [
            ("alice", False, None),
            ("bob", False, until),
            ("carol", False, None),
        ]

        clock.advance(timedelta(seconds=31))
        assert await shown("bob") == ("available", False, None)


async def test_round_robin_rings_one_agent_then_the_next_on_no_answer(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    server = await start(servers, server_stub, "round_robin")
    first = Caller(server, "+12025550101")
    assert dialled(await first.call()) == [AGENTS["alice"]]
    # alice does not answer: the next round rings the member rung longest ago.
    assert dialled(await first.dial_ends("no-answer")) == [AGENTS["bob"]]
    second = Caller(server, "+12025550102")
    assert dialled(await second.call()) == [AGENTS["carol"]]
    # Rounds used up, nobody answered: the caller waits in the queue.
    assert "<Enqueue" in await first.dial_ends("no-answer")


async def test_longest_idle_rings_the_agent_free_longest(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    clock = MovableClock()
    server = await start(servers, server_stub, "longest_idle", clock)
    for agent in ("carol", "alice"):  # carol's call ends first, then alice's
        caller = Caller(server, "+12025550109")
        await caller.call()
        leg_sid = await answered_by(server, caller, agent)
        clock.advance(timedelta(seconds=30))
        await leg(server, agent, leg_sid, caller.sid, "completed")
    # bob never had a call: he is idle longest, then carol, then alice.
    order = []
    for number in ("+12025550111", "+12025550112", "+12025550113"):
        caller = Caller(server, number)
        rung = dialled(await caller.call())
        order.append(rung)
        await answered_by(server, caller, next(a for a, n in AGENTS.items() if [n] == rung))
    assert order == [[AGENTS["bob"]], [AGENTS["carol"]], [AGENTS["alice"]]]


async def test_a_team_with_nobody_free_and_no_queue_takes_on_no_agents(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    flow = workflow(
        f"""
id: no-queue
trigger: {{event: call.incoming, to: "{LINE}"}}
start: connect
steps:
  connect: {{connect: support, on_no_agents: sorry}}
  sorry: {{hangup: "Nobody can take your call."}}
"""
    )
    clock = MovableClock()
    server = await servers.start([flow], clock=clock)
    await server.db.write(
        lambda conn: put_team(conn, "support", TeamFields(), clock())  # no members
    )
    caller = Caller(server, "+12025550101")
    twiml = await caller.call()
    assert "<Redirect" in twiml
    assert "/connect" in twiml
    redirect = path_of(re.findall(r"<Redirect[^>]*>([^<]+)</Redirect>", twiml)[0])
    assert "Nobody can take your call." in await caller.post(redirect)


# --- the hold queue -------------------------------------------------------------------------


async def test_a_team_of_three_and_five_callers(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    clock = MovableClock()
    server = await start(servers, server_stub, "longest_idle", clock)
    callers = [Caller(server, f"+1202555012{i}") for i in range(5)]
    legs: dict[str, str] = {}
    for caller, agent in zip(callers[:3], ("alice", "bob", "carol"), strict=True):
        assert dialled(await caller.call()) == [AGENTS[agent]]
        legs[agent] = await answered_by(server, caller, agent)
        clock.advance(timedelta(seconds=1))

    # Nobody is free: callers 4 and 5 wait, told their place and an estimate.
    for caller in callers[3:]:
        twiml = await caller.call()
        assert '<Enqueue action="' in twiml
        assert f'waitUrl="{PUBLIC_URL}/twilio/voice/queue/wait"' in twiml
        assert ">support</Enqueue>" in twiml
        clock.advance(timedelta(seconds=1))
    fourth, fifth = callers[3], callers[4]
    queues = server.app[HOLD_QUEUES]
    await eventually(lambda: queues.music is not None, what="the default hold music")
    heard = await fourth.waiting()
    assert "You are number 1 in line; about 3 minutes." in heard
    assert "Press 1 to be called back without losing your place, or 2 to leave a message." in heard
    assert "You are number 2 in line; about 3 minutes." in await fifth.waiting()
    assert f"{PUBLIC_URL}/twilio/voice/queue/music.wav" in fifth.twiml  # the default music
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.base_url + "/twilio/voice/queue/music.wav") as music,
    ):
        assert (music.status, music.content_type) == (200, "audio/wav")
        assert (await music.read())[:4] == b"RIFF"
    # Not yet time for the next announcement: music only.
    assert "You are number" not in await fifth.waiting()

    # The fourth caller hangs up in the queue: missed, with the missed-call text.
    await fourth.hang_up()
    entry = await server.db.read(lambda conn: call_by_sid(conn, fourth.sid))
    assert entry is not None
    assert entry.outcome == "missed"
    await eventually(
        lambda: texts_to(server, fourth.number), what="the missed-call text to be queued"
    )
    assert await texts_to(server, fourth.number) == ["Sorry we missed your call."]

    # Positions move up as callers leave.
    clock.advance(timedelta(seconds=30))
    assert "You are number 1 in line" in await fifth.waiting()

    # bob's call ends: the longest-waiting caller is offered to him, through the Calls API.
    await leg(server, "bob", legs["bob"], callers[1].sid, "completed")
    await eventually(lambda: server_stub.redirects, what="the queued call to be redirected")
    await jobs_settled(server)
    [redirect] = server_stub.redirects
    assert redirect.sid == fifth.sid
    assert redirect.url is not None
    assert redirect.url.endswith("/queue?agent=bob")
    # Twilio fetches the redirect URL: the caller rings bob, and only bob.
    assert dialled(await fifth.post(path_of(redirect.url))) == [AGENTS["bob"]]
    bob_again = await answered_by(server, fifth, "bob")
    assert "Thank you for calling." in await fifth.dial_ends("completed", leg=bob_again)
    await fifth.hang_up()
    entry = await server.db.read(lambda conn: call_by_sid(conn, fifth.sid))
    assert entry is not None
    assert (entry.outcome, entry.agent) == ("ended", "bob")
    assert await texts_to(server, fifth.number) == []


async def test_pressing_2_in_the_queue_leaves_a_voicemail_and_1_records_a_callback(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    server = await start(servers, server_stub)
    await server.db.write(
        lambda conn: conn.execute(agents.update().values(status="away"))  # nobody free
    )
    voicemail, callback = Caller(server, "+12025550131"), Caller(server, "+12025550132")
    for caller in (voicemail, callback):
        await caller.call()
        await caller.waiting()
    left = await voicemail.post("/twilio/voice/queue/key", Digits="2")
    assert "<Leave />" in left
    enqueue_action = action_of(voicemail_twiml := (await _first(server, voicemail)), "Enqueue")
    assert voicemail_twiml
    assert "Please leave a message." in await voicemail.post(enqueue_action, QueueResult="leave")

    said = await callback.post("/twilio/voice/queue/key", Digits="1")
    assert "We will call you back" in said
    assert "<Leave />" in said
    rows = await server.db.read(
        lambda conn: conn.execute(
            select(queue_entries.c.call, queue_entries.c.choice, queue_entries.c.status)
        ).all()
    )
    assert {(r.call, r.choice, r.status) for r in rows} == {
        (voicemail.sid, "voicemail", "left"),
        (callback.sid, "callback", "left"),
    }


async def test_pressing_1_queues_a_callback_in_the_callers_place_and_no_missed_text(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    clock = MovableClock()
    server = await start(servers, server_stub, clock=clock)
    await server.db.write(
        lambda conn: conn.execute(agents.update().values(status="away"))  # nobody free
    )
    caller = Caller(server, "+12025550133")
    await caller.call()
    joined = await server.db.read(
        lambda conn: conn.execute(
            select(queue_entries.c.enqueued_at).where(queue_entries.c.call == caller.sid)
        ).scalar_one()
    )
    await caller.waiting()
    clock.advance(timedelta(minutes=3))
    assert "We will call you back" in await caller.post("/twilio/voice/queue/key", Digits="1")
    await caller.post("/twilio/voice/queue/key", Digits="1")  # a repeat asks nothing more
    # Twilio then asks the <Enqueue action>: the step takes on_callback (here on_no_agents).
    enqueue_action = action_of(await _first(server, caller), "Enqueue")
    await caller.post(enqueue_action, QueueResult="leave")
    await caller.hang_up()

    [request] = await server.db.read(lambda conn: list_callbacks(conn))
    assert (request.team, request.customer, request.our_number) == ("support", caller.number, LINE)
    assert (request.status, request.call_sid) == ("pending", caller.sid)
    assert request.requested_at == stored_time(joined)  # the place in line, not the key press
    entry = await server.db.read(lambda conn: call_by_sid(conn, caller.sid))
    assert entry is not None
    assert entry.outcome == "callback"
    await jobs_settled(server, "call")
    assert await texts_to(server, caller.number) == []  # not "sorry we missed your call"

    # alice comes back: the callback rings her first.
    def back(conn: Any) -> None:
        alice = find_agent(conn, "alice")
        assert alice is not None
        set_status(conn, alice.id, "available", clock())

    await server.db.write(back)
    clock.advance(timedelta(minutes=2, seconds=1))  # past any wait for a free agent
    await jobs_settled(server, "callback:")
    await eventually(lambda: server_stub.calls, what="the callback's call to the agent")
    assert [call.to for call in server_stub.calls] == [AGENTS["alice"]]


async def _first(server: RunningServer, caller: Caller) -> str:
    """The answer stored for the caller's first turn (a repeated webhook gets it back)."""
    reply = await signed_post(server, "/twilio/voice", form(caller.sid, caller.number))
    return reply.text


async def test_two_agents_freeing_up_at_once_never_connect_a_caller_twice(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    clock = MovableClock()
    server = await start(servers, server_stub, "longest_idle", clock)
    first = [Caller(server, f"+1202555014{i}") for i in range(3)]
    legs = {}
    for caller, agent in zip(first, AGENTS, strict=True):
        await caller.call()
        legs[agent] = (caller, await answered_by(server, caller, agent))
    waiting = [Caller(server, f"+1202555015{i}") for i in range(2)]
    for caller in waiting:
        await caller.call()
        clock.advance(timedelta(seconds=1))

    # alice and carol hang up at the same moment (two webhooks at once).
    await asyncio.gather(
        *(leg(server, a, legs[a][1], legs[a][0].sid, "completed") for a in ("alice", "carol"))
    )
    await eventually(lambda: len(server_stub.redirects) >= 2, what="two redirects")
    await jobs_settled(server)
    redirected = sorted((r.sid, (r.url or "").rsplit("=", 1)[-1]) for r in server_stub.redirects)
    assert len(redirected) == 2
    assert {s for s, _ in redirected} == {c.sid for c in waiting}  # each caller once
    assert {a for _, a in redirected} == {"alice", "carol"}  # each agent once


async def test_the_api_sets_the_ring_strategy_and_an_agent_back_available_takes_the_queue(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    server = await start(servers, server_stub)
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server, session)
        body = {"members": list(AGENTS), "ring_strategy": "round_robin", "wrap_up": 15}
        answer = await api.call("PUT", "/teams/support", json_body=body)
        assert answer.status == 200
        assert (answer.json["ring_strategy"], answer.json["wrap_up"]) == ("round_robin", 15)
        refused = await api.call("PUT", "/teams/support", json_body={"ring_strategy": "loud"})
        assert refused.status == 422
        assert refused.json["errors"][0]["field"] == "body.ring_strategy"

        for name in AGENTS:
            fields = {"status": "away", "endpoints": [{"kind": "phone", "address": AGENTS[name]}]}
            assert (await api.call("PUT", f"/agents/{name}", json_body=fields)).status == 200
        caller = Caller(server, "+12025550161")
        assert "<Enqueue" in await caller.call()
        assert "You are number 1 in line" in await caller.waiting()

        # carol is back: the waiting caller is connected to her.
        back = {"status": "available", "endpoints": [{"kind": "phone", "address": AGENTS["carol"]}]}
        assert (await api.call("PUT", "/agents/carol", json_body=back)).status == 200
    await eventually(lambda: server_stub.redirects, what="the queued caller to be redirected")
    [redirect] = server_stub.redirects
    assert redirect.sid == caller.sid
    assert redirect.url is not None
    assert dialled(await caller.post(path_of(redirect.url))) == [AGENTS["carol"]]
    # carol does not answer: she is set away, and the caller keeps their place in line.
    assert "<Enqueue" in await caller.dial_ends("no-answer")
    assert (await presence(server))["carol"] == ("away", False)
    assert "You are number 1 in line" in await caller.waiting()

    # bob comes back and takes the call: the call log over the API names him.
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server, session)
        back = {"status": "available", "endpoints": [{"kind": "phone", "address": AGENTS["bob"]}]}
        assert (await api.call("PUT", "/agents/bob", json_body=back)).status == 200
        await eventually(lambda: len(server_stub.redirects) == 2, what="a second redirect")
        assert server_stub.redirects[1].url is not None
        assert server_stub.redirects[1].url.endswith("?agent=bob")
        assert dialled(await caller.post(path_of(server_stub.redirects[1].url))) == [AGENTS["bob"]]
        bob_leg = await answered_by(server, caller, "bob")
        await caller.dial_ends("completed", leg=bob_leg)
        await caller.hang_up()
        logged = (await api.call("GET", f"/calls/{caller.sid}")).json
        assert (logged["outcome"], logged["agent"]) == ("ended", "bob")


async def test_a_caller_gone_before_the_redirect_frees_the_agent_for_the_next(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    clock = MovableClock()
    server = await start(servers, server_stub, "longest_idle", clock)
    await server.db.write(
        lambda conn: conn.execute(
            agents.update().where(agents.c.name != "alice").values(status="away")
        )
    )
    first = Caller(server, "+12025550171")
    await first.call()
    leg_sid = await answered_by(server, first, "alice")
    gone, next_in_line = Caller(server, "+12025550172"), Caller(server, "+12025550173")
    for caller in (gone, next_in_line):
        assert "<Enqueue" in await caller.call()
        clock.advance(timedelta(seconds=1))
    server_stub.ended_calls.add(gone.sid)  # hung up; its status callback still on its way

    await leg(server, "alice", leg_sid, first.sid, "completed")
    await eventually(lambda: server_stub.redirects, what="a redirect")
    await jobs_settled(server)
    [redirect] = server_stub.redirects
    assert redirect.sid == next_in_line.sid  # the gone caller was skipped, alice kept
    assert redirect.url is not None
    # Twilio reports the queue's action as "redirected": that ends nothing.
    enqueued = await _first(server, next_in_line)
    assert "<Response />" in await next_in_line.post(
        action_of(enqueued, "Enqueue"), QueueResult="redirected"
    )
    assert dialled(await next_in_line.post(path_of(redirect.url))) == [AGENTS["alice"]]


async def test_agent_leg_callbacks_must_be_signed(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    server = await start(servers, server_stub)
    reply = await signed_post(
        server,
        "/twilio/voice/agents/alice/status",
        {"CallSid": sid(), "ParentCallSid": sid(), "CallStatus": "in-progress"},
        token="not-the-token",
    )
    assert reply.status == 403
    assert (await presence(server))["alice"] == ("available", False)


async def test_without_a_twilio_account_an_offer_puts_the_caller_back_and_frees_the_agent(
    servers: ServerFactory,
) -> None:
    clock = MovableClock()
    server = await servers.start([SUPPORT], clock=clock)  # no account: texts go to the outbox
    now = clock()

    def people(conn: Any) -> None:
        put_agent(conn, "alice", AgentFields(endpoints=(Endpoint("phone", AGENTS["alice"]),)), now)
        put_team(conn, "support", TeamFields(members=("alice",)), now)

    await server.db.write(people)
    caller = Caller(server, "+12025550181")
    assert "<Enqueue" in await caller.call()  # alice is offline
    await server.db.write(lambda conn: set_status(conn, agent_id(conn, "alice"), "available", now))
    await jobs_settled(server)

    async def back_in_line() -> bool:
        rows = await server.db.read(
            lambda conn: conn.execute(
                select(queue_entries.c.status, queue_entries.c.agent_id)
            ).all()
        )
        return [tuple(row) for row in rows] == [("waiting", None)]

    async def offered_once() -> bool:
        query = select(jobs.c.status).where(jobs.c.kind == OFFER_JOB)
        statuses = await server.db.read(lambda conn: conn.execute(query).scalars().all())
        return list(statuses) == ["done"]

    await eventually(offered_once, what="the offer to be made and dropped")
    await eventually(back_in_line, what="the caller back in line")
    assert (await presence(server))["alice"] == ("available", False)


def agent_id(conn: Any, name: str) -> int:
    found = conn.execute(select(agents.c.id).where(agents.c.name == name)).scalar_one()
    return int(found)
