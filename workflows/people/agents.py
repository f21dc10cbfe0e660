"""Agents: who they are, where voice reaches them, their languages, presence and capacity.

Plain functions of a SQLAlchemy ``Connection``; the caller owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import Connection, Row, delete, select, update

from ringflow.database import stored_time
from workflows.people.db import agents, team_members, teams
from workflows.people.errors import UnknownAgent
from workflows.people.serving import agent_became_available

AgentStatus = Literal["available", "away", "offline"]
EndpointKind = Literal["phone", "sip", "client"]
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""An agent's or a team's name: a handle that fits in a path and on a command line."""
_NAME = re.compile(NAME_PATTERN)


def valid_name(name: str) -> bool:
    """Whether ``name`` is a handle (see :data:`NAME_PATTERN`)."""
    return bool(_NAME.match(name))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where voice reaches an agent: a phone number, a SIP URI or a client identity."""

    kind: EndpointKind
    address: str


@dataclass(frozen=True, slots=True)
class AgentFields:
    """What an admin sets on an agent (everything but its name and times)."""

    display_name: str | None = None
    email: str | None = None
    endpoints: Sequence[Endpoint] = ()
    languages: Sequence[str] = ()
    status: AgentStatus = "offline"
    max_open: int = 10


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent as stored."""

    id: int
    name: str
    fields: AgentFields
    created_at: datetime
    updated_at: datetime
    teams: tuple[str, ...] = field(default=())
    on_call: bool = False
    """On a call now: their leg answered and has not ended (presence follows calls)."""
    busy_until: datetime | None = None
    """The end of the wrap-up after their last call (may be past)."""


def _row_values(fields: AgentFields) -> dict[str, Any]:
    return {
        "display_name": fields.display_name,
        "email": fields.email,
        "endpoints": [{"kind": e.kind, "address": e.address} for e in fields.endpoints],
        "languages": list(fields.languages),
        "status": fields.status,
        "max_open": fields.max_open,
    }


def _agent(row: Row[Any], teams: tuple[str, ...] = ()) -> Agent:
    return Agent(
        id=row.id,
        name=row.name,
        fields=AgentFields(
            display_name=row.display_name,
            email=row.email,
            endpoints=tuple(Endpoint(e["kind"], e["address"]) for e in row.endpoints or []),
            languages=tuple(row.languages or []),
            status=row.status,
            max_open=row.max_open,
        ),
        created_at=stored_time(row.created_at),
        updated_at=stored_time(row.updated_at),
        teams=teams,
        on_call=row.on_call is not None,
        busy_until=None if row.busy_until is None else stored_time(row.busy_until),
    )


def _teams_of(conn: Connection, agent_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    if agent_ids:
        rows = conn.execute(
            select(team_members.c.agent_id, teams.c.name)
            .join(teams, teams.c.id == team_members.c.team_id)
            .where(team_members.c.agent_id.in_(agent_ids))
            .order_by(teams.c.name)
        ).all()
        for agent_id, name in rows:
            found.setdefault(agent_id, []).append(name)
    return {key: tuple(value) for key, value in found.items()}


def find_agent(conn: Connection, name: str) -> Agent | None:
    """The agent called ``name``, or None."""
    row = conn.execute(select(agents).where(agents.c.name == name)).first()
    if row is None:
        return None
    return _agent(row, _teams_of(conn, [row.id]).get(row.id, ()))


def agent_by_id(conn: Connection, agent_id: int) -> Agent | None:
    """The agent ``agent_id``, or None."""
    row = conn.execute(select(agents).where(agents.c.id == agent_id)).first()
    if row is None:
        return None
    return _agent(row, _teams_of(conn, [row.id]).get(row.id, ()))


def require_agent(conn: Connection, name: str) -> Agent:
    """The agent called ``name``; :class:`UnknownAgent` when there is none."""
    agent = find_agent(conn, name)
    if agent is None:
        raise UnknownAgent(name)
    return agent


def list_agents(conn: Connection) -> list[Agent]:
    """Every agent, by name."""
    rows = conn.execute(select(agents).order_by(agents.c.name)).all()
    memberships = _teams_of(conn, [row.id for row in rows])
    return [_agent(row, memberships.get(row.id, ())) for row in rows]


def put_agent(
    conn: Connection, name: str, fields: AgentFields, now: datetime
) -> tuple[Agent, bool]:
    """Create the agent ``name`` or replace its fields; the agent and whether it is new."""
    existing = conn.execute(select(agents.c.id).where(agents.c.name == name)).scalar()
    if existing is None:
        conn.execute(
            agents.insert().values(name=name, created_at=now, updated_at=now, **_row_values(fields))
        )
    else:
        conn.execute(
            update(agents)
            .where(agents.c.id == existing)
            .values(updated_at=now, **_row_values(fields))
        )
        if fields.status == "available":
            agent_became_available(conn, existing, now)
    return require_agent(conn, name), existing is None


def set_status(conn: Connection, agent_id: int, status: AgentStatus, now: datetime) -> None:
    """Set the agent's presence; an agent who becomes ``available`` serves the hold queues
    of their teams (:mod:`workflows.people.serving`)."""
    changed = conn.execute(
        update(agents).where(agents.c.id == agent_id).values(status=status, updated_at=now)
    ).rowcount
    if not changed:
        raise UnknownAgent(str(agent_id))
    if status == "available":
        agent_became_available(conn, agent_id, now)


def delete_agent(conn: Connection, name: str) -> int:
    """Delete the agent ``name`` (its memberships go with it; its conversations become
    unassigned); its id. :class:`UnknownAgent` when there is none."""
    agent = require_agent(conn, name)
    conn.execute(delete(team_members).where(team_members.c.agent_id == agent.id))
    conn.execute(delete(agents).where(agents.c.id == agent.id))
    return agent.id
