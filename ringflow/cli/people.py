"""``ringflow agents ...`` and ``ringflow teams ...``: agents, teams and agent tokens, on the
configured database (like ``ringflow token``), validated by the same models as the API.

``ringflow agents token NAME`` prints a new token bound to the agent (its earlier tokens are
revoked): with it the agent can list and act on conversations and set its own status, and
gets 403 everywhere else.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from ringflow.admin.agents import AgentIn
from ringflow.admin.teams import TeamIn
from ringflow.admin.tokens import create_token, revoke_agent_tokens
from ringflow.cli.common import Commands, add_command
from ringflow.clock import system_clock
from ringflow.database import Database
from ringflow.settings import load_settings
from workflows.people.agents import (
    AgentFields,
    Endpoint,
    delete_agent,
    list_agents,
    put_agent,
    require_agent,
    set_status,
    valid_name,
)
from workflows.people.errors import PeopleError
from workflows.people.teams import delete_team, list_teams, put_team


class CliRefused(Exception):
    """Bad input or an unknown name: printed as ``error: ...``, exit status 1."""


def _run(work: Callable[[Database], Awaitable[str]]) -> int:
    from ringflow.resources.database import open_database  # opened and migrated

    async def main() -> str:
        db = await open_database(load_settings())
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        print(asyncio.run(main()))
    except (CliRefused, PeopleError) as error:
        print(f"error: {_words(error)}", file=sys.stderr)
        return 1
    return 0


def _words(error: Exception) -> str:
    if isinstance(error, LookupError):
        return f"no such agent or team: {error.args[0]}"
    return str(error)


def _valid(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        lines = [
            f"--{'.'.join(str(p) for p in d['loc']).replace('_', '-')}: {d['msg']}"
            for d in error.errors()
        ]
        raise CliRefused("; ".join(lines)) from None


def _name(raw: str) -> str:
    if not valid_name(raw):
        raise CliRefused(f"{raw!r} is not a name (letters, digits, . _ -, at most 64)")
    return raw


def cmd_agents(args: argparse.Namespace) -> int:
    now = system_clock()

    async def work(db: Database) -> str:
        if args.action == "list":
            rows = await db.read(list_agents)
            return (
                "\n".join(
                    f"{a.name:<20} {a.fields.status:<10} max {a.fields.max_open:<4}"
                    f" {','.join(a.teams) or '-'}"
                    for a in rows
                )
                or "no agents (ringflow agents add NAME)"
            )
        name = _name(args.name or "")
        if args.action == "add":
            endpoints = [
                *({"kind": "phone", "address": a} for a in args.phone),
                *({"kind": "sip", "address": a} for a in args.sip),
                *({"kind": "client", "address": a} for a in args.client),
            ]
            body: AgentIn = _valid(
                AgentIn,
                {
                    "display_name": args.display_name,
                    "email": args.email,
                    "endpoints": endpoints,
                    "languages": args.language,
                    "status": args.status,
                    "max_open": args.max_open,
                },
            )
            fields = AgentFields(
                body.display_name,
                body.email,
                tuple(Endpoint(e.kind, e.address) for e in body.endpoints),
                tuple(body.languages),
                body.status,
                body.max_open,
            )
            agent, created = await db.write(lambda conn: put_agent(conn, name, fields, now))
            return f"agent {agent.name} {'created' if created else 'updated'}"
        if args.action == "status":
            if args.value not in ("available", "away", "offline"):
                raise CliRefused("the status is available, away or offline")

            def change(conn: Connection) -> None:
                set_status(conn, require_agent(conn, name).id, args.value, now)

            await db.write(change)
            return f"agent {name} is {args.value}"
        if args.action == "remove":

            def remove(conn: Connection) -> None:
                revoke_agent_tokens(conn, delete_agent(conn, name), now)

            await db.write(remove)
            return f"agent {name} removed (its tokens revoked)"

        def token(conn: Connection) -> str:
            agent = require_agent(conn, name)
            revoke_agent_tokens(conn, agent.id, now)
            label = f"agent:{name}:{secrets.token_hex(3)}"
            return create_token(conn, label[:64], now, agent_id=agent.id)

        made = await db.write(token)
        return (
            f"{made}\n(agent {name}'s token: shown this once; its earlier tokens are revoked."
            " It may list and act on conversations and set its status, nothing else)"
        )

    return _run(work)


def cmd_teams(args: argparse.Namespace) -> int:
    now = system_clock()

    async def work(db: Database) -> str:
        if args.action == "list":
            rows = await db.read(list_teams)
            return (
                "\n".join(
                    f"{t.name:<20} {t.fields.strategy:<12} {t.fields.ring_strategy:<13}"
                    f" {t.fields.schedule or '-':<12} {','.join(t.fields.members) or '-'}"
                    for t in rows
                )
                or "no teams (ringflow teams add NAME --member AGENT)"
            )
        name = _name(args.name or "")
        if args.action == "remove":
            await db.write(lambda conn: delete_team(conn, name))
            return f"team {name} removed"
        body: TeamIn = _valid(
            TeamIn,
            {
                "strategy": args.strategy,
                "schedule": args.schedule,
                "members": args.member,
                "ring_strategy": args.ring_strategy,
                "wrap_up": args.wrap_up,
            },
        )
        if body.schedule is not None:
            known = await _schedule_names(db)
            if body.schedule not in known:
                names = ", ".join(sorted(known)) or "none"
                raise CliRefused(f"--schedule: no schedule named {body.schedule!r} ({names})")
        fields = body.fields()
        team, created = await db.write(lambda conn: put_team(conn, name, fields, now))
        return f"team {team.name} {'created' if created else 'updated'}"

    return _run(work)


async def _schedule_names(db: Database) -> set[str]:
    """The named schedules the server knows: its files and those stored through the API."""
    from ringflow.resources.catalog import load_schedules
    from workflows.schedules.stored import load_stored

    stored = await db.read(load_stored)
    return set(load_schedules(load_settings()).names) | set(stored)


def add_to(commands: Commands) -> None:
    """Add ``agents`` and ``teams`` to the ``ringflow`` command's subcommands."""
    agents = add_command(
        commands,
        "agents",
        summary="agents: list, add NAME (or update), status NAME STATUS, remove NAME, token NAME",
        description=(
            "The people who answer conversations, on the configured database. `token NAME`"
            " prints a new token bound to the agent (its earlier ones are revoked): with it the"
            " agent can list and act on conversations and set its own status, nothing else."
        ),
        examples=(
            "  $ ringflow agents add alice --display-name 'Alice Kim' --language en"
            " --status available\n"
            "  $ ringflow agents status alice away\n"
            "  $ ringflow agents token alice\n"
            "  $ ringflow agents list"
        ),
    )
    agents.add_argument("action", choices=["list", "add", "status", "remove", "token"])
    agents.add_argument("name", nargs="?", help="the agent's name (a handle, e.g. alice)")
    agents.add_argument("value", nargs="?", help="status: available, away or offline")
    agents.add_argument("--display-name", help="add: the name people see")
    agents.add_argument("--email", help="add: the agent's email")
    agents.add_argument("--phone", action="append", default=[], help="add: a phone number")
    agents.add_argument("--sip", action="append", default=[], help="add: a SIP URI")
    agents.add_argument("--client", action="append", default=[], help="add: a client identity")
    agents.add_argument("--language", action="append", default=[], help="add: e.g. en, ko")
    agents.add_argument("--status", default="offline", help="add: available, away, offline")
    agents.add_argument("--max-open", type=int, default=10, help="add: most open conversations")
    agents.set_defaults(run=cmd_agents)

    teams = add_command(
        commands,
        "teams",
        summary="teams: list, add NAME (or update), remove NAME",
        description=(
            "Teams of agents that conversations are assigned to: who is in them, how the next"
            " conversation picks a member (round_robin or least_busy) and their business hours."
        ),
        examples=(
            "  $ ringflow teams add support --strategy least_busy --schedule office"
            " --member alice --member bob\n"
            "  $ ringflow teams add sales --ring-strategy longest_idle --wrap-up 30"
            " --member carol\n"
            "  $ ringflow teams list"
        ),
    )
    teams.add_argument("action", choices=["list", "add", "remove"])
    teams.add_argument("name", nargs="?", help="the team's name")
    teams.add_argument("--strategy", default="round_robin", help="add: round_robin or least_busy")
    teams.add_argument("--schedule", help="add: the named business-hours schedule")
    teams.add_argument(
        "--ring-strategy",
        default="ring_all",
        help="add: how calls ring the team's free agents: ring_all, round_robin, longest_idle",
    )
    teams.add_argument(
        "--wrap-up", type=int, default=0, help="add: seconds an agent stays busy after a call"
    )
    teams.add_argument("--member", action="append", default=[], help="add: an agent's name")
    teams.set_defaults(run=cmd_teams)
