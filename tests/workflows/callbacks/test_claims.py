"""Claiming callbacks: oldest request first, and never one request nor one agent twice, even
when workers of several server instances claim at the same moment (PostgreSQL: row locks
on the head of the line, agents taken with SKIP LOCKED, the partial unique index on agents
in ``calling``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ringflow.database import Database, open_database
from workflows.callbacks.errors import NotPending
from workflows.callbacks.requests import (
    Placement,
    cancel_callback,
    claim_next,
    end_placement,
    find_callback,
    list_callbacks,
    request_callback,
)
from workflows.callbacks.timeline import CallbackHistory
from workflows.instructions import HoldQueue
from workflows.people.agents import AgentFields, Endpoint, put_agent
from workflows.people.queue import dispatch, join_queue
from workflows.people.teams import TeamFields, put_team

NOW = datetime.now(UTC).replace(microsecond=0)
AGENTS = ("ann", "bob", "cid")
OUR_NUMBER = "+15005550001"
HOLD = HoldQueue(max_wait=600, announce_every=30, hold_music=None, fallback="voicemail")


def customer(index: int) -> str:
    return f"+1415555{index:04d}"


async def _setup(db: Database, requests: int) -> int:
    def work(conn: Any) -> int:
        for index, name in enumerate(AGENTS):
            phone = Endpoint("phone", f"+1415666{index:04d}")
            put_agent(conn, name, AgentFields(endpoints=(phone,), status="available"), NOW)
        team, _ = put_team(conn, "support", TeamFields(members=AGENTS), NOW)
        for index in range(requests):
            request_callback(
                conn,
                team="support",
                customer=customer(index),
                our_number=OUR_NUMBER,
                # Later requests are older: the line is by request time, not by id.
                requested_at=NOW - timedelta(minutes=index),
                now=NOW,
            )
        return team.id

    return await db.write(work)


async def _claim(db: Database, team_id: int) -> Placement | str | None:
    try:
        return await db.write(lambda conn: claim_next(conn, team_id, NOW))
    except IntegrityError:
        return "raced"


async def test_claims_go_oldest_first_one_agent_each(migrated_db: Database) -> None:
    team_id = await _setup(migrated_db, 5)
    placed = [await _claim(migrated_db, team_id) for _ in range(4)]
    assert all(isinstance(p, Placement) for p in placed[:3])
    assert placed[3] is None  # three agents, three calls: nobody is free for the fourth
    claimed = [p for p in placed if isinstance(p, Placement)]
    assert [p.customer for p in claimed] == [customer(4), customer(3), customer(2)]
    assert sorted(p.agent.name for p in claimed) == sorted(AGENTS)

    first = claimed[0]
    ended = await migrated_db.write(
        lambda conn: end_placement(conn, first.callback_id, first.leg, "answered", NOW)
    )
    assert ended is not None
    assert ended.status == "connected"
    again = await migrated_db.write(
        lambda conn: end_placement(conn, first.callback_id, first.leg, "no-answer", NOW)
    )
    assert again is None  # a repeated webhook changes nothing
    nxt = await _claim(migrated_db, team_id)
    assert isinstance(nxt, Placement)
    assert (nxt.customer, nxt.agent.name) == (customer(1), first.agent.name)


async def test_only_pending_requests_can_be_cancelled(migrated_db: Database) -> None:
    team_id = await _setup(migrated_db, 2)
    claimed = await _claim(migrated_db, team_id)
    assert isinstance(claimed, Placement)
    with pytest.raises(NotPending):
        await migrated_db.write(lambda conn: cancel_callback(conn, claimed.callback_id, NOW))
    pending = await migrated_db.read(lambda conn: list_callbacks(conn, status=["pending"]))
    (other,) = pending
    cancelled = await migrated_db.write(lambda conn: cancel_callback(conn, other.id, NOW))
    assert cancelled.status == "cancelled"
    assert await _claim(migrated_db, team_id) is None


async def test_a_request_from_the_same_call_is_not_doubled(migrated_db: Database) -> None:
    await _setup(migrated_db, 0)

    def ask(conn: Any) -> int:
        made = request_callback(
            conn,
            team="support",
            customer=customer(7),
            our_number=OUR_NUMBER,
            call_sid="CA" + "1" * 32,
            now=NOW,
        )
        return made.id

    first = await migrated_db.write(ask)
    assert await migrated_db.write(ask) == first
    found = await migrated_db.read(lambda conn: find_callback(conn, first))
    assert found is not None
    assert found.status == "pending"


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_claims_of_two_instances_never_double(
    database_url: str, migrated_db: Database, round_: int
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent claims across instances: PostgreSQL")
    team_id = await _setup(migrated_db, 8)
    other = await open_database(database_url)
    try:
        results = await asyncio.gather(*(_claim(db, team_id) for db in [migrated_db, other] * 6))
    finally:
        await other.close()
    claimed = [r for r in results if isinstance(r, Placement)]
    ids = [p.callback_id for p in claimed]
    agents = [p.agent.name for p in claimed]
    assert len(ids) == len(set(ids)), results
    assert len(agents) == len(set(agents)), results
    assert 1 <= len(claimed) <= len(AGENTS)
    oldest = await migrated_db.read(lambda conn: list_callbacks(conn, limit=1))
    # The head of the line is placed first, unless its worker lost a race for an agent (its
    # job then tries again 2 s later).
    assert oldest[0].id in ids or "raced" in results
    calling = await migrated_db.read(lambda conn: list_callbacks(conn, status=["calling"]))
    assert sorted(c.id for c in calling) == sorted(ids)
    assert sorted(c.agent or "" for c in calling) == sorted(agents)


async def test_attempts_show_in_the_contacts_timeline(migrated_db: Database) -> None:
    team_id = await _setup(migrated_db, 1)
    placed = await _claim(migrated_db, team_id)
    assert isinstance(placed, Placement)
    await migrated_db.write(
        lambda conn: end_placement(
            conn, placed.callback_id, placed.leg, "no-answer", NOW, customer_call_sid="CA1"
        )
    )
    thread = SimpleNamespace(contact_number=customer(0), business_number=OUR_NUMBER)
    entries = await migrated_db.read(
        lambda conn: CallbackHistory().entries(conn, thread, None, None)  # type: ignore[arg-type]
    )
    (entry,) = entries
    assert (entry.kind, entry.ref) == ("call", "CA1")
    assert entry.data["outcome"] == "no-answer"
    assert entry.data["direction"] == "callback"


async def test_an_agent_a_callback_claims_is_not_offered_a_queued_caller_meanwhile(
    migrated_db: Database, database_url: str
) -> None:
    # One free agent; a callback due and a caller waiting in the hold queue. The callback's
    # claim holds the agent when the queue's dispatcher (another instance) reaches for them.
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent transactions need PostgreSQL; SQLite's single writer orders them")

    def one_agent(conn: Any) -> int:
        phone = Endpoint("phone", "+14156660000")
        put_agent(conn, "ann", AgentFields(endpoints=(phone,), status="available"), NOW)
        team, _ = put_team(conn, "support", TeamFields(members=("ann",)), NOW)
        request_callback(conn, team="support", customer=customer(1), our_number=OUR_NUMBER, now=NOW)
        join_queue(conn, team.id, "CA-waiting", "0" * 32, 1, HOLD, NOW)
        return team.id

    team_id = await migrated_db.write(one_agent)
    other = await open_database(database_url)
    try:

        def claim_and_linger(conn: Any) -> Placement | None:
            placed = claim_next(conn, team_id, NOW)
            conn.execute(text("SELECT pg_sleep(0.4)"))  # the dispatcher waits on the agent
            return placed

        claiming = asyncio.create_task(migrated_db.write(claim_and_linger))
        await asyncio.sleep(0.15)
        offers = await other.write(lambda conn: dispatch(conn, team_id, NOW))
        placed = await claiming
    finally:
        await other.close()
    assert isinstance(placed, Placement)
    assert offers == []  # the agent is engaged in the callback: the caller waits on
