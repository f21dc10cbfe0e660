"""The PBX adapter end to end: a real Ringflow server follows a local AMI server over TCP;
calls recorded on an Asterisk PBX (the fixtures) become calls in the call log with one
outcome each, their post-call texts go through the server's job worker and Twilio provider
to the Messages API stub; queue membership and agent status mirror each other; a dropped
connection is dialled again and caught up without duplicates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from pbx.errors import OriginateUnclear
from pbx.service import PbxAdapter
from ringflow.resources.pbx import PBX
from tests.conftest import RunningServer, ServerFactory, eventually, jobs_settled, workflow
from tests.fakes.ami_server import FakeAsterisk, read_events
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from workflows.call_log import calls
from workflows.jobs import jobs
from workflows.people.agents import AgentFields, Endpoint, find_agent, put_agent, set_status

LINE = "+15005550001"
MISSED_TEXT = "Sorry we missed your call. We will call you back."
THANKS_TEXT = "Thanks for calling, {{call.agent}} was glad to help."
FLOWS = [
    workflow(
        f"""
id: pbx-missed
name: Missed on the PBX
trigger: {{event: call.missed, to: ["{LINE}"]}}
start: text
steps:
  text:
    send_sms: "{MISSED_TEXT}"
"""
    ),
    workflow(
        f"""
id: pbx-thanks
name: Thanks after a PBX call
trigger: {{event: call.ended, to: ["{LINE}"]}}
start: text
steps:
  text:
    send_sms: "{THANKS_TEXT}"
