"""Live chat across processes: two ``ringflow serve`` processes on one PostgreSQL (as behind a
load balancer). A visitor's socket is on B; an agent's reply written through A's admin API
reaches it live (PostgreSQL NOTIFY on ``ringflow_live``, received by B's one listening
connection); after B's listening connection is killed, B listens again (backoff) and the
widget still gets the reply written meanwhile, once. Typing crosses too: the visitor on B
typing shows in an inbox stream open on A, and an agent typing on A shows in the widget on B."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import Connection

import workflows.demo
from ringflow.admin.tokens import create_token
from ringflow.changes import APPLICATION_NAME, listen_dsn
from ringflow.database import database_url as driver_url
from ringflow.database import open_database
from tests.api_client import ADMIN_TOKEN
from tests.chat.test_typing import _typing
from tests.chat.widget_client import widget
from tests.conftest import eventually, reset_postgres
from tests.ringflow.inbox.conftest import sign_in_with
from tests.ringflow.inbox.test_live import _events
from tests.test_scale_out import Instance, free_port, read_log, start, stop
from workflows.people.agents import AgentFields, put_agent

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="separate processes share PostgreSQL only: set TEST_DATABASE_URL (CI does)",
)


@dataclass
class Pair:
    a: Instance
    b: Instance
    session: aiohttp.ClientSession

    async def reply(self, instance: Instance, conversation: int, body: str) -> None:
        async with self.session.post(
            f"{instance.base_url}/api/conversations/{conversation}/replies",
            json={"body": body},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as answer:
            assert answer.status == 201, await answer.text()

    async def conversation_of(self, instance: Instance, visitor: str) -> int:
        address = "chat:" + visitor.split(".")[0]
        async with self.session.get(
            f"{instance.base_url}/api/conversations",
            params={"limit": "200"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as answer:
            items = (await answer.json())["items"]
        return int(next(c["id"] for c in items if c["contact_number"] == address))

    def logs(self) -> str:
        return "\n".join(f"--- {i.name} ---\n{read_log(i.log)}" for i in (self.a, self.b))


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    url = os.environ["TEST_DATABASE_URL"]
    await reset_postgres(url)
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(Path(workflows.demo.__file__).parent / "demo-chat.yaml", flows)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RINGFLOW_", "TWILIO_"))}
    env.update(
        RINGFLOW_DATABASE_URL=url,
        RINGFLOW_FLOWS_DIR=str(flows),
        RINGFLOW_ADMIN_TOKEN=ADMIN_TOKEN,
        RINGFLOW_WORKER="false",
        RINGFLOW_LOG_LEVEL="INFO",
        RINGFLOW_DATA_DIR=str(tmp_path / "a"),
    )
    instances: list[Instance] = []
    try:
        port = free_port()
        instances.append(
            await start("A", ["serve", "--port", str(port)], env, tmp_path / "a.log", port)
        )
        port = free_port()
        b_env = env | {"RINGFLOW_DATA_DIR": str(tmp_path / "b"), "RINGFLOW_MIGRATE": "false"}
        instances.append(
            await start("B", ["serve", "--port", str(port)], b_env, tmp_path / "b.log", port)
        )
        async with aiohttp.ClientSession() as session:
            yield Pair(instances[0], instances[1], session)
    finally:
        for instance in instances:
            await stop(instance)


async def _kill_listeners() -> int:
    """Terminate every process's listening connection (as a network cut or a failover)."""
    dsn = listen_dsn(driver_url(os.environ["TEST_DATABASE_URL"]))
    assert dsn is not None
    connection = await asyncpg.connect(dsn)
    try:
        killed = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            APPLICATION_NAME,
        )
        return len(killed)
    finally:
        await connection.close()


async def test_a_reply_written_on_a_reaches_the_socket_on_b(pair: Pair) -> None:
    try:
        async with widget(pair.b) as chat:
            await chat.wait_for_text("What can we help you with?")
            await chat.say("Talk to a person", choice="3")
            await chat.wait_for_text("answer here shortly")
            conversation = await pair.conversation_of(pair.a, chat.visitor)
            await pair.reply(pair.a, conversation, "Written on A.")
            arrived = await chat.wait_for_text("Written on A.", within=3)
            assert arrived["from"] == "agent"

            # B's listening connection dies; it listens again, and re-reads what it missed.
            assert await _kill_listeners() >= 2
            await pair.reply(pair.a, conversation, "Written while B was not listening.")
            await chat.wait_for_text("Written while B was not listening.", within=15)
            await pair.reply(pair.a, conversation, "And after.")
            await chat.wait_for_text("And after.", within=5)
            agent = chat.texts("agent")
            assert agent == ["Written on A.", "Written while B was not listening.", "And after."]
        # The same visitor on A sees the whole conversation.
        async with widget(pair.a, visitor=chat.visitor) as on_a:
            await on_a.wait_for_text("And after.")
            assert len(on_a.messages) == len(chat.messages)
    except BaseException:
        print(pair.logs())
        raise

    async def b_listens_again() -> bool:
        return "listening for changes" in read_log(pair.b.log).split("lost the connection")[-1]

    await eventually(b_listens_again, what="B to listen again")


async def _agent_token(name: str, display_name: str) -> str:
    db = await open_database(os.environ["TEST_DATABASE_URL"])

    def make(conn: Connection) -> str:
        now = datetime.now(UTC)
        fields = AgentFields(status="available", display_name=display_name)
        agent, _new = put_agent(conn, name, fields, now)
        return create_token(conn, f"agent:{name}", now, agent_id=agent.id)

    try:
        token: str = await db.write(make)
        return token
    finally:
        await db.close()


async def test_typing_crosses_between_the_processes(pair: Pair) -> None:
    agent = await sign_in_with(pair.a.base_url, "alice", await _agent_token("alice", "Alice"))
    try:
        async with widget(pair.b) as chat:
            await chat.wait_for_text("What can we help you with?")
            conversation = await pair.conversation_of(pair.a, chat.visitor)
            events = _events(agent)
            try:
                assert await anext(events) == ("ready", {})
                await chat.typing()
                assert await asyncio.wait_for(_typing(events), 5) == {"ids": [conversation]}
            finally:
                await events.aclose()
            answer = await agent.api("POST", f"/conversations/{conversation}/typing")
            assert answer.status == 204
            await chat.wait(lambda w: bool(w.typing_frames()), "the agent typing", within=5)
            assert chat.typing_frames() == [{"type": "typing", "from": "agent", "name": "Alice"}]
    except BaseException:
        print(pair.logs())
        raise
    finally:
        await agent.http.close()
