"""Admin API for teams: list, read, create or replace (members, strategy, schedule, ring
strategy and wrap-up for calls), delete.

Teams are addressed by name (``/teams/support``). Members are agent names; one that is not an
agent, or a schedule that is not a named schedule, is a 422 naming the field.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from ringflow.admin.context import Name, admin_of, path_name, unprocessable
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import not_found
from workflows.people.errors import UnknownAgent, UnknownTeam
from workflows.people.routing import RingStrategy
from workflows.people.teams import (
    Strategy,
    Team,
    TeamFields,
    delete_team,
    find_team,
    list_teams,
    put_team,
)


class TeamIn(BaseModel):
    """Everything about a team but its name (in the path)."""

    model_config = ConfigDict(extra="forbid")
    strategy: Strategy = Field(
        default="round_robin", description="how a conversation given to the team picks its agent"
    )
    schedule: Name | None = Field(default=None, description="the team's business hours")
    members: list[Name] = Field(default_factory=list, max_length=500, description="agent names")
    ring_strategy: RingStrategy = Field(
        default="ring_all",
        description="how a call to the team rings its free agents: ring_all (at once), "
        "round_robin or longest_idle (one at a time)",
    )
    wrap_up: int = Field(
        default=0, ge=0, le=3600, description="seconds an agent stays busy after a call"
    )

    def fields(self) -> TeamFields:
        """The team's fields as the domain stores them."""
        return TeamFields(
            self.strategy, self.schedule, tuple(self.members), self.ring_strategy, self.wrap_up
        )


class TeamOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    strategy: Strategy
    schedule: str | None
    members: list[str]
    ring_strategy: RingStrategy
    wrap_up: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        return cls(
            name=team.name,
            strategy=team.fields.strategy,
            schedule=team.fields.schedule,
            members=list(team.fields.members),
            ring_strategy=team.fields.ring_strategy,
            wrap_up=team.fields.wrap_up,
            created_at=team.created_at,
            updated_at=team.updated_at,
        )


async def list_all_teams(request: web.Request) -> web.Response:
    found = await admin_of(request).db.read(list_teams)
    return json_answer([TeamOut.of(team) for team in found])


async def get_team(request: web.Request) -> web.Response:
    name = path_name(request, "team", "team")
    team = await admin_of(request).db.read(lambda conn: find_team(conn, name))
    if team is None:
        raise not_found(f"team {name!r}")
    return json_answer(TeamOut.of(team))


async def put_team_fields(request: web.Request) -> web.Response:
    """Create the team or replace its fields and members; 201 when it is new."""
    admin = admin_of(request)
    name = path_name(request, "team", "team")
    body = await json_body(request, TeamIn)
    if body.schedule is not None and body.schedule not in admin.schedule_names():
        known = ", ".join(sorted(admin.schedule_names())) or "none"
        raise unprocessable("body.schedule", f"no schedule named {body.schedule!r} ({known})")
    fields = body.fields()
    now = admin.clock()

    def store(conn: Connection) -> tuple[Team, bool]:
        return put_team(conn, name, fields, now)

    try:
        team, created = await admin.db.write(store)
    except UnknownAgent as error:
        index = body.members.index(str(error))
        raise unprocessable(f"body.members.{index}", f"no agent named {error}") from None
    return json_answer(TeamOut.of(team), status=201 if created else 200)


async def remove_team(request: web.Request) -> web.Response:
    admin = admin_of(request)
    name = path_name(request, "team", "team")
    try:
        await admin.db.write(lambda conn: delete_team(conn, name))
    except UnknownTeam:
        raise not_found(f"team {name!r}") from None
    return web.Response(status=204)


def endpoints() -> list[Endpoint]:
    """The team endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "teams"
    one = "/teams/{team}"
    return [
        Endpoint("GET", "/teams", list_all_teams, "List teams, by name", tag, answer=list[TeamOut]),
        Endpoint(
            "GET", one, get_team, "A team and its members", tag, answer=TeamOut, errors=(404,)
        ),
        Endpoint(
            "PUT",
            one,
            put_team_fields,
            "Create a team or replace its strategy, schedule and members",
            tag,
            body=Body(model=TeamIn, description="The team's fields; its name is in the path."),
            answer=TeamOut,
            also=(201,),
            errors=(400, 404, 422),
            description="Answers 201 when the team was created, 200 when it existed.",
        ),
        Endpoint(
            "DELETE",
            one,
            remove_team,
            "Delete a team (its conversations keep their agent)",
            tag,
            status=204,
            errors=(404,),
        ),
    ]


def register(api: Api) -> None:
    """Add the team endpoints to ``api``."""
    api.add(*endpoints())
