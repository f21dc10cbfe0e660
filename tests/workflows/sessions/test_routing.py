"""Routing a call to a team when several calls reach it at the same moment, on several server
instances: each decision is made after the one before it (real concurrent transactions on
PostgreSQL; SQLite's single writer serialises them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import Connection, text

from ringflow.database import Database, open_database
from workflows.instructions import ConnectTeam, Dial, HoldQueue
from workflows.people.agents import AgentFields, Endpoint, put_agent
from workflows.people.teams import TeamFields, put_team
from workflows.sessions.routing import resolve_connect

NOW = datetime.now(UTC).replace(microsecond=0)
HOLD = HoldQueue(max_wait=600, announce_every=30, hold_music=None, fallback="voicemail")


@pytest.fixture
async def second_db(database_url: str, migrated_db: Database) -> AsyncIterator[Database]:
    """Another server instance's connection pool on the same database."""
    other = await open_database(database_url)
    try:
        yield other
    finally:
        await other.close()


async def round_robin_team(db: Database, agents: int) -> None:
    def work(conn: Connection) -> None:
        names = []
        for i in range(agents):
            endpoints = (Endpoint("phone", f"+1202555{i:04}"),)
            fields = AgentFields(endpoints=endpoints, status="available")
            put_agent(conn, f"agent{i}", fields, NOW)
            names.append(f"agent{i}")
        put_team(
            conn, "support", TeamFields(members=tuple(names), ring_strategy="round_robin"), NOW
        )

    await db.write(work)


async def route_at_once(dbs: list[Database], calls: int) -> list[object]:
    connect = ConnectTeam(team="support", ring_timeout=20, queue=HOLD)

    def route(conn: Connection, call: str) -> object:
        decided = resolve_connect(conn, connect, call, f"{call:0>32}", 1, NOW)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_sleep(0.05)"))  # every transaction open at once
        return decided

    return await asyncio.gather(
        *(dbs[i % len(dbs)].write(partial(route, call=f"CA{i}")) for i in range(calls))
    )


async def test_calls_reaching_a_round_robin_team_at_once_ring_different_agents(
    migrated_db: Database, second_db: Database
) -> None:
    await round_robin_team(migrated_db, agents=4)
    decisions = await route_at_once([migrated_db, second_db], calls=4)
    rung = [str(d.targets[0].agent) for d in decisions if isinstance(d, Dial)]
    assert sorted(rung) == ["agent0", "agent1", "agent2", "agent3"]
