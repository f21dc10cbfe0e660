"""Conversations benchmark: conversation timers firing at 1,000 a second through two
``ringflow worker`` processes, and a team's unanswered inbox, at 10,000 open conversations on
PostgreSQL.

1. **Seed** (untimed): teams, agents, contacts, and ``--conversations`` open conversations
   with their texts (``messages``) and timelines, written in bulk into the domain tables; some
   are unanswered (the contact's latest text has no agent reply since), some unassigned.
2. **Inbox**: the unanswered conversations of a team, one page (50), as the domain function
   (:func:`workflows.conversations.inbox.list_conversations`) and as the admin API answers it
   over HTTP (``GET /api/conversations?team=...&unanswered=true``, a ``ringflow serve``
   process, a bearer token), one request at a time. Baselines in the same run, interleaved:
   one conversation by its primary key (``load`` / ``GET /api/conversations/{id}``) and the
   first page with no filter.
3. **Timers**: two ``ringflow worker`` processes on the database. For each phase,
   ``--rate`` jobs fall due per second for ``--window`` seconds (inserted beforehand, due
   times evenly spaced); the phase ends when all have finished. Firing lag is a job's
   ``finished_at`` minus its ``due_at`` (when its outcome was committed, so it includes the
   claim, the handler and the commit). Baseline, in the same run: as many jobs of a kind no
   handler is registered for, through the same queue and workers (claimed, then marked dead
   in one write: what the queue costs without any handler). Each timer kind of
   :data:`TIMER_KINDS` is then fired on the seeded conversations, its condition holding,
   so its handler re-checks the conversation and changes it.

Usage: ``python -m bench.conversations --database-url postgresql://.../ringflow_bench``
(see bench/README.md). The database's ``public`` schema is dropped and created again: the
benchmark refuses a database whose name does not contain "bench" or "test". Exit status 1
when a timer did not fire as it should (or the benchmark could not run); the targets (p99
lag <= 1 s, inbox <= 50 ms) are reported, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.engine import make_url

from bench.harness import HOST, BenchError, loads, percentile, process_cpu_seconds
from bench.processes import (
    background_process,
    free_port,
    pinned_server,
    python_command,
    server_env,
)
from ringflow.database import Database, open_database
from ringflow.migrate import upgrade
from sms.db import messages
from workflows.automations.raising import CONVERSATION_TIMER_JOB
from workflows.contacts_db import contacts
from workflows.conversations.actions import WAKE_JOB
from workflows.conversations.db import conversation_events, conversation_tags, conversations
from workflows.conversations.inbox import InboxFilter, list_conversations
from workflows.conversations.model import load
from workflows.jobs.db import jobs
from workflows.loader import Workflow, from_text
from workflows.people.db import agents, team_members, teams
from workflows.triggers import NO_AGENT_REPLY, UNANSWERED
from workflows.versions import save_workflow

BUSINESS_NUMBERS = ("+15005550001", "+15005550002")
PAGE = 50
NOOP_KIND = "bench.no_handler"
"""The baseline's job kind: no handler is registered for it, so a worker claims such a job
and marks it dead in one write (no log line): the queue's own cost."""
INBOX_TARGET_MS = 50.0
LAG_TARGET_MS = 1000.0


# --- timer kinds ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimerKind:
    """A conversation timer this benchmark fires: its job kind, the values the conversation's
    row needs for the timer's condition to hold when it fires (given the moment the timer is
    set and its due time; the benchmark also counts the change in ``state_version``, as every
    state change does), and the timeline event its firing records.

    Without ``trigger``, a timer of the conversation's own (``conversation.wake``): payload
    ``{"conversation_id", "state_version"}``, the state version the timer was set at. With
    ``trigger``, an automation timer (``conversation.timer``): the benchmark records the
    ``message.received`` event that set it (at the moment it is set, as the domain does), and
    its payload is ``{"event_id", "trigger", "workflow_id"}``; the workflow ``bench-<trigger>``
    (:func:`bench_workflow`, installed before the workers start) adds an internal note."""

    job_kind: str
    holds: Callable[[datetime, datetime], Mapping[str, Any]]
    fired_event: str
    trigger: str | None = None


def _unanswered(set_at: datetime, _due: datetime) -> Mapping[str, Any]:
    """Open, the contact's text of ``set_at`` the latest, no agent reply since."""
    return {"status": "open", "last_customer_message_at": set_at, "last_agent_message_at": None}


