"""A call's ``ConnectTeam`` becomes what the channel can do: ring the agents the team's ring
strategy picks (a ``Dial`` naming each endpoint's agent), wait in the team's hold queue (an
``Enqueue``, the caller's entry written), or ``NoAgents``.

The decision is :func:`workflows.people.routing.agents_to_ring` over a snapshot of the team
read in the same write transaction that records what it decided (round-robin turns, the
queue entry), with the team's row locked first so that calls reaching one team at the same
moment are decided one after the other; so it holds for every voice channel alike.

A console's test call (:mod:`workflows.test_calls`) is routed by the same decision but
changes nothing of the team's: it takes no round-robin turn, and an agent it was offered to
who did not answer is not set away (the admin picked that outcome in the console).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import Connection

from ringflow.database import Database
from workflows.instructions import ConnectTeam, Dial, DialTarget, Enqueue, Instruction, NoAgents
from workflows.people.presence import lock_team, mark_rung, not_reached, team_snapshot
from workflows.people.queue import join_queue
from workflows.people.routing import MAX_RING, Member, agents_to_ring
from workflows.test_calls import is_test_call

log = logging.getLogger(__name__)

_KINDS: Final[dict[str, Literal["number", "sip", "client"]]] = {
    "phone": "number",
    "sip": "sip",
    "client": "client",
}


def resolve_connect(
    conn: Connection, connect: ConnectTeam, call: str, run_id: str, turn: int, now: datetime
) -> Instruction:
    """What ``connect`` does for ``call`` now (see the module docstring)."""
    lock_team(conn, connect.team)  # calls to one team at once: decided one after the other
    testing = is_test_call(call)
    if connect.missed is not None and not testing:
        not_reached(conn, (connect.missed,), call, now)
    team = team_snapshot(conn, connect.team, call)
    if team is None:
        log.warning("call %s: no team %r to connect to", call, connect.team)
        return NoAgents()
    chosen: tuple[Member, ...] = ()
    if not connect.queue_only:
        chosen = agents_to_ring(team, now, call=call, tried=connect.tried, only=connect.agent)
    if chosen:
        if team.ring_strategy == "round_robin" and connect.agent is None and not testing:
            mark_rung(conn, team.team_id, [m.agent_id for m in chosen], now)
        targets = tuple(
            DialTarget(_KINDS[endpoint.kind], endpoint.address, agent=member.name)
            for member in chosen
            for endpoint in member.endpoints
        )[:MAX_RING]
        return Dial(targets, connect.ring_timeout, connect.caller_id, team=team.name)
    if connect.queue is not None:
        join_queue(conn, team.team_id, call, run_id, turn, connect.queue, now)
        return Enqueue(team.name)
    return NoAgents()


async def route_call(
    db: Database,
    instructions: tuple[Instruction, ...],
    *,
    call: str,
    run_id: str,
    turn: int,
    now: datetime,
) -> tuple[Instruction, ...]:
    """``instructions`` with each ``ConnectTeam`` resolved; nothing is read without one."""
    if not any(isinstance(i, ConnectTeam) for i in instructions):
        return instructions

    def resolve(conn: Connection) -> tuple[Instruction, ...]:
        return tuple(
            resolve_connect(conn, i, call, run_id, turn, now) if isinstance(i, ConnectTeam) else i
            for i in instructions
        )

    return await db.write(resolve)
