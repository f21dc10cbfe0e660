"""Which agents of a team are free to take a call now: THE one place that decides it.

An agent is free when their presence is ``available``, they have an endpoint voice can reach
(phone number, SIP URI or client identity), they are not on a call nor in its wrap-up
(presence follows calls: :mod:`workflows.people.presence` sets ``on_call`` when their leg
answers and ``busy_until`` when it ends), and they are not engaged in a callback (a callback
request in ``calling`` names them: its agent leg rings, or they talk to the customer;
:mod:`workflows.callbacks`). Team routing reads the same conditions through its snapshot
(:func:`workflows.people.presence.team_snapshot`), callbacks through :func:`free_agents`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from ringflow.database import stored_time
from workflows.callbacks.db import engaged_in_callback
from workflows.people.db import agents, team_members

__all__ = ["FreeAgent", "free_agents"]


@dataclass(frozen=True, slots=True)
class FreeAgent:
    """An agent free to take a call, and where voice reaches them (their first endpoint)."""

    id: int
    name: str
    kind: str
    address: str


_ENGAGED = engaged_in_callback(agents.c.id)
_FREE = (
    select(agents.c.id, agents.c.name, agents.c.endpoints, agents.c.busy_until)
    .join(team_members, team_members.c.agent_id == agents.c.id)
    .where(
        team_members.c.team_id == bindparam("team_id"),
        agents.c.status == "available",
        agents.c.on_call.is_(None),
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
    workers pick different agents. Agents whose wrap-up lasts past ``now`` are not free.
    """
    query = _FREE_LOCKED if lock and conn.dialect.name == "postgresql" else _FREE
    found: list[FreeAgent] = []
    for row in conn.execute(query, {"team_id": team_id}):
        if row.busy_until is not None and stored_time(row.busy_until) > now:
            continue  # wrap-up: compared here, as stored times compare only as datetimes
        for endpoint in row.endpoints or []:
            kind, address = endpoint.get("kind"), endpoint.get("address")
            if kind in ("phone", "sip", "client") and address:
                found.append(FreeAgent(row.id, row.name, kind, address))
                break
    return found