def _no_agent_reply(set_at: datetime, _due: datetime) -> Mapping[str, Any]:
    """Open, never answered by an agent."""
    return {"status": "open", "first_response_at": None, "last_customer_message_at": set_at}


TIMER_KINDS: dict[str, TimerKind] = {
    "wake": TimerKind(
        WAKE_JOB, lambda _set_at, due: {"status": "snoozed", "snoozed_until": due}, "woke"
    ),
    "unanswered": TimerKind(CONVERSATION_TIMER_JOB, _unanswered, "note", UNANSWERED),
    "no_agent_reply": TimerKind(CONVERSATION_TIMER_JOB, _no_agent_reply, "note", NO_AGENT_REPLY),
}
"""Every conversation timer kind the benchmark fires, by the name ``--timers`` takes: a new
kind is one line here."""


def bench_workflow(trigger: str) -> Workflow:
    """The workflow an automation timer of ``trigger`` starts: one internal note (what recipe
    12, the unanswered alert, writes first), so its cost is the timer's, not a provider's."""
    return from_text(
        f"""
id: bench-{trigger.replace("_", "-")}
trigger: {{event: {trigger}, after: 60}}
start: flag
steps:
  flag: {{note: "Timer {trigger} fired"}}
""",
        "bench.yaml",
    )


def install_workflows(conn: Connection, kinds: Sequence[str], now: datetime) -> None:
    """Publish the workflow of every automation timer kind in ``kinds``."""
    for name in kinds:
        trigger = TIMER_KINDS[name].trigger
        if trigger is not None:
            save_workflow(conn, bench_workflow(trigger), now, publish_now=True)


# --- options -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """What to run."""

    database_url: str
    conversations: int = 10_000
    teams: int = 8
    agents_per_team: int = 5
    rate: int = 1000
    window: float = 10.0
    workers: int = 2
    lead: float = 3.0
    inbox_requests: int = 300
    timers: tuple[str, ...] = tuple(TIMER_KINDS)
    seed: int = 9
    timeout: float = 120.0

    @property
    def timer_count(self) -> int:
        """Jobs per timer phase."""
        return round(self.rate * self.window)


def parse_options(argv: Sequence[str] | None) -> Options:
    """The command line, checked."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.conversations",
        description="Conversation timers and the unanswered inbox on PostgreSQL (bench/README.md)",
    )
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database to wipe")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=8)
    parser.add_argument("--agents-per-team", type=int, default=5)
    parser.add_argument("--rate", type=int, default=1000, help="timers falling due per second")
    parser.add_argument("--window", type=float, default=10.0, help="seconds timers fall due")
    parser.add_argument("--workers", type=int, default=2, help="ringflow worker processes")
    parser.add_argument("--lead", type=float, default=3.0, help="s from set-up to first due")
    parser.add_argument("--inbox-requests", type=int, default=300, help="per query and baseline")
    parser.add_argument("--timers", default=",".join(TIMER_KINDS), help="timer kinds to fire")
    parser.add_argument("--timeout", type=float, default=120.0, help="s a phase may overrun")
    args = parser.parse_args(argv)
    kinds = tuple(name for name in args.timers.split(",") if name)
    unknown = [name for name in kinds if name not in TIMER_KINDS]
    if unknown:
        parser.error(f"--timers: unknown {', '.join(unknown)} (known: {', '.join(TIMER_KINDS)})")
    opts = Options(
        database_url=args.database_url,
        conversations=args.conversations,
        teams=args.teams,
        agents_per_team=args.agents_per_team,
        rate=args.rate,
        window=args.window,
        workers=args.workers,
        lead=args.lead,
        inbox_requests=args.inbox_requests,
        timers=kinds,
        timeout=args.timeout,
    )
    if min(opts.conversations, opts.teams, opts.agents_per_team, opts.rate, opts.workers) < 1:
        parser.error("counts and --rate must be at least 1")
    if opts.timer_count < 1 or opts.timer_count > opts.conversations:
        parser.error(
            f"--rate x --window = {opts.timer_count} timers: between 1 and --conversations "
            "(each timer is set on a conversation of its own)"
        )
    return opts


def check_database_url(url: str) -> None:
    """BenchError unless ``url`` is a PostgreSQL database named for benchmarks or tests."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise BenchError("--database-url: this benchmark needs PostgreSQL")
    name = parsed.database or ""
    if "bench" not in name and "test" not in name:
        raise BenchError(
            f"--database-url: refusing to wipe database {name!r}; its name must contain "
            "'bench' or 'test' (e.g. createdb ringflow_bench)"
        )


