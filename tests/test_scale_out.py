"""N identical processes on one PostgreSQL, tested as separate processes.

Two ``ringflow serve`` processes (A and B, ``RINGFLOW_WORKER=false``, each with its own data dir)
and one ``ringflow worker`` run as subprocesses on the test's PostgreSQL database; the Twilio
Messages API is :class:`TwilioApiStub` in this test's event loop, so every text that goes out is
counted where it arrives. Webhooks are signed with twilio's ``RequestValidator`` for the public
URL both instances are configured with, as behind a load balancer; :class:`RoundRobin` is that
load balancer, a small proxy sending each request to the next instance in turn.

What is checked: the turns of one call alternate between the instances; the same webhook
delivered to both at the same moment has one effect; a timer and the texts fire once; two
agents of a team freeing up at the same moment on A and on B connect each queued caller once,
each agent once (the worker process redirects them through Twilio's Calls API); a workflow
published through A answers the next call on B within a second (LISTEN/NOTIFY: polling would
take seconds); audio uploaded through A is served by B from the database; and SIGKILLing an
instance in the middle of a turn loses nothing: the webhook retried on the other instance
completes the turn and its text goes out once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from sqlalchemy import func, select, text
from twilio.request_validator import RequestValidator

from ivr.db import calls
from ivr.softphone import ScriptedCaller, Softphone
from ringflow.changes import listen_dsn
from ringflow.database import Database, open_database
from sms.db import messages
from tests.api_client import ADMIN_TOKEN
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, eventually, reset_postgres
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.ivr.test_voice_calls import action_path
from tests.prompts.media import tone
from tests.ringflow.admin.test_prompts import line_playing
from workflows.db import runs
from workflows.jobs import jobs
from workflows.people.queue import OFFER_JOB

RINGFLOW: Final = Path(sys.executable).parent / "ringflow"
LINE: Final = "+15005550003"
JINGLE_LINE: Final = "+15005550004"
"""Where ``tests.prompts.test_api.line_playing`` answers."""
TEXT_LINE: Final = "+15005550005"
NEW_LINE: Final = "+15005550007"
SUPPORT_LINE: Final = "+15005550008"
AGENTS: Final = {"alice": "+12025550181", "bob": "+12025550182", "carol": "+12025550183"}
CALLER: Final = "+12025550143"
TEXTER: Final = "+12025550199"
TIMER_SECONDS: Final = 2

VOICE_FLOW: Final = f"""\
id: scale-line
trigger: {{event: call.incoming, to: "{LINE}"}}
start: main
steps:
  main:
    menu:
      say: "Press 1 for a text, press 2 to hear this again."
      options: {{"1": text, "2": main}}
      save_as: choice
  text:
    send_sms: "You pressed {{{{vars.choice}}}} on {{{{call.to}}}}."
    next: more
  more:
    menu:
      say: "Press 3 to finish."
      options: {{"3": bye}}
  bye: {{hangup: "Goodbye."}}
"""
TEXT_FLOW: Final = f"""\
id: follow-up
trigger: {{event: sms.received, to: "{TEXT_LINE}"}}
start: later
steps:
  later: {{wait: {TIMER_SECONDS}s, next: reply}}
  reply: {{send_sms: "Thanks for your text, we will call you."}}
"""
NEW_FLOW: Final = f"""\
id: new-line
trigger: {{event: call.incoming, to: "{NEW_LINE}"}}
start: hello
steps:
  hello: {{hangup: "This is the new line."}}
"""

SUPPORT_FLOW: Final = f"""\
id: support-queue
trigger: {{event: call.incoming, to: "{SUPPORT_LINE}"}}
start: connect
steps:
  connect:
    connect:
      team: support
      ring_timeout: 15
      queue: {{max_wait: 600, announce_every: 30}}
    on_answered: bye
    on_no_agents: bye
  bye: {{hangup: "Thank you for calling."}}
"""

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="separate processes share PostgreSQL only: set TEST_DATABASE_URL (CI does)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Instance:
    """One ``ringflow`` process."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    base_url: str = ""

    @property
    def alive(self) -> bool:
        return self.process.returncode is None


