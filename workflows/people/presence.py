"""Presence follows calls: an agent is busy from the moment their leg answers until it ends,
plus their team's wrap-up; then the team's hold queue is served again.

Plain functions of a SQLAlchemy ``Connection``; the caller owns the transaction. The channel
reports an agent's leg (:func:`leg_answered`, :func:`leg_ended`); both are idempotent, since
status callbacks repeat and arrive out of order. The calls agents took are kept in
``agent_calls``: the call log names the agent, and a team's handle times come from them.

An agent an offered or rung call did not reach is set ``away`` (what call centres call
"redirection on no answer"): the next caller does not ring them again, and they set
themselves ``available`` when they are back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ringflow.database import stored_time
from workflows.callbacks.db import engaged_in_callback
from workflows.people.agents import Endpoint
from workflows.people.db import agent_calls, agents, queue_entries, team_members, teams
from workflows.people.routing import Member, TeamSnapshot
from workflows.people.serving import DISPATCH_JOB, serve_queue, serve_queues_of

__all__ = ["DISPATCH_JOB", "lock_team", "serve_queue", "serve_queues_of", "team_snapshot"]

log = logging.getLogger(__name__)


_SNAPSHOT = (
    select(
        teams.c.id.label("team_id"),
        teams.c.name.label("team_name"),
        teams.c.ring_strategy,
        teams.c.wrap_up,
        agents.c.id,
        agents.c.name,
        agents.c.status,
        agents.c.endpoints,
        agents.c.on_call,
        agents.c.busy_until,
        team_members.c.last_rung_at,
    )
    .select_from(
        teams.outerjoin(team_members, team_members.c.team_id == teams.c.id).outerjoin(
            agents,
            and_(
                agents.c.id == team_members.c.agent_id,
                # Only members who could take a call: the rest never ring, so they are
                # not read (a big team is mostly busy or away when callers wait).
                agents.c.status == "available",
                or_(agents.c.on_call.is_(None), agents.c.on_call == bindparam("call")),
                ~engaged_in_callback(agents.c.id),
            ),
        )
    )
    .where(teams.c.name == bindparam("team"))
)


def _time(value: Any) -> datetime | None:
    return None if value is None else stored_time(value)


def lock_team(conn: Connection, team: str) -> None:
    """Hold the team ``team``'s row until the transaction ends, so that calls routed to it at
    the same moment (on any instance) are decided one after the other: each reads the
    round-robin turns the one before it wrote. SQLite's single writer orders them already
    (``FOR UPDATE`` is not rendered there)."""
    conn.execute(select(teams.c.id).where(teams.c.name == team).with_for_update())


def team_snapshot(conn: Connection, team: str, call: str | None = None) -> TeamSnapshot | None:
    """The team ``team`` and those of its members who may take a call now (``available``,
    not on a call but maybe ``call``), in one query; None: no such team."""
    rows = conn.execute(_SNAPSHOT, {"team": team, "call": call}).all()
    if not rows:
        return None
    first = rows[0]
    members = tuple(
        Member(
            agent_id=row.id,
            name=row.name,
            status=row.status,
            endpoints=tuple(Endpoint(e["kind"], e["address"]) for e in row.endpoints or []),
            on_call=row.on_call,
            busy_until=_time(row.busy_until),
            last_rung_at=_time(row.last_rung_at),
        )
        for row in rows
        if row.id is not None
    )
    return TeamSnapshot(first.team_id, first.team_name, first.ring_strategy, first.wrap_up, members)


def mark_rung(conn: Connection, team_id: int, agent_ids: Sequence[int], now: datetime) -> None:
    """The team's call rings these members now (round-robin order)."""
    if agent_ids:
        conn.execute(
            update(team_members)
            .where(team_members.c.team_id == team_id, team_members.c.agent_id.in_(agent_ids))
            .values(last_rung_at=now)
        )


def not_reached(conn: Connection, names: Sequence[str], call: str, now: datetime) -> None:
    """The agents ``names`` were rung for ``call`` and did not answer: those still
    ``available`` and not on another call are set ``away``; an offer of ``call`` they held
    is released."""
    if not names:
        return
    conn.execute(
        update(agents)
        .where(agents.c.name.in_(list(names)), agents.c.on_call == call)
        .values(on_call=None)
    )
    changed = conn.execute(
        update(agents)
        .where(
            agents.c.name.in_(list(names)),
            agents.c.status == "available",
            agents.c.on_call.is_(None),
        )
        .values(status="away", updated_at=now)
    ).rowcount
    if changed:
        log.info("call %s: %d agent(s) did not answer and are away now", call, changed)


_NEW_LEG = {
    "sqlite": sqlite.insert(agent_calls).on_conflict_do_nothing(index_elements=["leg"]),
    "postgresql": postgresql.insert(agent_calls).on_conflict_do_nothing(index_elements=["leg"]),
}