"""
    ),
]


@dataclass
class Pbx:
    """A server following the fake PBX, and the Twilio stub it texts through."""

    server: RunningServer
    ami: FakeAsterisk
    stub: TwilioApiStub

    @property
    def adapter(self) -> PbxAdapter:
        return self.server.app[PBX]

    async def play(self, name: str) -> None:
        await self.ami.play(read_events(name))

    async def call_log(self) -> dict[str, Mapping[str, Any]]:
        query = select(calls).where(calls.c.sid.startswith("ami-"))
        rows = await self.server.db.read(lambda conn: conn.execute(query).all())
        return {row.sid: dict(row._mapping) for row in rows}

    async def ended(self, sid: str) -> Mapping[str, Any]:
        async def done() -> bool:
            row = (await self.call_log()).get(sid)
            return row is not None and row["outcome"] is not None

        await eventually(done, what=f"call {sid} to end")
        await jobs_settled(self.server)
        return (await self.call_log())[sid]

    def texts(self) -> list[tuple[str, str]]:
        return [(message.to, message.body) for message in self.stub.accepted]


async def start_pbx(
    servers: ServerFactory,
    ami: FakeAsterisk,
    stub: TwilioApiStub,
    flows: list[Any] | None = None,
    **settings: Any,
) -> Pbx:
    server = await servers.start(
        FLOWS if flows is None else flows,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=stub.base_url,
        ami_host="127.0.0.1",
        ami_port=ami.port,
        ami_username=ami.username,
        ami_secret=ami.secret,
        ami_ping_seconds=settings.pop("ami_ping_seconds", 0.5),
        **settings,
    )
    pbx = Pbx(server, ami, stub)
    await asyncio.wait_for(pbx.adapter.connected.wait(), 10)
    return pbx


@pytest.fixture
async def ami() -> AsyncIterator[FakeAsterisk]:
    async with FakeAsterisk() as running:
        running.add_member("support", "PJSIP/1001", "Alice")
        running.add_member("support", "PJSIP/1002", "Bob", paused=True)
        yield running


@pytest.fixture
async def pbx(servers: ServerFactory, ami: FakeAsterisk, server_stub: TwilioApiStub) -> Pbx:
    return await start_pbx(servers, ami, server_stub)


async def test_an_answered_call_ends_as_ended_and_thanks_the_caller(pbx: Pbx) -> None:
    await pbx.play("answered")
    call = await pbx.ended("ami-1764730101.36")
    assert (call["caller"], call["called"], call["status"]) == ("+14155550123", LINE, "completed")
    assert call["outcome"] == "ended"
    await eventually(lambda: len(pbx.stub.accepted) == 1, what="the thank-you text")
    assert pbx.texts() == [("+14155550123", "Thanks for calling, 1001 was glad to help.")]


async def test_a_missed_call_texts_the_caller_through_the_sms_job(pbx: Pbx) -> None:
    await pbx.play("missed")
    call = await pbx.ended("ami-1764730201.40")
    assert (call["outcome"], call["status"]) == ("missed", "no-answer")
    await eventually(lambda: len(pbx.stub.accepted) == 1, what="the missed-call text")
    assert pbx.texts() == [("+14155550177", MISSED_TEXT)]
    (accepted,) = pbx.stub.accepted
    assert accepted.from_ == LINE
    await jobs_settled(pbx.server)
    kinds = await pbx.server.db.read(
        lambda conn: sorted(conn.execute(select(jobs.c.kind, jobs.c.status)).all())
    )
    assert kinds == [("call.event", "done"), ("sms.send", "done")]


async def test_a_caller_who_gives_up_in_the_queue_is_missed(pbx: Pbx) -> None:
    await pbx.play("queue-abandoned")
    call = await pbx.ended("ami-1764730301.50")
    assert call["outcome"] == "missed"
    await eventually(lambda: len(pbx.stub.accepted) == 1, what="the missed-call text")
    assert pbx.texts() == [("+14155550188", MISSED_TEXT)]


async def test_a_transferred_call_is_one_call_that_ended(pbx: Pbx) -> None:
    await pbx.play("transferred")
    call = await pbx.ended("ami-1764730401.60")
    assert call["outcome"] == "ended"
    assert len(await pbx.call_log()) == 1  # Bob's leg and Alice's are legs of that call
    await eventually(lambda: len(pbx.stub.accepted) == 1, what="the thank-you text")
    # Whoever answered first is the call's agent (the queue's member name).
    assert pbx.texts() == [("+14155550199", "Thanks for calling, Alice was glad to help.")]
    payload = await pbx.server.db.read(
        lambda conn: conn.execute(
            select(jobs.c.payload).where(jobs.c.kind == "call.event")
        ).scalar_one()
    )
    facts = payload["facts"]
    assert (facts["channel"], facts["queue"], facts["transfers"]) == ("pbx", "support", 1)
    assert facts["transferred_to"] == "1002"


async def test_a_dropped_connection_reconnects_and_catches_up_without_duplicates(
    pbx: Pbx,
) -> None:
    answered, missed = read_events("answered"), read_events("missed")
    queued = read_events("queue-abandoned")
    await pbx.ami.play(answered)  # a whole call before the drop
    await pbx.ended("ami-1764730101.36")
    await pbx.ami.play(missed[:6])  # a call ringing Alice when the link drops
    await eventually(lambda: "1764730201.40" in pbx.adapter.tracker.calls, what="the ringing call")
    logins = pbx.ami.logins
    await pbx.ami.drop()
    # While nobody listens: the ringing call ends, another starts and waits in the queue.
    await pbx.ami.play(missed[6:])
    await pbx.ami.play(queued[:5])
    await eventually(lambda: pbx.ami.logins > logins, within=10, what="a new login")
    await asyncio.wait_for(pbx.adapter.connected.wait(), 10)
    assert pbx.ami.received("CoreShowChannels")
    assert len(pbx.ami.received("QueueStatus")) >= 2

    assert (await pbx.ended("ami-1764730201.40"))["outcome"] == "missed"
    assert (await pbx.call_log())["ami-1764730301.50"]["outcome"] is None  # still waiting
    await pbx.ami.play(queued[5:])
    assert (await pbx.ended("ami-1764730301.50"))["outcome"] == "missed"

    # Catching up again (another drop) changes nothing.
    await pbx.ami.drop()
    await eventually(lambda: pbx.ami.logins > logins + 1, within=10, what="another login")
    await asyncio.wait_for(pbx.adapter.connected.wait(), 10)
    await jobs_settled(pbx.server)
    log = await pbx.call_log()
    assert sorted((sid, row["outcome"]) for sid, row in log.items()) == [
        ("ami-1764730101.36", "ended"),
        ("ami-1764730201.40", "missed"),
        ("ami-1764730301.50", "missed"),
    ]
    assert sorted(pbx.texts()) == [
        ("+14155550123", "Thanks for calling, 1001 was glad to help."),
        ("+14155550177", MISSED_TEXT),
        ("+14155550188", MISSED_TEXT),
    ]
    assert await pbx.server.count("jobs") == 6  # one event and one text per call


async def test_a_listener_that_raises_does_not_stop_the_adapter(
    pbx: Pbx, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def broken(event: dict[str, str]) -> None:
        raise ValueError(f"cannot handle {event['Event']}")

    pbx.adapter.add_thread_listener(broken)
    await pbx.ami.drop()  # the listener is on the next connection's reader
    await eventually(lambda: pbx.ami.logins >= 2, within=10, what="a new login")
    await asyncio.wait_for(pbx.adapter.connected.wait(), 10)
    await pbx.play("missed")
    assert (await pbx.ended("ami-1764730201.40"))["outcome"] == "missed"
    assert "cannot handle Hangup" in caplog.text  # logged, and the reader went on
    assert pbx.ami.secret not in caplog.text


async def test_agent_presence_mirrors_queue_membership_both_ways(
    servers: ServerFactory, ami: FakeAsterisk, server_stub: TwilioApiStub
) -> None:
    pbx = await start_pbx(servers, ami, server_stub, flows=[])
    now = pbx.server.clock()

    def agents(conn: Any) -> None:
        for name, user in (("alice", "1001"), ("bob", "1002")):
            fields = AgentFields(
                endpoints=(Endpoint("sip", f"sip:{user}@pbx.example.com"),), status="offline"
            )
            put_agent(conn, name, fields, now)

    await pbx.server.db.write(agents)
    # Asterisk's membership comes in with the next catch-up (here: a reconnect).
    await ami.drop()
    await eventually(lambda: ami.logins >= 2, within=10, what="a new login")

    async def status(name: str) -> str:
        agent = await pbx.server.db.read(lambda conn: find_agent(conn, name))
        assert agent is not None
        return agent.fields.status

    await eventually(
        lambda: _both(status, {"alice": "available", "bob": "offline"}), what="statuses in"
    )  # a paused member is not available; an offline agent stays offline

    # Out: Alice goes away in Ringflow -> QueuePause Paused=true for PJSIP/1001.
    alice = await pbx.server.db.read(lambda conn: find_agent(conn, "alice"))
    assert alice is not None
    await pbx.server.db.write(lambda conn: set_status(conn, alice.id, "away", now))
    await eventually(lambda: ami.received("QueuePause"), what="a QueuePause")
    (pause,) = ami.received("QueuePause")
    assert (pause["Interface"], pause["Paused"]) == ("PJSIP/1001", "true")
    assert ami.members["PJSIP/1001"]["Paused"] == "1"

    # In: Bob is unpaused on the phone -> available, and nothing bounces back out.
    member = {**ami.members["PJSIP/1002"], "Paused": "0"}
    await ami.emit({"Event": "QueueMemberPause", "Privilege": "agent,all", **member})
    await eventually(
        lambda: _both(status, {"alice": "away", "bob": "available"}), what="Bob available"
    )
    await asyncio.sleep(1.5)  # a presence round or more
    assert len(ami.received("QueuePause")) == 1


async def _both(status: Any, wanted: dict[str, str]) -> bool:
    return all([await status(name) == value for name, value in wanted.items()])


async def test_originate_is_not_sent_again_blindly_after_a_drop(pbx: Pbx) -> None:
    result = await pbx.adapter.originate(
        "callback-1", "PJSIP/1001", context="callbacks", exten="+14155550123"
    )
    assert result.state == "answered"
    (sent,) = pbx.ami.received("Originate")
    assert sent["Variable"] == "RINGFLOW_ORIGINATE=callback-1"

    pbx.ami.answer_originates = False  # the next one's answer is lost with the link
    pending = asyncio.create_task(
        pbx.adapter.originate("callback-2", "PJSIP/1001", context="callbacks", exten="+1415")
    )
    await eventually(lambda: len(pbx.ami.received("Originate")) == 2, what="the Originate")
    await pbx.ami.drop()
    with pytest.raises(OriginateUnclear):
        await pending
    await asyncio.wait_for(pbx.adapter.connected.wait(), 10)
    # Its channel is still up on the PBX: found by its key, not sent again.
    again = await pbx.adapter.originate(
        "callback-2", "PJSIP/1001", context="callbacks", exten="+1415"
    )
    assert again.state == "in_progress"
    assert len(pbx.ami.received("Originate")) == 2


async def test_one_of_two_instances_follows_the_pbx_and_the_other_takes_over(
    servers: ServerFactory, ami: FakeAsterisk, server_stub: TwilioApiStub, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("instances share a PBX through PostgreSQL (SQLite is one node)")
    first = await start_pbx(servers, ami, server_stub, data_dir=servers.tmp_path / "a")
    second = await servers.start(
        FLOWS,
        data_dir=servers.tmp_path / "b",
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
        ami_host="127.0.0.1",
        ami_port=ami.port,
        ami_username=ami.username,
        ami_secret=ami.secret,
        ami_ping_seconds=0.5,
    )
    await asyncio.sleep(1.5)  # three of the standby's tries
    assert ami.logins == 1
    assert not second.app[PBX].connected.is_set()

    # The owner stops: the other instance takes the PBX over and catches up.
    await ami.play(read_events("missed")[:6])
    await eventually(lambda: "1764730201.40" in first.adapter.tracker.calls, what="the call")
    runner = servers.runners.pop(0)
    await runner.cleanup()
    await asyncio.wait_for(second.app[PBX].connected.wait(), 10)
    assert ami.logins == 2
    await ami.play(read_events("missed")[6:])
    taken_over = Pbx(second, ami, server_stub)
    assert (await taken_over.ended("ami-1764730201.40"))["outcome"] == "missed"
    await eventually(lambda: len(server_stub.accepted) == 1, what="the missed-call text")


async def test_a_pbx_that_stops_answering_is_dialled_again(pbx: Pbx) -> None:
    # On PostgreSQL this also ends the owner-lock check in flight when the connection closes:
    # a cancellation swallowed there (asyncio.wait_for on 3.11) once left it never dialling.
    pbx.ami.mute = True  # the TCP connection stays up; pings go unanswered
    # Pings every 0.5 s: closed after about a second. If the adapter dials again while the
    # PBX is still mute, that login goes unanswered until its action timeout (10 s) before
    # the next try: the margins allow for that, and for a busy machine.
    await eventually(lambda: pbx.ami.connections == 0, within=30, what="the hung connection closed")
    pbx.ami.mute = False
    await eventually(lambda: pbx.ami.logins == 2, within=40, what="a new login")
    await asyncio.wait_for(pbx.adapter.connected.wait(), 20)
    await pbx.play("missed")
    assert (await pbx.ended("ami-1764730201.40"))["outcome"] == "missed"