# --- seeding -------------------------------------------------------------------------------


@dataclass(slots=True)
class Seeded:
    """What the seed made: ids the phases use."""

    team_names: dict[int, str]
    conversation_ids: list[int]
    unanswered: int
    messages: int
    events: int


@dataclass(slots=True)
class _Plan:
    """One conversation's rows before insertion."""

    row: dict[str, Any]
    texts: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def plan_conversation(
    rng: random.Random, number: int, team_agents: Mapping[int, list[int]], now: datetime
) -> _Plan:
    """A realistic open conversation: 90 % assigned to a team (70 % of those to one of its
    agents too), one to three turns of texts, the last one unanswered in ~30 % of cases; one
    unanswered text when no team has it yet. Its timeline as the domain records it."""
    contact = f"+1415{2_000_000 + number:07d}"
    business = BUSINESS_NUMBERS[number % len(BUSINESS_NUMBERS)]
    team_id = rng.choice(list(team_agents)) if rng.random() < 0.9 else None
    agent_id = rng.choice(team_agents[team_id]) if team_id and rng.random() < 0.7 else None
    # At least 6 hours ago: three turns of at most 1.5 h each all lie in the past.
    created = now - timedelta(seconds=rng.uniform(6 * 3600, 7 * 86400))
    at = created
    turns = rng.choice((1, 1, 2, 2, 3)) if team_id is not None else 1  # new: not yet assigned
    answered_last = team_id is not None and rng.random() < 0.7
    plan = _Plan({})
    plan.events.append(_event("opened", at, "contact"))
    if team_id is not None:
        data = {"agent_id": agent_id, "team_id": team_id}
        plan.events.append(_event("assigned", at + timedelta(seconds=5), "admin", data=data))
    first_response = last_customer = last_agent = None
    replier = agent_id or (team_agents[team_id][0] if team_id else None)
    for turn in range(turns):
        at += timedelta(seconds=rng.uniform(30, 3600))
        body = f"Hello, question {turn + 1} about my order {number}"
        plan.texts.append(_text("inbound", contact, business, body, at))
        plan.events.append(_event("message.received", at, "contact", body=body))
        last_customer = at
        if turn < turns - 1 or answered_last:
            at += timedelta(seconds=rng.uniform(20, 1800))
            reply = f"Thanks, we are looking at order {number}."
            plan.texts.append(_text("outbound", contact, business, reply, at))
            plan.events.append(_event("agent.replied", at, "agent", body=reply, agent=replier))
            first_response = first_response or at
            last_agent = at
    if rng.random() < 0.2:
        plan.tags.append(rng.choice(("billing", "vip", "shipping")))
    plan.row = {
        "business_number": business,
        "contact_number": contact,
        "channel": "sms",
        "created_at": created,
        "last_message_at": at,
        "status": "open",
        "priority": rng.choices(("urgent", "high", "normal", "low"), (5, 15, 70, 10))[0],
        "assignee_agent_id": agent_id,
        "assignee_team_id": team_id,
        "first_response_at": first_response,
        "last_customer_message_at": last_customer,
        "last_agent_message_at": last_agent,
        "state_version": 1 if team_id is not None else 0,
    }
    return plan


def _text(direction: str, contact: str, business: str, body: str, at: datetime) -> dict[str, Any]:
    inbound = direction == "inbound"
    sid = "SM" + secrets.token_hex(16)
    return {
        "direction": direction,
        "contact_number": contact,
        "from_number": contact if inbound else business,
        "to_number": business if inbound else contact,
        "body": body,
        "encoding": "GSM-7",
        "segments": 1,
        "status": "received" if inbound else "delivered",
        "provider": "twilio",
        "provider_id": sid,
        "idempotency_key": f"bench:{sid}",
        "created_at": at,
        "updated_at": at,
        "sent_at": None if inbound else at,
        "delivered_at": None if inbound else at,
    }


def _event(
    kind: str,
    at: datetime,
    actor: str,
    *,
    data: dict[str, Any] | None = None,
    body: str | None = None,
    agent: int | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "at": at,
        "actor_type": actor,
        "actor_agent_id": agent,
        "actor_name": None,
        "data": data or {},
        "body": body,
    }