def leg_answered(
    conn: Connection, agent: str, leg: str, call: str, team: str | None, now: datetime
) -> bool:
    """``agent``'s leg ``leg`` answered the caller's ``call``: the agent is on the call; a
    queued caller's entry is connected. False when the agent is unknown or the leg was
    reported already."""
    agent_id = conn.execute(select(agents.c.id).where(agents.c.name == agent)).scalar()
    if agent_id is None:
        return False
    team_id = None
    if team is not None:
        team_id = conn.execute(select(teams.c.id).where(teams.c.name == team)).scalar()
    inserted = conn.execute(
        _NEW_LEG[conn.dialect.name],
        {
            "leg": leg,
            "agent_id": agent_id,
            "team_id": team_id,
            "call": call,
            "answered_at": now,
            "ended_at": None,
        },
    ).rowcount
    if not inserted:
        return False
    ended = conn.execute(select(agent_calls.c.ended_at).where(agent_calls.c.leg == leg)).scalar()
    if ended is None:
        conn.execute(
            update(agents)
            .where(agents.c.id == agent_id)
            .values(on_call=call, busy_until=None, updated_at=now)
        )
    conn.execute(
        update(queue_entries)
        .where(queue_entries.c.call == call, queue_entries.c.status.in_(("waiting", "offered")))
        .values(status="connected", agent_id=agent_id, left_at=now)
    )
    return True


def leg_ended(conn: Connection, agent: str, leg: str, now: datetime) -> bool:
    """``agent``'s leg ``leg`` ended: if it had answered, the agent is free after the team's
    wrap-up, and the hold queues of their teams are served then (a durable job). False when
    the leg never answered or its end was reported already."""
    row = conn.execute(
        select(agent_calls.c.agent_id, agent_calls.c.team_id, agent_calls.c.call)
        .join(agents, agents.c.id == agent_calls.c.agent_id)
        .where(agent_calls.c.leg == leg, agents.c.name == agent)
    ).first()
    if row is None:
        return False
    closed = conn.execute(
        update(agent_calls)
        .where(agent_calls.c.leg == leg, agent_calls.c.ended_at.is_(None))
        .values(ended_at=now)
    ).rowcount
    if not closed:
        return False
    wrap_up: int | None = None
    if row.team_id is not None:
        wrap_up = conn.execute(select(teams.c.wrap_up).where(teams.c.id == row.team_id)).scalar()
    free_at = now + timedelta(seconds=wrap_up or 0)
    conn.execute(
        update(agents)
        .where(
            agents.c.id == row.agent_id,
            or_(agents.c.on_call == row.call, agents.c.on_call.is_(None)),
        )
        .values(on_call=None, busy_until=free_at, updated_at=now)
    )
    serve_queues_of(conn, row.agent_id, free_at, now=now, key=f"leg:{leg}")
    return True


def call_ended(conn: Connection, call: str, now: datetime) -> int:
    """The caller's ``call`` ended: the agents' legs bridged to it that are still open end
    with it (see :func:`leg_ended`). A leg cannot outlive the call it was bridged to, and its
    own status callback may come late or never, which would leave its agent on the call for
    ever. How many legs it closed (a leg's own callback after that changes nothing)."""
    open_legs = conn.execute(
        select(agent_calls.c.leg, agents.c.name)
        .join(agents, agents.c.id == agent_calls.c.agent_id)
        .where(agent_calls.c.call == call, agent_calls.c.ended_at.is_(None))
    ).all()
    return sum(leg_ended(conn, name, leg, now) for leg, name in open_legs)


def agent_of_call(conn: Connection, call: str, leg: str | None) -> str | None:
    """The agent who took the caller's ``call`` (its leg ``leg`` when known), or None."""
    condition = agent_calls.c.leg == leg if leg else agent_calls.c.call == call
    query = (
        select(agents.c.name)
        .join(agent_calls, agent_calls.c.agent_id == agents.c.id)
        .where(and_(condition, agent_calls.c.call == call))
        .order_by(agent_calls.c.answered_at.desc())
        .limit(1)
    )
    name = conn.execute(query).scalar()
    if name is None and leg:
        return agent_of_call(conn, call, None)
    return name


def agents_of_calls(conn: Connection, calls: Sequence[str]) -> dict[str, str]:
    """The agent who took each of ``calls`` (the last to answer it), by call."""
    if not calls:
        return {}
    rows = conn.execute(
        select(agent_calls.c.call, agents.c.name)
        .join(agents, agents.c.id == agent_calls.c.agent_id)
        .where(agent_calls.c.call.in_(list(calls)))
        .order_by(agent_calls.c.answered_at)
    ).all()
    return {row.call: row.name for row in rows}
