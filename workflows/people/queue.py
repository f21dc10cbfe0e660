"""A team's hold queue: callers wait, first come first served, until an agent is free.

Plain functions of a SQLAlchemy ``Connection``; the caller owns the transaction.

- :func:`join_queue` puts a caller in (or back in, keeping their place) when a ``connect``
  step finds nobody free.
- :func:`dispatch` serves a team's queue (the :data:`~workflows.people.presence.DISPATCH_JOB`
  job, due when an agent frees up): it claims the longest-waiting caller and a free agent
  together, each with a conditional update, so two agents freeing up at once on two server
  instances never get the same caller and no agent gets two. Dispatchers of one team take
  turns (the team's row is locked ``FOR UPDATE`` until commit on PostgreSQL; SQLite has one
  writer): ``SKIP LOCKED`` on the callers was tried and served a later caller first when two
  dispatchers raced (the concurrent test caught it). Each claim becomes an
  :data:`OFFER_JOB` for the channel (redirect the waiting call to ring that agent), written in
  the same transaction.
- :func:`wait_turn` is what a waiting caller hears next: their place and an estimate from the
  team's recent handle times, or that the maximum wait is over.
- :func:`leave_queue` records why a caller left (a key, the fallback, a hang-up).
  :func:`record_callback_request` is the hook for "press 1 to be called back": it records the
  request on the entry; the callbacks feature enqueues its durable job there.
- A console's test call (:mod:`workflows.test_calls`) waits in the queue like any caller and
  hears its place among the real callers ahead, but it is never offered to an agent (the
  admin says in the console which agent takes it: :func:`holding`, :func:`offer_test_call`)
  and no caller counts it ahead of them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from ringflow.clock import Clock
from ringflow.database import Database, stored_time
from workflows.callbacks.db import engaged_in_callback
from workflows.instructions import HoldQueue
from workflows.jobs import ClaimedJob, FinalWrite, enqueue
from workflows.people.db import agent_calls, agents, queue_entries, team_members, teams
from workflows.people.presence import serve_queue, team_snapshot
from workflows.people.routing import PICKERS, free_members
from workflows.test_calls import TEST_CALL_PREFIX

log = logging.getLogger(__name__)

OFFER_JOB: Final = "call.offer"
"""Connect a queued caller with the agent :func:`dispatch` claimed for them (the channel's)."""
DEFAULT_HANDLE_SECONDS: Final = 180
"""The handle time assumed for a team that has taken no call yet."""
HANDLE_SAMPLE: Final = 20
"""The estimate averages the team's last this many calls."""


@dataclass(frozen=True, slots=True)
class Offer:
    """A queued caller claimed for an agent: ring ``agent`` on ``call`` by resuming the run
    ``run_id`` at ``turn``."""

    entry_id: int
    call: str
    run_id: str
    turn: int
    agent: str

    def payload(self) -> dict[str, Any]:
        return {
            "entry": self.entry_id,
            "call": self.call,
            "run_id": self.run_id,
            "turn": self.turn,
            "agent": self.agent,
        }


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(queue_entries)
    return statement.on_conflict_do_update(
        index_elements=["call"],
        # Back in the queue (an offered agent did not answer): the same place in line.
        set_={
            "status": "waiting",
            "agent_id": None,
            "choice": None,
            "run_id": statement.excluded.run_id,
            "turn": statement.excluded.turn,
            "left_at": None,
            "announced_at": None,  # told their place again at once
        },
        # A repeated webhook of the same turn (answered from the stored turn) changes nothing.
        where=queue_entries.c.turn != statement.excluded.turn,
    )


def join_queue(
    conn: Connection,
    team_id: int,
    call: str,
    run_id: str,
    turn: int,
    settings: HoldQueue,
    now: datetime,
) -> None:
    """Put ``call`` in the team's queue (back in its old place if it waited before), and
    have the queue served at once in case an agent freed up meanwhile."""
    conn.execute(
        _upsert(conn.dialect.name),
        {
            "call": call,
            "team_id": team_id,
            "run_id": run_id,
            "turn": turn,
            "status": "waiting",
            "agent_id": None,
            "choice": None,
            "max_wait": settings.max_wait,
            "announce_every": settings.announce_every,
            "hold_music": settings.hold_music,
            "fallback": settings.fallback,
            "enqueued_at": now,
            "announced_at": None,
            "left_at": None,
        },
    )
    # An agent this caller was offered to and who could not take it holds it no more.
    conn.execute(update(agents).where(agents.c.on_call == call).values(on_call=None))
    serve_queue(conn, team_id, now, now=now, key=f"join:{call}:{turn}")


def _real_caller() -> ColumnElement[bool]:
    """Not a console's test call (those are never offered, nor counted ahead of anyone)."""
    return ~queue_entries.c.call.startswith(TEST_CALL_PREFIX, autoescape=True)


def _oldest_waiting(conn: Connection, team_id: int, skip: list[int]) -> Any:
    query = (
        select(queue_entries.c.id, queue_entries.c.call, queue_entries.c.run_id)
        .where(
            queue_entries.c.team_id == team_id,
            queue_entries.c.status == "waiting",
            queue_entries.c.id.not_in(skip),
            _real_caller(),
        )
        .order_by(queue_entries.c.enqueued_at, queue_entries.c.id)
        .limit(1)
    )
    return conn.execute(query).first()


def _engaged_meanwhile(conn: Connection, agent_id: int) -> bool:
    """Whether a callback engaged the agent just claimed, in a transaction that held the
    agent's row while the claim waited for it. On PostgreSQL the claim's ``UPDATE`` then
    rechecks the agent's own row, but its ``NOT EXISTS`` looked at the callbacks as they were
    before it waited: this new statement sees them as committed now. (SQLite's single
    writer never lets the two overlap.)"""
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(select(engaged_in_callback(agent_id))).scalar())