def seed(conn: Connection, opts: Options, now: datetime) -> Seeded:
    """Teams, agents, contacts and open conversations with texts and timelines, in bulk."""
    rng = random.Random(opts.seed)
    team_rows: list[dict[str, Any]] = [
        {"name": f"team-{t}", "strategy": "round_robin", "created_at": now, "updated_at": now}
        for t in range(opts.teams)
    ]
    team_ids = _insert_returning(conn, teams, team_rows)
    team_agents: dict[int, list[int]] = {}
    for index, team_id in enumerate(team_ids):
        agent_rows = [
            {
                "name": f"agent-{index}-{a}",
                "endpoints": [],
                "languages": ["en"],
                "status": "available",
                "max_open": 50,
                "created_at": now,
                "updated_at": now,
            }
            for a in range(opts.agents_per_team)
        ]
        team_agents[team_id] = _insert_returning(conn, agents, agent_rows)
        conn.execute(
            insert(team_members),
            [{"team_id": team_id, "agent_id": a} for a in team_agents[team_id]],
        )
    plans = [plan_conversation(rng, n, team_agents, now) for n in range(opts.conversations)]
    conn.execute(
        insert(contacts),
        [
            {
                "number": p.row["contact_number"],
                "attributes": {},
                "created_at": now,
                "updated_at": now,
            }
            for p in plans
        ],
    )
    ids = _insert_returning(conn, conversations, [p.row for p in plans])
    texts = [(cid, text_row) for cid, p in zip(ids, plans, strict=True) for text_row in p.texts]
    text_ids = iter(_insert_returning(conn, messages, [row for _cid, row in texts]))
    events: list[dict[str, Any]] = []
    for cid, plan in zip(ids, plans, strict=True):
        for event in plan.events:
            about_text = event["kind"] in ("message.received", "agent.replied")
            events.append(
                {
                    **event,
                    "conversation_id": cid,
                    "message_id": next(text_ids) if about_text else None,
                }
            )
    conn.execute(insert(conversation_events), events)
    tags = [
        {"conversation_id": cid, "tag": t}
        for cid, p in zip(ids, plans, strict=True)
        for t in p.tags
    ]
    if tags:
        conn.execute(insert(conversation_tags), tags)
    unanswered = sum(
        1
        for p in plans
        if p.row["last_agent_message_at"] is None
        or p.row["last_agent_message_at"] < p.row["last_customer_message_at"]
    )
    return Seeded(
        {team_id: row["name"] for team_id, row in zip(team_ids, team_rows, strict=True)},
        ids,
        unanswered,
        len(texts),
        len(events),
    )