@dataclass
class RoundRobin:
    """A load balancer: each request goes to the next instance; ``served`` says which."""

    instances: list[Instance]
    session: aiohttp.ClientSession
    served: list[str] = field(default_factory=list)
    _next: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = self.instances[self._next % len(self.instances)]
        self._next += 1
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in {"host", "content-length", "connection", "transfer-encoding"}
        }
        async with self.session.request(
            request.method,
            target.base_url + request.path_qs,
            data=await request.read(),
            headers=headers,
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            self.served.append(target.name)
            kept = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
            return web.Response(status=answer.status, body=body, headers=kept)


def sign(path: str, form: dict[str, str]) -> dict[str, str]:
    """The ``X-Twilio-Signature`` header Twilio sends for ``form`` posted to ``path``."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, form)
    return {"X-Twilio-Signature": signature}


async def post(
    session: aiohttp.ClientSession, instance: Instance, path: str, form: dict[str, str]
) -> tuple[int, str]:
    """A signed webhook to one instance: its status and body."""
    async with session.post(instance.base_url + path, data=form, headers=sign(path, form)) as got:
        return got.status, await got.text()


def call_form(call_sid: str, to: str = LINE, status: str = "ringing") -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "CallStatus": status,
        "Direction": "inbound",
        "From": CALLER,
        "To": to,
    }


@dataclass
class Cluster:
    """Two server instances and a worker on one PostgreSQL, and what they send."""

    a: Instance
    b: Instance
    worker: Instance
    db: Database
    stub: TwilioApiStub
    session: aiohttp.ClientSession

    async def count(self, table: object, *where: object) -> int:
        query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int(await self.db.read(lambda conn: conn.execute(query).scalar_one()))

    def texts_to(self, number: str) -> list[str]:
        return [message.body for message in self.stub.accepted if message.to == number]

    def logs(self) -> str:
        return "\n".join(
            f"--- {one.name} ---\n{read_log(one.log)}" for one in (self.a, self.b, self.worker)
        )


def read_log(log: Path) -> str:
    return log.read_text(errors="replace")


async def start(
    name: str, command: list[str], env: dict[str, str], log: Path, port: int | None
) -> Instance:
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            str(RINGFLOW),
            *command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    instance = Instance(name, process, log)
    if port is None:
        return instance
    instance.base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while True:
            if not instance.alive:
                raise AssertionError(f"{name} exited:\n{read_log(log)}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(instance.base_url + "/healthz") as answer:
                    if answer.status == 200:
                        return instance
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{read_log(log)}")
            await asyncio.sleep(0.1)


async def stop(instance: Instance) -> None:
    if instance.alive:
        instance.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(instance.process.wait(), 20)
        except TimeoutError:
            instance.process.kill()
            await instance.process.wait()


def environment(database_url: str, stub: TwilioApiStub, flows: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RINGFLOW_", "TWILIO_"))
    }
    env.update(
        RINGFLOW_DATABASE_URL=database_url,
        RINGFLOW_PUBLIC_URL=PUBLIC_URL,
        RINGFLOW_FLOWS_DIR=str(flows),
        RINGFLOW_ADMIN_TOKEN=ADMIN_TOKEN,
        RINGFLOW_TWILIO_API_URL=stub.base_url,
        RINGFLOW_JOB_LEASE_SECONDS="2",
        RINGFLOW_LOG_LEVEL="INFO",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
    )
    return env


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    url = os.environ["TEST_DATABASE_URL"]
    await reset_postgres(url)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "scale-line.yaml").write_text(VOICE_FLOW)
    (flows / "follow-up.yaml").write_text(TEXT_FLOW)
    (flows / "support-queue.yaml").write_text(SUPPORT_FLOW)
    async with TwilioApiStub(ACCOUNT_SID, AUTH_TOKEN) as stub:
        env = environment(url, stub, flows)
        instances: list[Instance] = []
        try:
            # A migrates the schema; the others start on it (migrations run once).
            port = free_port()
            serve = ["serve", "--port", str(port)]
            a_env = env | {"RINGFLOW_WORKER": "false", "RINGFLOW_DATA_DIR": str(tmp_path / "a")}
            instances.append(await start("A", serve, a_env, tmp_path / "a.log", port))
            port = free_port()
            serve = ["serve", "--port", str(port)]
            b_env = a_env | {"RINGFLOW_DATA_DIR": str(tmp_path / "b"), "RINGFLOW_MIGRATE": "false"}
            instances.append(await start("B", serve, b_env, tmp_path / "b.log", port))
            w_env = b_env | {"RINGFLOW_DATA_DIR": str(tmp_path / "w")}
            w_env.pop("RINGFLOW_WORKER")
            instances.append(await start("worker", ["worker"], w_env, tmp_path / "w.log", None))
            db = await open_database(url)
            try:
                async with aiohttp.ClientSession() as session:
                    a, b, worker = instances
                    yield Cluster(a, b, worker, db, stub, session)
            finally:
                await db.close()
        finally:
            for instance in instances:
                await stop(instance)


@contextlib.asynccontextmanager
async def balanced(cluster: Cluster) -> AsyncIterator[tuple[str, RoundRobin]]:
    """A round-robin load balancer in front of A and B: its URL and its record."""
    balancer = RoundRobin([cluster.a, cluster.b], cluster.session)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", balancer.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", balancer
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def shown_on_failure(cluster: Cluster) -> Iterator[None]:
    try:
        yield
    except BaseException:
        print(cluster.logs())
        raise


async def test_the_turns_of_one_call_alternate_between_instances(cluster: Cluster) -> None:
    with shown_on_failure(cluster):
        async with balanced(cluster) as (url, balancer):
            phone = Softphone(url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
            result = await phone.call(ScriptedCaller(["2", "1", "3"]), from_=CALLER, to=LINE)
        assert list(result.transcript)[-2:] == ["Say: Goodbye.", "Hangup"]
        assert result.transcript.count("Say: Press 1 for a text, press 2 to hear this again.") == 2
        assert [hook.status for hook in result.webhooks] == [200] * 4
        assert result.status_callback is not None
        assert result.status_callback.status == 204
        # start (A), "2" (B), "1" (A), "3" (B), the status callback (A)
        assert balancer.served == ["A", "B", "A", "B", "A"]
        assert await cluster.count(calls) == 1
        assert await cluster.count(runs) == 1

        await eventually(lambda: cluster.texts_to(CALLER), within=10, what="the text")
        await asyncio.sleep(1)  # time enough for a second copy, if there were one
        assert cluster.texts_to(CALLER) == [f"You pressed 1 on {LINE}."]


async def test_the_same_webhook_at_both_instances_at_once_has_one_effect(
    cluster: Cluster,
) -> None:
    with shown_on_failure(cluster):
        session = cluster.session
        menus: list[str] = []
        for number in range(5):
            form = call_form(f"CA{number:032x}")
            (status_a, twiml_a), (status_b, twiml_b) = await asyncio.gather(
                post(session, cluster.a, "/twilio/voice", form),
                post(session, cluster.b, "/twilio/voice", form),
            )
            assert (status_a, status_b) == (200, 200)
            assert action_path(twiml_a) == action_path(twiml_b), "one run, one next turn"
            menus.append(twiml_a)
        assert await cluster.count(calls) == 5
        assert await cluster.count(runs) == 5

        keypress = call_form(f"CA{0:032x}", status="in-progress") | {"Digits": "1"}
        (status_a, next_a), (status_b, next_b) = await asyncio.gather(
            post(session, cluster.a, action_path(menus[0]), keypress),
            post(session, cluster.b, action_path(menus[0]), keypress),
        )
        assert (status_a, status_b) == (200, 200)
        assert next_a == next_b
        assert "Press 3 to finish." in next_a

        text = {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": "SM" + "7" * 32,
            "From": TEXTER,
            "To": TEXT_LINE,
            "Body": "Can you call me back?",
        }
        answers = await asyncio.gather(
            post(session, cluster.a, "/twilio/sms", text),
            post(session, cluster.b, "/twilio/sms", text),
        )
        assert [status for status, _ in answers] == [200, 200]
        assert await cluster.count(messages, messages.c.direction == "inbound") == 1
        # The follow-up waits on a timer, fired by the worker process, once.
        assert cluster.texts_to(TEXTER) == []
        await eventually(
            lambda: cluster.texts_to(TEXTER), within=TIMER_SECONDS + 10, what="the follow-up"
        )
        await asyncio.sleep(1.5)
        assert cluster.texts_to(TEXTER) == ["Thanks for your text, we will call you."]
        assert cluster.texts_to(CALLER) == [f"You pressed 1 on {LINE}."]


async def test_a_workflow_published_through_a_answers_the_next_call_on_b(
    cluster: Cluster,
) -> None:
    with shown_on_failure(cluster):
        session = cluster.session
        status, before = await post(
            session, cluster.b, "/twilio/voice", call_form("CA" + "1" * 32, NEW_LINE)
        )
        assert status == 200
        assert "This is the new line." not in before
        async with session.post(
            cluster.a.base_url + "/api/workflows",
            data=NEW_FLOW,
            params={"publish": "true"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/yaml"},
        ) as published:
            assert published.status == 201, await published.text()
        published_at = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            form = call_form(f"CA{attempt:030x}22", NEW_LINE)
            status, twiml = await post(session, cluster.b, "/twilio/voice", form)
            assert status == 200
            if "This is the new line." in twiml:
                break
            assert time.monotonic() - published_at < 1.0, "B still answers with the old workflows"
            await asyncio.sleep(0.02)
        assert time.monotonic() - published_at < 1.0


async def test_killing_an_instance_mid_turn_loses_nothing(cluster: Cluster) -> None:
    with shown_on_failure(cluster):
        session = cluster.session
        call_sid = "CA" + "9" * 32
        status, menu = await post(session, cluster.a, "/twilio/voice", call_form(call_sid))
        assert status == 200
        keypress_path = action_path(menu)
        keypress = call_form(call_sid, status="in-progress") | {"Digits": "1"}

        # Hold the jobs table, so that A's turn (which queues the text) waits in the middle
        # of its transaction; then kill A there.
        dsn = listen_dsn(cluster.db.url)
        assert dsn is not None
        holder = await asyncpg.connect(dsn)
        try:
            holding = holder.transaction()
            await holding.start()
            await holder.execute("LOCK TABLE jobs IN EXCLUSIVE MODE")
            turn = asyncio.create_task(post(session, cluster.a, keypress_path, keypress))

            async def a_waits_for_the_lock() -> bool:
                # Asked on another connection: within a transaction pg_stat_activity is a
                # snapshot taken at its first read.
                waiting = await cluster.db.read(
                    lambda conn: conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                            "AND query ILIKE 'INSERT INTO jobs%'"
                        )
                    ).scalar_one()
                )
                return bool(waiting)

            await eventually(a_waits_for_the_lock, within=10, what="A's turn to wait")
            cluster.a.process.send_signal(signal.SIGKILL)
            assert await cluster.a.process.wait() == -signal.SIGKILL
            with pytest.raises(aiohttp.ClientError):
                await turn
            await holding.rollback()
        finally:
            await holder.close()

        # Twilio got no answer: it retries the webhook, and the balancer sends it to B.
        status, rest = await post(session, cluster.b, keypress_path, keypress)
        assert status == 200
        assert "Press 3 to finish." in rest
        await eventually(lambda: cluster.texts_to(CALLER), within=10, what="the text")
        await asyncio.sleep(1.5)
        assert cluster.texts_to(CALLER) == [f"You pressed 1 on {LINE}."]
        again = await post(session, cluster.b, keypress_path, keypress)
        assert again == (200, rest), "a second retry is answered the same and queues nothing"
        await asyncio.sleep(1.0)
        assert len(cluster.texts_to(CALLER)) == 1


async def test_audio_uploaded_through_a_is_played_from_b(cluster: Cluster, tmp_path: Path) -> None:
    with shown_on_failure(cluster):
        session = cluster.session
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        form = aiohttp.FormData()
        form.add_field("file", tone(tmp_path, "jingle.mp3", 1.5).read_bytes(), filename="j.mp3")
        async with session.post(
            cluster.a.base_url + "/api/prompts", data=form, headers=admin
        ) as uploaded:
            assert uploaded.status == 201, await uploaded.text()
            prompt = await uploaded.json()
        async with session.post(
            cluster.a.base_url + "/api/workflows",
            data=line_playing(prompt["id"]),
            params={"publish": "true"},
            headers=admin | {"Content-Type": "application/yaml"},
        ) as published:
            assert published.status == 201, await published.text()
        async with session.get(cluster.a.base_url + prompt["media"]["wav"]) as from_a:
            original = await from_a.read()

        play = f"<Play>{PUBLIC_URL}{prompt['media']['wav']}</Play>"
        calls_made = 0

        async def b_plays_it() -> bool:  # B hears of the workflow within a second (NOTIFY)
            nonlocal calls_made
            calls_made += 1
            form = call_form(f"CA{calls_made:030x}55", JINGLE_LINE)
            status, twiml = await post(session, cluster.b, "/twilio/voice", form)
            assert status == 200
            return play in twiml

        await eventually(b_plays_it, within=1.0, what="B to play the prompt")
        assert not list((tmp_path / "b" / "prompts").glob("*.wav")), "B has no copy yet"
        async with session.get(cluster.b.base_url + prompt["media"]["wav"]) as from_b:
            assert from_b.status == 200
            assert from_b.headers["ETag"] == f'"{prompt["digest"]}"'
            assert await from_b.read() == original


async def test_two_agents_freeing_up_on_two_instances_connect_each_queued_caller_once(
    cluster: Cluster,
) -> None:
    """A team of three and five callers: three talk to an agent, two wait in the queue; two
    agents' calls end at the same moment, one status callback at A, the other at B. Each
    waiting caller is redirected once, to a different agent (issue 11's acceptance)."""
    with shown_on_failure(cluster):
        session = cluster.session
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for name, phone in AGENTS.items():
            body = {"endpoints": [{"kind": "phone", "address": phone}], "status": "available"}
            async with session.put(
                f"{cluster.a.base_url}/api/agents/{name}", json=body, headers=admin
            ) as put:
                assert put.status in (200, 201), await put.text()
        team = {"members": list(AGENTS), "ring_strategy": "longest_idle"}
        async with session.put(
            f"{cluster.b.base_url}/api/teams/support", json=team, headers=admin
        ) as put:
            assert put.status in (200, 201), await put.text()

        def caller(number: int) -> dict[str, str]:
            form = call_form(f"CA{number:030x}99", SUPPORT_LINE, "in-progress")
            return form | {"From": f"+1202555016{number}"}

        async def leg(instance: Instance, agent: str, number: int, status: str) -> None:
            form = {
                "AccountSid": ACCOUNT_SID,
                "CallSid": f"CA{number:030x}77",
                "ParentCallSid": caller(number)["CallSid"],
                "From": SUPPORT_LINE,
                "To": AGENTS[agent],
                "CallStatus": status,
            }
            path = f"/twilio/voice/agents/{agent}/status?team=support"
            assert await post(session, instance, path, form) == (204, "")

        instances = (cluster.a, cluster.b)
        talking: dict[str, int] = {}
        for number in range(3):
            status, twiml = await post(
                session, instances[number % 2], "/twilio/voice", caller(number)
            )
            assert status == 200
            rung = re.findall(r"<Number[^>]*>([^<]+)</Number>", twiml)
            [agent] = [name for name, agent_phone in AGENTS.items() if [agent_phone] == rung]
            await leg(instances[number % 2], agent, number, "in-progress")
            talking[agent] = number
        assert sorted(talking) == sorted(AGENTS), "longest idle: each agent took one caller"
        waiting = [caller(number)["CallSid"] for number in (3, 4)]
        for number in (3, 4):
            status, twiml = await post(
                session, instances[number % 2], "/twilio/voice", caller(number)
            )
            assert status == 200
            assert ">support</Enqueue>" in twiml

        await asyncio.gather(
            leg(cluster.a, "alice", talking["alice"], "completed"),
            leg(cluster.b, "carol", talking["carol"], "completed"),
        )
        await eventually(
            lambda: len(cluster.stub.redirects) >= 2, within=15, what="two queued callers offered"
        )
        # Every offer the worker process took is over (none running, none due): a third
        # redirect, if there were one, would have been made by now.
        pending = (jobs.c.kind == OFFER_JOB) & (
            (jobs.c.status == "running")
            | ((jobs.c.status == "queued") & (jobs.c.due_at <= func.now()))
        )

        async def offers_settled() -> bool:
            return await cluster.count(jobs, pending) == 0

        await eventually(offers_settled, within=15, what="the offers to settle")
        redirected = sorted(
            (r.sid, (r.url or "").rsplit("agent=", 1)[-1]) for r in cluster.stub.redirects
        )
        assert len(redirected) == 2, redirected
        assert sorted(sid for sid, _ in redirected) == sorted(waiting)  # each caller once
        assert sorted(agent for _, agent in redirected) == ["alice", "carol"]  # each agent once