def _give_back(conn: Connection, agent_id: int, call: str) -> None:
    """The agent claimed for ``call`` is not taken after all."""
    conn.execute(
        update(agents).where(agents.c.id == agent_id, agents.c.on_call == call).values(on_call=None)
    )


def dispatch(conn: Connection, team_id: int, now: datetime) -> list[Offer]:
    """Offer the team's longest-waiting callers to its free agents (see the module
    docstring), each claim an :data:`OFFER_JOB`; the offers made."""
    offers: list[Offer] = []
    skip: list[int] = []
    # One dispatcher per team at a time (the team's row locked until commit): skipping a
    # caller another dispatcher holds would serve a later caller first.
    locked = conn.execute(select(teams.c.id).where(teams.c.id == team_id).with_for_update()).first()
    if locked is None:
        return offers
    while True:
        team_name = conn.execute(select(teams.c.name).where(teams.c.id == team_id)).scalar()
        if team_name is None:
            return offers
        team = team_snapshot(conn, team_name)
        if team is None:
            return offers
        free = free_members(team, now)
        if not free:
            return offers
        entry = _oldest_waiting(conn, team_id, skip)
        if entry is None:
            return offers
        claimed = None
        while free and claimed is None:
            # One agent per caller: ring_all teams offer to the longest idle.
            strategy = "longest_idle" if team.ring_strategy == "ring_all" else team.ring_strategy
            (choice, *_) = PICKERS[strategy](free)
            free.remove(choice)
            taken = conn.execute(
                update(agents)
                .where(
                    agents.c.id == choice.agent_id,
                    agents.c.on_call.is_(None),
                    agents.c.status == "available",
                    ~engaged_in_callback(agents.c.id),
                )
                .values(on_call=entry.call, updated_at=now)
            ).rowcount
            if taken and _engaged_meanwhile(conn, choice.agent_id):
                _give_back(conn, choice.agent_id, entry.call)
                taken = 0
            if taken:
                claimed = choice
        if claimed is None:
            return offers
        won = conn.execute(
            update(queue_entries)
            .where(queue_entries.c.id == entry.id, queue_entries.c.status == "waiting")
            .values(status="offered", agent_id=claimed.agent_id)
        ).rowcount
        if not won:  # taken meanwhile (SQLite has no row lock to skip): give the agent back
            _give_back(conn, claimed.agent_id, entry.call)
            skip.append(entry.id)
            continue
        turn = conn.execute(
            select(queue_entries.c.turn).where(queue_entries.c.id == entry.id)
        ).scalar_one()
        offer = Offer(entry.id, entry.call, entry.run_id, turn, claimed.name)
        enqueue(conn, OFFER_JOB, offer.payload(), dedupe_key=f"offer:{entry.id}:{turn}", now=now)
        log.info("call %s: offered to agent %s", entry.call, claimed.name)
        offers.append(offer)


@dataclass(frozen=True, slots=True)
class Holding:
    """A caller waiting in a team's hold queue: where their run waits (``run_id`` at
    ``turn``), the ``team`` and its ``members`` (who could take the call)."""

    run_id: str
    turn: int
    team: str
    members: tuple[str, ...]