def _insert_returning(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` in bulk; their new ids, in the order of ``rows``."""
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [int(row.id) for row in conn.execute(statement, rows)]


async def reset_schema(url: str) -> None:
    """An empty ``public`` schema, then Ringflow's migrations."""
    db = await open_database(url)
    try:
        await db.write(lambda conn: conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE")))
        await db.write(lambda conn: conn.execute(text("CREATE SCHEMA public")))
        await upgrade(db)
    finally:
        await db.close()


# --- timing helpers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timings:
    """Latencies (s) of one kind of request."""

    name: str
    seconds: list[float]

    def ms(self, fraction: float) -> float:
        """A percentile, in milliseconds."""
        return percentile(sorted(self.seconds), fraction) * 1000


async def timed(
    calls: Sequence[tuple[str, Callable[[int], Awaitable[object]]]], count: int
) -> list[Timings]:
    """Run each call ``count`` times, interleaved (call i of every kind, then i + 1...)."""
    found: dict[str, list[float]] = {name: [] for name, _call in calls}
    for number in range(count):
        for name, call in calls:
            started = time.perf_counter()
            await call(number)
            found[name].append(time.perf_counter() - started)
    return [Timings(name, seconds) for name, seconds in found.items()]


# --- the inbox -----------------------------------------------------------------------------


def _check_page(page: Sequence[Any], team_id: int) -> None:
    for conversation in page:
        if not conversation.unanswered or conversation.assignee_team_id != team_id:
            raise BenchError(f"the inbox listed conversation {conversation.id}, not in its filter")


async def inbox_in_process(db: Database, seeded: Seeded, count: int) -> list[Timings]:
    """The domain query against its baselines, through ``Database.read`` as the API does."""
    team_ids = list(seeded.team_names)
    ids = seeded.conversation_ids

    async def unanswered(number: int) -> None:
        team_id = team_ids[number % len(team_ids)]
        chosen = InboxFilter(team_id=team_id, unanswered=True)
        page, _ = await db.read(partial(list_conversations, chosen=chosen, limit=PAGE))
        _check_page(page, team_id)

    async def everything(_number: int) -> None:
        await db.read(partial(list_conversations, chosen=InboxFilter(), limit=PAGE))

    async def one(number: int) -> None:
        await db.read(partial(load, conversation_id=ids[(number * 7919) % len(ids)]))

    calls = [("team unanswered", unanswered), ("no filter", everything), ("by id", one)]
    return await timed(calls, count)


async def inbox_over_http(base_url: str, token: str, seeded: Seeded, count: int) -> list[Timings]:
    """The admin API's answers, one request at a time, against its baselines."""
    names = list(seeded.team_names.values())
    ids = seeded.conversation_ids
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def get(path: str) -> dict[str, Any]:
            async with session.get(base_url + path) as response:
                if response.status != 200:
                    raise BenchError(f"GET {path}: {response.status} {await response.text()}")
                body: dict[str, Any] = await response.json()
                return body

        async def unanswered(number: int) -> None:
            team = names[number % len(names)]
            body = await get(f"/api/conversations?team={team}&unanswered=true&limit={PAGE}")
            items = body["items"]
            if any(not item["unanswered"] or item["assignee"]["team"] != team for item in items):
                raise BenchError(f"GET /api/conversations?team={team}: listed others")

        async def everything(_number: int) -> None:
            await get(f"/api/conversations?limit={PAGE}")

        async def one(number: int) -> None:
            await get(f"/api/conversations/{ids[(number * 7919) % len(ids)]}")

        await timed([("warm-up", unanswered), ("warm-up 2", one)], 10)
        calls = [("team unanswered", unanswered), ("no filter", everything), ("by id", one)]
        return await timed(calls, count)


@contextlib.contextmanager
def api_server(url: str, token: str, work: Path) -> Iterator[str]:
    """``ringflow serve`` on the database, with no worker of its own; its base URL."""
    port = free_port()
    command = python_command("-m", "server", "serve", "--host", HOST, "--port", str(port))
    env = server_env(
        {
            "RINGFLOW_DATABASE_URL": url,
            "RINGFLOW_DATA_DIR": str(work / "serve"),
            "RINGFLOW_WORKER": "false",
            "RINGFLOW_ADMIN_TOKEN": token,
            "RINGFLOW_LOG_LEVEL": "WARNING",
        }
    )
    with pinned_server("ringflow serve", command, env, port, None, work / "serve.log") as server:
        yield server.base_url


# --- timers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Firing:
    """One timer phase: what fired, how late, and what the workers spent."""

    name: str
    jobs: int
    lags: list[float]
    seconds: float
    worker_cpu: float
    database_cpu: float | None
    load: float
    """The 1-minute load average at the phase's end (the machine is shared)."""
    outcomes: dict[str, int]
    fired_events: int | None

    @property
    def per_second(self) -> float:
        """Jobs finished per second, from the first due time to the last finish."""
        return self.jobs / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        """Worker CPU (both processes) per job, in microseconds."""
        return self.worker_cpu / self.jobs * 1e6 if self.jobs else 0.0

    @property
    def database_cpu_us(self) -> float | None:
        """CPU of the database's server processes serving this database, per job, in
        microseconds (None when /proc could not tell)."""
        if self.database_cpu is None or not self.jobs:
            return None
        return self.database_cpu / self.jobs * 1e6

    def lag_ms(self, fraction: float) -> float:
        """A lag percentile, in milliseconds."""
        return percentile(sorted(self.lags), fraction) * 1000


def due_times(start: datetime, count: int, rate: int) -> list[datetime]:
    """``count`` moments from ``start``, ``rate`` a second, evenly spaced."""
    return [start + timedelta(seconds=i / rate) for i in range(count)]


def set_timers(
    conn: Connection,
    kind: TimerKind | None,
    key: str,
    conversation_ids: Sequence[int],
    dues: Sequence[datetime],
    now: datetime,
) -> None:
    """The phase's jobs (and, for a timer kind, the conversation state its condition needs),
    in one transaction as the domain would write them; ``kind`` None: the baseline's jobs."""
    payloads: list[dict[str, Any]] = []
    if kind is None:
        payloads = [{"number": i} for i in range(len(dues))]
    else:
        chosen = list(conversation_ids[: len(dues)])
        versions = dict(
            conn.execute(
                select(conversations.c.id, conversations.c.state_version).where(
                    conversations.c.id.in_(chosen)
                )
            ).all()
        )
        changes = [
            {"b_id": cid, "b_state_version": versions[cid] + 1}
            | {f"b_{column}": value for column, value in kind.holds(now, due).items()}
            for cid, due in zip(chosen, dues, strict=True)
        ]
        columns = [name.removeprefix("b_") for name in changes[0] if name != "b_id"]
        conn.execute(
            update(conversations)
            .where(conversations.c.id == bindparam("b_id"))
            .values({column: bindparam(f"b_{column}") for column in columns}),
            changes,
        )
        if kind.trigger is None:
            payloads = [
                {"conversation_id": c["b_id"], "state_version": c["b_state_version"]}
                for c in changes
            ]
        else:
            body = "Is anyone there?"
            event_rows = [
                _event("message.received", now, "contact", body=body) | {"conversation_id": cid}
                for cid in chosen
            ]
            workflow_id = bench_workflow(kind.trigger).id
            payloads = [
                {"event_id": event_id, "trigger": kind.trigger, "workflow_id": workflow_id}
                for event_id in _insert_returning(conn, conversation_events, event_rows)
            ]
    job_kind = NOOP_KIND if kind is None else kind.job_kind
    conn.execute(
        insert(jobs),
        [
            {
                "kind": job_kind,
                "payload": payload,
                "dedupe_key": f"{key}:{number}",
                "status": "queued",
                "due_at": due,
                "attempts": 0,
                "max_attempts": 8,
                "created_at": now,
                "updated_at": now,
            }
            for number, (payload, due) in enumerate(zip(payloads, dues, strict=True))
        ],
    )


def _phase_rows(conn: Connection, key: str) -> tuple[int, int, dict[str, int]]:
    """(jobs of the phase, finished ones, count by status)."""
    rows = conn.execute(
        select(jobs.c.status, func.count())
        .where(jobs.c.dedupe_key.like(f"{key}:%"))
        .group_by(jobs.c.status)
    ).all()
    by_status = {status: int(count) for status, count in rows}
    finished = by_status.get("done", 0) + by_status.get("dead", 0)
    return sum(by_status.values()), finished, by_status


def _lags(conn: Connection, key: str) -> tuple[list[float], float]:
    """Each finished job's lag (s), and the span from the first due to the last finish."""
    lag = func.extract("epoch", jobs.c.finished_at - jobs.c.due_at)
    rows = conn.execute(
        select(lag).where(jobs.c.dedupe_key.like(f"{key}:%"), jobs.c.finished_at.is_not(None))
    ).scalars()
    lags = [float(value) for value in rows]
    span = conn.execute(
        select(func.extract("epoch", func.max(jobs.c.finished_at) - func.min(jobs.c.due_at))).where(
            jobs.c.dedupe_key.like(f"{key}:%")
        )
    ).scalar_one()
    return lags, float(span or 0.0)


def _events_since(conn: Connection, kind: str, since: datetime) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                conversation_events.c.kind == kind, conversation_events.c.at >= since
            )
        ).scalar_one()
    )


async def fire_phase(
    db: Database,
    opts: Options,
    name: str,
    kind: TimerKind | None,
    seeded: Seeded,
    worker_pids: Sequence[int],
) -> Firing:
    """Set a phase's jobs due ``--rate`` a second from ``--lead`` seconds on, wait until all
    have finished, and read their lags from the database."""
    key = f"bench:{name}:{secrets.token_hex(4)}"
    now = datetime.now(UTC)
    start = now + timedelta(seconds=opts.lead)
    dues = due_times(start, opts.timer_count, opts.rate)
    work = partial(set_timers, kind=kind, key=key, conversation_ids=seeded.conversation_ids)
    await db.write(partial(work, dues=dues, now=now))
    if datetime.now(UTC) > start:
        raise BenchError(f"{name}: setting the timers took longer than --lead {opts.lead:g} s")
    cpu_before = sum(process_cpu_seconds(pid) for pid in worker_pids)
    backends_before = await db.read(backend_cpu)
    deadline = time.monotonic() + opts.lead + opts.window + opts.timeout
    while True:
        total, finished, outcomes = await db.read(partial(_phase_rows, key=key))
        if finished >= total:
            break
        if time.monotonic() > deadline:
            raise BenchError(
                f"{name}: {total - finished} of {total} jobs unfinished at the timeout"
            )
        # Rarely: the phase's end is read from the jobs' rows, this count only notices it, and
        # it scans the jobs table on the database the workers are using.
        await asyncio.sleep(1.0)
    cpu = sum(process_cpu_seconds(pid) for pid in worker_pids) - cpu_before
    backends_after = await db.read(backend_cpu)
    database_cpu = (
        None
        if backends_before is None or backends_after is None
        else sum(seconds - backends_before.get(pid, 0.0) for pid, seconds in backends_after.items())
    )
    lags, span = await db.read(partial(_lags, key=key))
    fired = (
        None
        if kind is None
        else await db.read(partial(_events_since, kind=kind.fired_event, since=start))
    )
    load = os.getloadavg()[0]
    return Firing(name, total, lags, span, cpu, database_cpu, load, outcomes, fired)


def backend_cpu(conn: Connection) -> dict[int, float] | None:
    """CPU seconds so far of each PostgreSQL server process connected to this database (the
    workers', the benchmark's), by pid; None when /proc does not show them (PostgreSQL on
    another machine, or another user's processes). A process that starts during a phase
    counts from 0; the shared processes (WAL writer, checkpointer) are not counted."""
    pids = conn.execute(
        text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    ).scalars()
    try:
        return {int(pid): process_cpu_seconds(int(pid)) for pid in pids}
    except OSError:
        return None


def firing_errors(firing: Firing, baseline: bool) -> list[str]:
    """What went wrong in a phase: jobs that did not end as they should."""
    expected = "dead" if baseline else "done"
    errors = []
    if firing.outcomes.get(expected, 0) != firing.jobs:
        errors.append(f"{firing.name}: outcomes {firing.outcomes}, expected all {expected}")
    if firing.fired_events is not None and firing.fired_events != firing.jobs:
        errors.append(f"{firing.name}: {firing.fired_events} of {firing.jobs} fired their event")
    return errors


@contextlib.contextmanager
def workers(url: str, count: int, work: Path) -> Iterator[list[int]]:
    """``count`` ``ringflow worker`` processes on the database; their pids."""
    env = server_env(
        {
            "RINGFLOW_DATABASE_URL": url,
            "RINGFLOW_DATA_DIR": str(work / "worker"),
            "RINGFLOW_LOG_LEVEL": "WARNING",
        }
    )
    with contextlib.ExitStack() as stack:
        pids = []
        for number in range(count):
            command = python_command("-m", "server", "worker")
            log = work / f"worker-{number}.log"
            proc = stack.enter_context(background_process(f"worker {number}", command, env, log))
            pids.append(proc.pid)
        yield pids


async def await_workers(db: Database, pids: Sequence[int], within: float) -> None:
    """Return once every worker has claimed a job (warm-up jobs of the baseline's kind)."""
    deadline = time.monotonic() + within
    round_number = 0
    while True:
        round_number += 1
        key = f"bench:warmup:{round_number}"
        now = datetime.now(UTC)
        dues = [now] * 200
        await db.write(
            partial(set_timers, kind=None, key=key, conversation_ids=[], dues=dues, now=now)
        )
        while True:
            total, finished, _ = await db.read(partial(_phase_rows, key=key))
            if finished >= total:
                break
            if time.monotonic() > deadline:
                raise BenchError("the workers did not run their warm-up jobs in time")
            await asyncio.sleep(0.1)
        owners = await db.read(
            lambda conn: set(
                conn.execute(
                    select(jobs.c.lease_owner)
                    .where(jobs.c.dedupe_key.like("bench:warmup:%"))
                    .distinct()
                ).scalars()
            )
        )
        if all(any(str(owner).endswith(f":{pid}") for owner in owners) for pid in pids):
            return
        if time.monotonic() > deadline:
            raise BenchError("not every worker claimed a warm-up job in time")


# --- the run -------------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    """Everything a run measured."""

    seeded: Seeded
    seed_seconds: float
    inbox_domain: list[Timings]
    inbox_http: list[Timings]
    firings: list[Firing]
    errors: list[str]


async def run(opts: Options, work: Path) -> Results:
    """Seed, time the inbox, fire the timers."""
    url = opts.database_url
    await reset_schema(url)
    db = await open_database(url)
    try:
        began = time.perf_counter()
        seeded = await db.write(partial(seed, opts=opts, now=datetime.now(UTC)))
        await db.write(lambda conn: conn.execute(text("ANALYZE")))
        seed_seconds = time.perf_counter() - began
        print(
            f"seeded {len(seeded.conversation_ids)} conversations in {seed_seconds:.1f} s",
            file=sys.stderr,
        )
        domain = await inbox_in_process(db, seeded, opts.inbox_requests)
        token = secrets.token_urlsafe(32)
        with api_server(url, token, work) as base_url:
            http = await inbox_over_http(base_url, token, seeded, opts.inbox_requests)
        firings: list[Firing] = []
        errors: list[str] = []
        await db.write(partial(install_workflows, kinds=opts.timers, now=datetime.now(UTC)))
        with workers(url, opts.workers, work) as pids:
            await await_workers(db, pids, 60.0)
            for name in (None, *opts.timers):
                kind = None if name is None else TIMER_KINDS[name]
                label = "no-op (no handler)" if kind is None else timer_label(kind)
                firing = await fire_phase(db, opts, label, kind, seeded, pids)
                print(f"fired {label}: p99 {firing.lag_ms(0.99):.0f} ms", file=sys.stderr)
                firings.append(firing)
                errors += firing_errors(firing, baseline=kind is None)
        return Results(seeded, seed_seconds, domain, http, firings, errors)
    finally:
        await db.close()


def timer_label(kind: TimerKind) -> str:
    """How the report names a timer kind's phase."""
    return kind.job_kind if kind.trigger is None else f"{kind.job_kind} {kind.trigger}"


def report(opts: Options, results: Results) -> str:
    """The printed report."""
    seeded = results.seeded
    lines = [
        f"machine: {platform.node()} nproc={os.cpu_count()} load {loads(os.getloadavg())} "
        f"python {platform.python_version()}",
        f"seeded: {len(seeded.conversation_ids)} open conversations ({seeded.unanswered} "
        f"unanswered), {len(seeded.team_names)} teams x {opts.agents_per_team} agents, "
        f"{seeded.messages} texts, {seeded.events} timeline events, "
        f"in {results.seed_seconds:.1f} s",
        "",
        f"inbox, one page of {PAGE}, {opts.inbox_requests} requests each, one at a time:",
        f"{'where':<8} {'query':<16} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'p99 vs by id':>13}",
    ]
    for where, timings in (("domain", results.inbox_domain), ("HTTP", results.inbox_http)):
        by_id = next(t for t in timings if t.name == "by id")
        for timing in timings:
            ratio = timing.ms(0.99) / by_id.ms(0.99) if by_id.ms(0.99) else 0.0
            lines.append(
                f"{where:<8} {timing.name:<16} {timing.ms(0.5):8.1f} {timing.ms(0.99):8.1f} "
                f"{timing.ms(1.0):8.1f} {ratio:12.1f}x"
            )
    http_p99 = next(t for t in results.inbox_http if t.name == "team unanswered").ms(0.99)
    verdict = "met" if http_p99 <= INBOX_TARGET_MS else "MISSED"
    lines += [f"target: team unanswered over HTTP p99 <= {INBOX_TARGET_MS:.0f} ms: {verdict}", ""]
    lines += [
        f"timers: {opts.timer_count} jobs per phase, {opts.rate}/s due over {opts.window:g} s, "
        f"{opts.workers} ringflow worker processes:",
        f"{'phase':<33} {'jobs':>6} {'fired/s':>8} {'lag p50':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'worker µs/job':>14} {'vs no-op':>9} {'PG µs/job':>10} {'vs no-op':>9} {'load':>5}",
    ]
    baseline = results.firings[0] if results.firings else None
    for firing in results.firings:
        ratio = firing.cpu_us / baseline.cpu_us if baseline and baseline.cpu_us else 0.0
        pg, pg_base = firing.database_cpu_us, baseline.database_cpu_us if baseline else None
        pg_text = "-" if pg is None else f"{pg:.0f}"
        pg_ratio = f"{pg / pg_base:.2f}x" if pg is not None and pg_base else "-"
        lines.append(
            f"{firing.name:<33} {firing.jobs:>6} {firing.per_second:8.0f} "
            f"{firing.lag_ms(0.5):8.0f} {firing.lag_ms(0.99):8.0f} {firing.lag_ms(1.0):8.0f} "
            f"{firing.cpu_us:14.0f} {ratio:8.2f}x {pg_text:>10} {pg_ratio:>9} {firing.load:5.1f}"
        )
    for firing in results.firings[1:]:
        verdict = "met" if firing.lag_ms(0.99) <= LAG_TARGET_MS else "MISSED"
        lines.append(f"target: {firing.name} lag p99 <= {LAG_TARGET_MS:.0f} ms: {verdict}")
    lines += [f"error: {error}" for error in results.errors]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 1 when a timer misfired or it could not run."""
    opts = parse_options(argv)
    try:
        check_database_url(opts.database_url)
        with tempfile.TemporaryDirectory(prefix="ringflow-bench-") as folder:
            results = asyncio.run(run(opts, Path(folder)))
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(report(opts, results))
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
