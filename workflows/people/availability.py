"""Which agents of a team are free to take a call now: THE one place that decides it.

Today an agent is free when their presence is ``available``, they have an endpoint voice can
reach (phone number, SIP URI or client identity), and they are not engaged in a callback (a
callback request in ``calling`` names them: its agent leg rings, or they talk to the
customer; :mod:`workflows.callbacks`).

Presence that follows calls (busy from the moment an agent's leg answers until it ends, plus
a wrap-up time) plugs in HERE, as one more condition of :data:`_FREE` (e.g. "and no row of
the agents' call-presence table says busy or in wrap-up at ``now``"), so that every caller of
:func:`free_agents` (callbacks, team routing, the hold queue) reads the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, exists, select

from workflows.callbacks.db import callback_requests
from workflows.people.db import agents, team_members

__all__ = ["FreeAgent", "free_agents"]


@dataclass(frozen=True, slots=True)
class FreeAgent:
    """An agent free to take a call, and where voice reaches them (their first endpoint)."""

    id: int
    name: str
    kind: str
    address: str


_ENGAGED = exists().where(
    and_(callback_requests.c.agent_id == agents.c.id, callback_requests.c.status == "calling")
)
_FREE = (
    select(agents.c.id, agents.c.name, agents.c.endpoints)
    .join(team_members, team_members.c.agent_id == agents.c.id)
    .where(
        team_members.c.team_id == bindparam("team_id"),
        agents.c.status == "available",
        ~_ENGAGED,
    )
    # The member who waited longest for work first, then by name (stable).
    .order_by(team_members.c.last_assigned_at.is_not(None), team_members.c.last_assigned_at)
    .order_by(agents.c.name)
)


_FREE_LOCKED = _FREE.with_for_update(of=agents, skip_locked=True)


def free_agents(
    conn: Connection, team_id: int, now: datetime, *, lock: bool = False
) -> list[FreeAgent]:
    """The members of team ``team_id`` free to take a call at ``now``, longest idle first.

    ``lock`` (for a caller about to engage one of them in its transaction): on PostgreSQL the
    agents' rows are locked and those another transaction holds are left out, so concurrent
    workers pick different agents. ``now`` is for presence with a time in it (wrap-up ends);
    unused until it exists.
    """
    del now
    query = _FREE_LOCKED if lock and conn.dialect.name == "postgresql" else _FREE
    found: list[FreeAgent] = []
    for row in conn.execute(query, {"team_id": team_id}):
        for endpoint in row.endpoints or []:
            kind, address = endpoint.get("kind"), endpoint.get("address")
            if kind in ("phone", "sip", "client") and address:
                found.append(FreeAgent(row.id, row.name, kind, address))
                break
    return found
