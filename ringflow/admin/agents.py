"""Admin API for agents: list, read, create or replace, delete; and, for an agent's own
token, ``/me`` (who am I) and ``/me/status`` (available, away, offline).

Agents are addressed by name (``/agents/alice``). Deleting an agent revokes its tokens and
leaves its conversations unassigned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection

from ringflow.admin.context import Text, admin_of, caller, path_name
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import ApiProblem, not_found
from ringflow.admin.tokens import revoke_agent_tokens
from workflows.people.agents import (
    Agent,
    AgentFields,
    AgentStatus,
    EndpointKind,
    agent_by_id,
    delete_agent,
    find_agent,
    list_agents,
    put_agent,
    set_status,
)
from workflows.people.agents import (
    Endpoint as AgentEndpoint,
)
from workflows.people.errors import UnknownAgent

Language = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
"""A language tag such as ``en`` or ``ko-KR``."""
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,190}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointModel(Strict):
    kind: EndpointKind = Field(description="phone (E.164), sip (a SIP URI) or client (an id)")
    address: Annotated[Text, Field(min_length=1, max_length=255)]


class AgentIn(Strict):
    """Everything about an agent but its name (in the path)."""

    display_name: Annotated[Text, Field(max_length=255)] | None = None
    email: Email | None = None
    endpoints: list[EndpointModel] = Field(default_factory=list, max_length=20)
    languages: list[Language] = Field(default_factory=list, max_length=20)
    status: AgentStatus = "offline"
    max_open: int = Field(default=10, ge=0, le=10_000, description="most open conversations")


class AgentOut(Strict):
    name: str
    display_name: str | None
    email: str | None
    endpoints: list[EndpointModel]
    languages: list[str]
    status: AgentStatus
    max_open: int
    teams: list[str]
    on_call: bool = Field(description="on a call now: their leg answered and has not ended")
    wrap_up_until: datetime | None = Field(
        description="in their team's wrap-up after their last call until then; null when not"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, agent: Agent, now: datetime) -> AgentOut:
        """``agent`` as the API shows it at ``now``."""
        fields = agent.fields
        busy_until = agent.busy_until
        return cls(
            name=agent.name,
            display_name=fields.display_name,
            email=fields.email,
            endpoints=[EndpointModel(kind=e.kind, address=e.address) for e in fields.endpoints],
            languages=list(fields.languages),
            status=fields.status,
            max_open=fields.max_open,
            teams=list(agent.teams),
            on_call=agent.on_call,
            wrap_up_until=busy_until if busy_until is not None and busy_until > now else None,
            created_at=agent.created_at,
            updated_at=agent.updated_at,
        )


class StatusIn(Strict):
    status: AgentStatus


def _fields(body: AgentIn) -> AgentFields:
    return AgentFields(
        display_name=body.display_name,
        email=body.email,
        endpoints=tuple(AgentEndpoint(e.kind, e.address) for e in body.endpoints),
        languages=tuple(body.languages),
        status=body.status,
        max_open=body.max_open,
    )


async def list_all_agents(request: web.Request) -> web.Response:
    found = await admin_of(request).db.read(list_agents)
    now = admin_of(request).clock()
    return json_answer([AgentOut.of(agent, now) for agent in found])


async def get_agent(request: web.Request) -> web.Response:
    name = path_name(request, "agent", "agent")
    agent = await admin_of(request).db.read(lambda conn: find_agent(conn, name))
    if agent is None:
        raise not_found(f"agent {name!r}")
    return json_answer(AgentOut.of(agent, admin_of(request).clock()))


async def put_agent_fields(request: web.Request) -> web.Response:
    """Create the agent or replace its fields; 201 when it is new."""
    admin = admin_of(request)
    name = path_name(request, "agent", "agent")
    body = await json_body(request, AgentIn)
    now = admin.clock()
    agent, created = await admin.db.write(lambda conn: put_agent(conn, name, _fields(body), now))
    return json_answer(AgentOut.of(agent, now), status=201 if created else 200)


async def remove_agent(request: web.Request) -> web.Response:
    admin = admin_of(request)
    name = path_name(request, "agent", "agent")
    now = admin.clock()

    def remove(conn: Connection) -> None:
        agent_id = delete_agent(conn, name)
        revoke_agent_tokens(conn, agent_id, now)

    try:
        await admin.db.write(remove)
    except UnknownAgent:
        raise not_found(f"agent {name!r}") from None
    return web.Response(status=204)


def _own_agent_id(request: web.Request) -> int:
    agent_id = caller(request).agent_id
    if agent_id is None:
        raise ApiProblem(409, "this is an admin token, not an agent's (see /agents/{agent})")
    return agent_id


async def get_me(request: web.Request) -> web.Response:
    agent_id = _own_agent_id(request)
    agent = await admin_of(request).db.read(lambda conn: agent_by_id(conn, agent_id))
    if agent is None:
        raise not_found("this token's agent")
    return json_answer(AgentOut.of(agent, admin_of(request).clock()))


async def put_my_status(request: web.Request) -> web.Response:
    admin = admin_of(request)
    body = await json_body(request, StatusIn)
    agent_id = _own_agent_id(request)
    now = admin.clock()

    def change(conn: Connection) -> Agent | None:
        set_status(conn, agent_id, body.status, now)
        return agent_by_id(conn, agent_id)

    try:
        agent = await admin.db.write(change)
    except UnknownAgent:
        raise not_found("this token's agent") from None
    assert agent is not None
    return json_answer(AgentOut.of(agent, admin_of(request).clock()))


def endpoints() -> list[Endpoint]:
    """The agent endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "agents"
    one = "/agents/{agent}"
    return [
        Endpoint(
            "GET", "/agents", list_all_agents, "List agents, by name", tag, answer=list[AgentOut]
        ),
        Endpoint("GET", one, get_agent, "An agent", tag, answer=AgentOut, errors=(404,)),
        Endpoint(
            "PUT",
            one,
            put_agent_fields,
            "Create an agent or replace its fields",
            tag,
            body=Body(model=AgentIn, description="The agent's fields; its name is in the path."),
            answer=AgentOut,
            also=(201,),
            errors=(400, 404, 422),
            description="Answers 201 when the agent was created, 200 when it existed.",
        ),
        Endpoint(
            "DELETE",
            one,
            remove_agent,
            "Delete an agent: its tokens are revoked, its conversations unassigned",
            tag,
            status=204,
            errors=(404,),
        ),
        Endpoint(
            "GET",
            "/me",
            get_me,
            "The agent this token acts as",
            tag,
            answer=AgentOut,
            errors=(404, 409),
            agents=True,
        ),
        Endpoint(
            "PUT",
            "/me/status",
            put_my_status,
            "Set the presence of the agent this token acts as",
            tag,
            body=Body(model=StatusIn, description="available, away or offline"),
            answer=AgentOut,
            errors=(400, 404, 409, 422),
            agents=True,
        ),
    ]


def register(api: Api) -> None:
    """Add the agent endpoints to ``api``."""
    api.add(*endpoints())