def holding(conn: Connection, call: str) -> Holding | None:
    """The queue ``call`` waits in, if it waits in one (offered to nobody yet)."""
    row = conn.execute(
        select(queue_entries.c.run_id, queue_entries.c.turn, teams.c.id, teams.c.name)
        .join(teams, teams.c.id == queue_entries.c.team_id)
        .where(queue_entries.c.call == call, queue_entries.c.status == "waiting")
    ).first()
    if row is None:
        return None
    members = conn.execute(
        select(agents.c.name)
        .join(team_members, team_members.c.agent_id == agents.c.id)
        .where(team_members.c.team_id == row.id)
        .order_by(agents.c.name)
    ).scalars()
    return Holding(row.run_id, row.turn, row.name, tuple(members))


def offer_test_call(conn: Connection, call: str, agent: str) -> Holding | None:
    """The console offers the test call ``call``, waiting in a hold queue, to ``agent`` (a
    member of the team, see :func:`holding`): its entry is marked offered to them, once;
    where its run waits, or None when it waits no more. The agent is not claimed: whether
    they are free is decided when the call rings them, as for any call."""
    queue = holding(conn, call)
    if queue is None or agent not in queue.members:
        return queue
    agent_id = select(agents.c.id).where(agents.c.name == agent).scalar_subquery()
    won = conn.execute(
        update(queue_entries)
        .where(queue_entries.c.call == call, queue_entries.c.status == "waiting")
        .values(status="offered", agent_id=agent_id)
    ).rowcount
    return queue if won else None


def open_offer(conn: Connection, entry_id: int, agent: str) -> bool:
    """Whether entry ``entry_id`` is still offered to ``agent`` (checked again before the
    channel acts on the offer)."""
    row = conn.execute(
        select(queue_entries.c.status, agents.c.name)
        .join(agents, agents.c.id == queue_entries.c.agent_id)
        .where(queue_entries.c.id == entry_id)
    ).first()
    return row is not None and row.status == "offered" and row.name == agent


def offer_lost(conn: Connection, entry_id: int, now: datetime) -> None:
    """The caller of an offered entry is gone: the entry leaves the queue, the agent is free
    again and the queue is served anew."""
    row = conn.execute(
        select(queue_entries.c.call, queue_entries.c.team_id, queue_entries.c.agent_id).where(
            queue_entries.c.id == entry_id
        )
    ).first()
    if row is None:
        return
    leave_queue(conn, row.call, "hangup", now)
    serve_queue(conn, row.team_id, now, now=now, key=f"lost:{entry_id}")


def offer_failed(conn: Connection, entry_id: int) -> None:
    """The channel could not act on an offer (and will not retry): the caller is waiting
    again in their place and the agent is free. (The queue is served again when another
    agent frees up, not at once: the same failure would repeat.)"""
    row = conn.execute(
        select(queue_entries.c.call, queue_entries.c.agent_id, queue_entries.c.status).where(
            queue_entries.c.id == entry_id
        )
    ).first()
    if row is None or row.status != "offered":
        return
    conn.execute(
        update(queue_entries)
        .where(queue_entries.c.id == entry_id)
        .values(status="waiting", agent_id=None)
    )
    conn.execute(update(agents).where(agents.c.on_call == row.call).values(on_call=None))


@dataclass(frozen=True, slots=True)
class WaitTurn:
    """What a waiting caller hears next: their ``position`` (1: next) and ``minutes`` to
    wait when an announcement is due (else None); ``leave`` the fallback when their maximum
    wait is over; ``hold_music`` the entry's music."""

    position: int | None
    minutes: int | None
    leave: str | None
    hold_music: str | None
    status: str


def handle_seconds(conn: Connection, team_id: int) -> float:
    """The team's recent average handle time, in seconds."""
    recent = (
        select(agent_calls.c.answered_at, agent_calls.c.ended_at)
        .where(agent_calls.c.team_id == team_id, agent_calls.c.ended_at.is_not(None))
        .order_by(agent_calls.c.ended_at.desc())
        .limit(HANDLE_SAMPLE)
    )
    spans = [
        (stored_time(row.ended_at) - stored_time(row.answered_at)).total_seconds()
        for row in conn.execute(recent)
    ]
    return sum(spans) / len(spans) if spans else float(DEFAULT_HANDLE_SECONDS)


def estimate_minutes(position: int, handle: float, agents_working: int) -> int:
    """Minutes until a caller at ``position`` is served: one handle time per round of the
    team's working agents, at least one minute."""
    rounds = math.ceil(position / max(1, agents_working))
    return max(1, math.ceil(rounds * handle / 60))


