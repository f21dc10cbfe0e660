"""What a routing decision costs for a big team (issue 11's target: <= 2 ms for 200 agents).

Measured in one process, interleaved round by round, against a baseline taken in the same run:

- **baseline**: a bare scan of the team's members (a list comprehension testing one field of
  each): the least any decision over the team must do;
- **decision, <strategy>**: :func:`workflows.people.routing.agents_to_ring` over a snapshot of
  the team (a realistic mix: a quarter away, a quarter on calls, some in wrap-up), for each
  ring strategy;
- **snapshot + decision**: reading the snapshot from a migrated SQLite database
  (:func:`workflows.people.presence.team_snapshot`, one query) and deciding: what a
  ``connect`` step costs the server before its TwiML, but for the transaction's commit.

Each figure is the median over ``--rounds`` rounds of the mean time per call over ``--calls``
calls; the ratio is against the baseline of the same round. Usage::

    .venv/bin/python -m bench.routing                 # 200 agents, 7 rounds
    .venv/bin/python -m bench.routing --agents 500 --rounds 9
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection

from ringflow.database import SqliteDatabase, open_database
from ringflow.migrate import upgrade
from workflows.people.agents import AgentFields, Endpoint, put_agent
from workflows.people.db import agents, team_members
from workflows.people.presence import team_snapshot
from workflows.people.routing import (
    RING_STRATEGIES,
    Member,
    RingStrategy,
    TeamSnapshot,
    agents_to_ring,
)
from workflows.people.teams import TeamFields, put_team

TARGET_MS = 2.0


def members(count: int, now: datetime, rng: random.Random) -> tuple[Member, ...]:
    """A team's members: a quarter away, a quarter on calls, some wrapping up, the rest free
    with different idle times and round-robin turns."""
    out = []
    for i in range(count):
        roll = rng.random()
        out.append(
            Member(
                agent_id=i,
                name=f"agent{i:04}",
                status="away" if roll < 0.25 else "available",
                endpoints=(Endpoint("phone", f"+1202555{i:04}"),),
                on_call=f"CA{i:032x}" if 0.25 <= roll < 0.5 else None,
                busy_until=now + timedelta(seconds=rng.randint(-3600, 60)),
                last_rung_at=now - timedelta(seconds=rng.randint(0, 3600)),
            )
        )
    return tuple(out)


def per_call(work: Callable[[], object], calls: int) -> float:
    """Mean seconds per call of ``work`` over ``calls`` calls."""
    started = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - started) / calls


async def seeded_database(path: Path, team: TeamSnapshot, now: datetime) -> SqliteDatabase:
    db = await open_database(f"sqlite:///{path}")
    if not isinstance(db, SqliteDatabase):
        raise TypeError("expected SQLite")
    await upgrade(db)

    def seed(conn: Connection) -> None:
        for member in team.members:
            fields = AgentFields(endpoints=member.endpoints, status=member.status)
            put_agent(conn, member.name, fields, now)
        names = tuple(m.name for m in team.members)
        put_team(conn, team.name, TeamFields(members=names, ring_strategy=team.ring_strategy), now)
        for member in team.members:
            conn.execute(
                agents.update()
                .where(agents.c.name == member.name)
                .values(on_call=member.on_call, busy_until=member.busy_until)
            )
        conn.execute(team_members.update().values(last_rung_at=now))

    await db.write(seed)
    return db


def run(agents_count: int, rounds: int, calls: int, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    crew = members(agents_count, now, rng)
    teams = {s: TeamSnapshot(1, "support", s, 0, crew) for s in RING_STRATEGIES}
    figures: dict[str, list[float]] = {"baseline": []}

    def scan() -> object:
        return [m for m in crew if m.status == "available"]

    def decide(strategy: RingStrategy) -> Callable[[], object]:
        team = teams[strategy]
        return lambda: agents_to_ring(team, now, call="CA1", tried=("agent0001",))

    with tempfile.TemporaryDirectory() as folder:
        loop = asyncio.new_event_loop()
        db = loop.run_until_complete(
            seeded_database(Path(folder) / "bench.sqlite", teams["longest_idle"], now)
        )
        try:
            engine = db.engine

            def read_and_decide() -> object:
                with engine.connect() as conn:
                    snapshot = team_snapshot(conn, "support", "CA1")
                assert snapshot is not None
                return agents_to_ring(snapshot, now, call="CA1")

            for number in range(1, rounds + 1):
                base = per_call(scan, calls)
                figures["baseline"].append(base)
                for strategy in RING_STRATEGIES:
                    key = f"decision, {strategy}"
                    figures.setdefault(key, []).append(per_call(decide(strategy), calls))
                key = "snapshot + decision (SQLite)"
                figures.setdefault(key, []).append(per_call(read_and_decide, max(1, calls // 10)))
                print(f"round {number}/{rounds} done", file=sys.stderr)
        finally:
            loop.run_until_complete(db.close())
            loop.close()
    return figures


def report(figures: dict[str, list[float]], agents_count: int) -> str:
    base = statistics.median(figures["baseline"])
    lines = [f"{'what (team of ' + str(agents_count) + ')':<34} {'median':>12} {'x baseline':>11}"]
    for name, values in figures.items():
        median = statistics.median(values)
        lines.append(f"{name:<34} {median * 1e6:>9.1f} µs {median / base:>10.1f}x")
    worst = max(statistics.median(v) for k, v in figures.items() if k.startswith("decision"))
    verdict = "met" if worst * 1e3 <= TARGET_MS else "NOT met"
    lines.append(f"target: a decision <= {TARGET_MS:g} ms: {verdict} (worst {worst * 1e3:.3f} ms)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000, help="calls timed per figure")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if not (1 <= args.agents <= 100_000 and 1 <= args.rounds <= 50 and args.calls >= 10):
        parser.error("--agents 1-100000, --rounds 1-50, --calls >= 10")
    print(report(run(args.agents, args.rounds, args.calls, args.seed), args.agents))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
