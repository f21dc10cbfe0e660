"""The hold queue's claim: first come, first served, no caller connected twice and no agent
given two callers, when agents free up at once on several server instances (real concurrent
transactions on PostgreSQL; SQLite's single writer serialises them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Connection, select, text

from ringflow.database import Database, open_database
from workflows.instructions import HoldQueue
from workflows.jobs import jobs
from workflows.people.agents import AgentFields, Endpoint, put_agent
from workflows.people.db import agents, queue_entries
from workflows.people.queue import OFFER_JOB, dispatch, estimate_minutes, join_queue, wait_turn
from workflows.people.teams import TeamFields, put_team

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


async def setup(db: Database, free: int, waiting: int, busy: int = 0) -> int:
    def work(conn: Connection) -> int:
        names = []
        for i in range(free + busy):
            endpoints = (Endpoint("phone", f"+1202555{i:04}"),)
            fields = AgentFields(endpoints=endpoints, status="available")
            put_agent(conn, f"agent{i}", fields, NOW)
            names.append(f"agent{i}")
        team, _ = put_team(conn, "support", TeamFields(members=tuple(names)), NOW)
        for i in range(busy):
            conn.execute(
                agents.update().where(agents.c.name == f"agent{free + i}").values(on_call="CAx")
            )
        return team.id

    team_id = await db.write(work)
    await enqueue_callers(db, team_id, "CA", waiting)
    return team_id


async def enqueue_callers(db: Database, team_id: int, prefix: str, count: int) -> None:
    """``count`` callers join the queue a second apart: ``{prefix}0`` first."""

    def join(conn: Connection, i: int) -> None:
        moment = NOW + timedelta(seconds=i)
        join_queue(conn, team_id, f"{prefix}{i}", f"{i:032x}", 1, HOLD, moment)

    for i in range(count):
        await db.write(partial(join, i=i))


async def race(dbs: list[Database], team_id: int, dispatchers: int) -> None:
    def work(conn: Connection) -> object:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_sleep(0.05)"))  # hold every transaction open at once
        return dispatch(conn, team_id, NOW + timedelta(minutes=1))

    await asyncio.gather(*(dbs[i % len(dbs)].write(work) for i in range(dispatchers)))


async def offered(db: Database) -> list[tuple[str, int | None]]:
    query = (
        select(queue_entries.c.call, queue_entries.c.agent_id)
        .where(queue_entries.c.status == "offered")
        .order_by(queue_entries.c.call)
    )
    rows = await db.read(lambda conn: conn.execute(query).all())
    return [(row.call, row.agent_id) for row in rows]


async def offer_jobs(db: Database) -> int:
    query = select(jobs.c.id).where(jobs.c.kind == OFFER_JOB)
    return len(await db.read(lambda conn: conn.execute(query).all()))


async def test_two_agents_free_three_callers_waiting_many_dispatchers(
    migrated_db: Database, second_db: Database
) -> None:
    team_id = await setup(migrated_db, free=2, waiting=3)
    await race([migrated_db, second_db], team_id, dispatchers=6)

    claims = await offered(migrated_db)
    assert [call for call, _ in claims] == ["CA0", "CA1"]  # the two longest waiting
    assert len({agent for _, agent in claims}) == 2  # one caller per agent
    assert await offer_jobs(migrated_db) == 2  # each connected once
    on_call = await migrated_db.read(
        lambda conn: sorted(conn.execute(select(agents.c.on_call)).scalars())
    )
    assert on_call == ["CA0", "CA1"]


async def test_two_agents_freeing_up_at_once_for_one_caller(
    migrated_db: Database, second_db: Database
) -> None:
    team_id = await setup(migrated_db, free=2, waiting=1)
    await race([migrated_db, second_db], team_id, dispatchers=4)
    assert [call for call, _ in await offered(migrated_db)] == ["CA0"]
    assert await offer_jobs(migrated_db) == 1


async def test_positions_and_estimates(migrated_db: Database) -> None:
    team_id = await setup(migrated_db, free=0, waiting=0, busy=2)
    await enqueue_callers(migrated_db, team_id, "CW", 3)
    third = await migrated_db.write(lambda conn: wait_turn(conn, "CW2", NOW + timedelta(minutes=1)))
    assert third is not None
    # Two agents at work, three minutes a call (no call handled yet): two rounds ahead.
    assert (third.position, third.minutes) == (3, 6)
    again = await migrated_db.write(lambda conn: wait_turn(conn, "CW2", NOW + timedelta(minutes=1)))
    assert again is not None
    assert again.position is None  # announced 0 s ago: music only
    late = await migrated_db.write(lambda conn: wait_turn(conn, "CW0", NOW + timedelta(minutes=11)))
    assert late is not None
    assert (late.status, late.leave) == ("left", "voicemail")  # max wait over: the fallback


def test_estimates_round_up_to_whole_minutes() -> None:
    assert estimate_minutes(1, 45, 3) == 1
    assert estimate_minutes(3, 180, 1) == 9
    assert estimate_minutes(4, 100, 3) == 4  # two rounds of 100 s
    assert estimate_minutes(2, 100, 0) == 4  # nobody at work counts as one