def wait_turn(conn: Connection, call: str, now: datetime) -> WaitTurn | None:
    """What ``call``, waiting in a hold queue, hears next; None if it is in none. An
    announcement due is marked made; a caller past the queue's maximum wait leaves with the
    fallback."""
    entry = conn.execute(select(queue_entries).where(queue_entries.c.call == call)).first()
    if entry is None:
        return None
    if entry.status != "waiting":
        return WaitTurn(None, None, entry.choice, entry.hold_music, entry.status)
    enqueued = stored_time(entry.enqueued_at)
    if now - enqueued >= timedelta(seconds=entry.max_wait):
        leave_queue(conn, call, entry.fallback, now)
        return WaitTurn(None, None, entry.fallback, entry.hold_music, "left")
    announced = entry.announced_at
    due = announced is None or now - stored_time(announced) >= timedelta(
        seconds=entry.announce_every
    )
    if not due:
        return WaitTurn(None, None, None, entry.hold_music, "waiting")
    ahead = conn.execute(
        select(func.count())
        .select_from(queue_entries)
        .where(
            queue_entries.c.team_id == entry.team_id,
            queue_entries.c.status == "waiting",
            tuple_(queue_entries.c.enqueued_at, queue_entries.c.id) < (enqueued, entry.id),
            _real_caller(),
        )
    ).scalar_one()
    working = conn.execute(
        select(func.count())
        .select_from(agents)
        .where(
            agents.c.id.in_(
                select(team_members.c.agent_id).where(team_members.c.team_id == entry.team_id)
            ),
            (agents.c.status == "available") | agents.c.on_call.is_not(None),
        )
    ).scalar_one()
    conn.execute(
        update(queue_entries).where(queue_entries.c.id == entry.id).values(announced_at=now)
    )
    position = ahead + 1
    minutes = estimate_minutes(position, handle_seconds(conn, entry.team_id), working)
    return WaitTurn(position, minutes, None, entry.hold_music, "waiting")


def leave_queue(conn: Connection, call: str, choice: str, now: datetime) -> bool:
    """``call`` leaves its queue (``choice``: ``callback``, ``voicemail``, ``hangup``...); an
    agent it was offered to is free again. False when it was not waiting or offered."""
    row = conn.execute(
        select(queue_entries.c.id, queue_entries.c.agent_id, queue_entries.c.status).where(
            queue_entries.c.call == call
        )
    ).first()
    if row is None or row.status not in ("waiting", "offered"):
        return False
    conn.execute(
        update(queue_entries)
        .where(queue_entries.c.id == row.id)
        .values(status="left", choice=choice, left_at=now)
    )
    if row.status == "offered" and row.agent_id is not None:
        conn.execute(
            update(agents)
            .where(agents.c.id == row.agent_id, agents.c.on_call == call)
            .values(on_call=None)
        )
    return True


def caller_gone(conn: Connection, call: str, now: datetime) -> bool:
    """``call`` ended: if it was still in a queue it leaves it as ``hangup`` (an agent it was
    offered to is free again, and the queue is served anew). Whether it was in one."""
    team_id = conn.execute(
        select(queue_entries.c.team_id).where(queue_entries.c.call == call)
    ).scalar()
    if team_id is None or not leave_queue(conn, call, "hangup", now):
        return False
    serve_queue(conn, team_id, now, now=now, key=f"gone:{call}")
    return True


def record_callback_request(conn: Connection, call: str, now: datetime) -> bool:
    """The hook for "press 1 to be called back": the caller leaves the queue with the choice
    ``callback`` recorded on their entry (which keeps their ``enqueued_at``, their place).
    :func:`workflows.callbacks.queued.leave_for_callback` adds the callback request in the
    same transaction."""
    return leave_queue(conn, call, "callback", now)


def left_choice(conn: Connection, call: str) -> str | None:
    """Why ``call`` left its queue (the choice recorded), or None."""
    return conn.execute(select(queue_entries.c.choice).where(queue_entries.c.call == call)).scalar()


class DispatchHandler:
    """Runs :data:`~workflows.people.presence.DISPATCH_JOB` jobs: :func:`dispatch` in one
    transaction (whose offers are jobs of their own)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def __call__(self, job: ClaimedJob) -> FinalWrite | None:
        team_id = int(job.payload["team_id"])
        now = self._clock()
        offers = await self._db.write(lambda conn: dispatch(conn, team_id, now))
        if offers:
            log.info("team %d: %d queued caller(s) offered to agents", team_id, len(offers))
        return None
