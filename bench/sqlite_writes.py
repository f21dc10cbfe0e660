"""What SQLite writes cost through Ringflow's ``SqliteDatabase`` (its writer thread and group
commit): ``synchronous=FULL`` (the default) against ``NORMAL`` (``--compare sync``), or
time-ordered run ids (``workflows.runs.new_run_id``) against random ``uuid4`` ones
(``--compare ids``, both FULL); the two variants interleaved in one run on one machine, each
on a database of its own.

    .venv/bin/python -m bench.sqlite_writes                     # 5 rounds x 5000 writes each
    .venv/bin/python -m bench.sqlite_writes --rounds 9 --writes 10000 --concurrency 50
    .venv/bin/python -m bench.sqlite_writes --compare ids --rounds 8 --writes 10000

Each write is shaped like an incoming call's: one ``write_batched`` item that inserts a call
row (~200 bytes, its run id indexed) and a run row (~1.5 KB of JSON state, keyed by the run
id), batched as two ``executemany`` with whatever else is waiting. ``--concurrency`` tasks
each send their next write as soon as the previous one committed. Reported per variant:
writes/s (median of the rounds), commit latency
p50/p99 (all rounds pooled), writes per transaction (group size), this process's CPU per
write (all threads), and the event loop's lag p99 (a task that sleeps 5 ms and notes how late
it wakes: the loop is never blocked by SQLite). Bounded: at most 50 rounds and 100,000 writes
a round; every phase fails after ``--timeout`` seconds. Exit status 1 when a write failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, event

from ringflow.database import SqliteDatabase, SqliteSync, database_url
from workflows.runs import new_run_id


def ordered_id() -> str:
    """A run id as Ringflow makes them: the time first."""
    return new_run_id(datetime.now(UTC))


def random_id() -> str:
    """A random id of the same length."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Variant:
    """One side of a comparison."""

    name: str
    synchronous: SqliteSync
    new_id: Callable[[], str]


COMPARISONS = {
    "sync": (Variant("FULL", "FULL", ordered_id), Variant("NORMAL", "NORMAL", ordered_id)),
    "ids": (Variant("ordered", "FULL", ordered_id), Variant("uuid4", "FULL", random_id)),
}
tables = MetaData()
calls = Table(
    "bench_calls",
    tables,
    Column("sid", String(64), primary_key=True),
    Column("caller", String(32), nullable=False),
    Column("called", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("run_id", String(32), nullable=False, index=True),
)
runs = Table(
    "bench_runs",
    tables,
    Column("id", String(32), primary_key=True),
    Column("turn", Integer, nullable=False),
    Column("state", Text, nullable=False),
)
STATE = json.dumps({"cursor": "menu", "vars": {f"v{i}": "x" * 40 for i in range(25)}})


def store_calls(conn: Connection, items: list[str]) -> list[None]:
    """An incoming call's write: the call and its run, as two statements for the batch."""
    conn.execute(
        calls.insert(),
        [
            {
                "sid": f"CA{run_id}",
                "caller": "+14155550100",
                "called": "+14155550199",
                "status": "ringing",
                "run_id": run_id,
            }
            for run_id in items
        ],
    )
    conn.execute(runs.insert(), [{"id": run_id, "turn": 1, "state": STATE} for run_id in items])
    return [None] * len(items)


@dataclass
class Phase:
    """One variant's timed writes in one round."""

    variant: str
    seconds: float
    latencies: list[float]
    commits: int
    cpu_seconds: float
    lags: list[float]
    errors: int

    @property
    def rate(self) -> float:
        """Writes per second."""
        return len(self.latencies) / self.seconds


@dataclass
class Bench:
    """One database per variant, kept for the whole run (it grows round after round)."""

    folder: Path
    concurrency: int
    variants: Sequence[Variant]
    databases: dict[str, SqliteDatabase] = field(default_factory=dict)
    commits: dict[str, int] = field(default_factory=dict)

    async def open(self) -> None:
        for variant in self.variants:
            url = database_url(f"sqlite:///{self.folder / f'{variant.name}.db'}")
            db = SqliteDatabase(url, synchronous=variant.synchronous)
            await db.write(lambda conn: tables.create_all(conn))
            self.commits[variant.name] = 0
            event.listen(db.engine, "commit", self._counter(variant.name))
            self.databases[variant.name] = db

    def _counter(self, name: str) -> Any:
        def count(_conn: Connection) -> None:
            self.commits[name] += 1

        return count

    async def close(self) -> None:
        for db in self.databases.values():
            await db.close()

    async def phase(self, variant: Variant, writes: int, limit_s: float) -> Phase:
        db = self.databases[variant.name]
        ids = iter(range(writes))
        latencies: list[float] = []
        lags: list[float] = []
        errors = 0
        done = asyncio.Event()

        async def writer() -> None:
            nonlocal errors
            for _n in ids:
                started = time.perf_counter()
                try:
                    await db.write_batched(store_calls, variant.new_id())
                except Exception as error:
                    errors += 1
                    print(f"write failed: {error}", file=sys.stderr)
                latencies.append(time.perf_counter() - started)

        async def ticker() -> None:
            while not done.is_set():
                started = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - started - 0.005)

        name = variant.name
        commits, cpu, started = self.commits[name], time.process_time(), time.perf_counter()
        ticking = asyncio.create_task(ticker())
        async with asyncio.timeout(limit_s):
            await asyncio.gather(*(writer() for _ in range(self.concurrency)))
        seconds = time.perf_counter() - started
        done.set()
        await ticking
        return Phase(
            name,
            seconds,
            latencies,
            self.commits[name] - commits,
            time.process_time() - cpu,
            lags,
            errors,
        )


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def phase_line(number: int, phase: Phase) -> str:
    return (
        f"{number:<6}{phase.variant:<8}{phase.rate:>9.0f}"
        f"{percentile(phase.latencies, 0.5) * 1000:>9.1f}"
        f"{percentile(phase.latencies, 0.99) * 1000:>9.1f}"
        f"{len(phase.latencies) / max(phase.commits, 1):>9.1f}"
        f"{phase.cpu_seconds / len(phase.latencies) * 1e6:>10.0f}"
        f"{percentile(phase.lags, 0.99) * 1000:>9.1f}{phase.errors:>7}"
    )


HEADER = (
    f"{'round':<6}{'variant':<8}{'writes/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'w/txn':>9}"
    f"{'CPU µs/w':>10}{'lag p99':>9}{'errors':>7}"
)


def summary(variants: Sequence[Variant], phases: Sequence[Phase]) -> list[str]:
    lines = [
        "summary: writes/s is the median of the rounds; latency and loop lag pooled",
        f"{'variant':<8}{'writes/s (min-max)':>24}{'p50 ms':>9}{'p99 ms':>9}{'w/txn':>9}"
        f"{'CPU µs/w':>10}{'lag p99':>9}",
    ]
    for variant in variants:
        mine = [p for p in phases if p.variant == variant.name]
        rates = [p.rate for p in mine]
        latencies = [x for p in mine for x in p.latencies]
        lags = [x for p in mine for x in p.lags]
        commits = sum(p.commits for p in mine)
        cpu = sum(p.cpu_seconds for p in mine)
        spread = f"{statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f})"
        lines.append(
            f"{variant.name:<8}{spread:>24}{percentile(latencies, 0.5) * 1000:>9.1f}"
            f"{percentile(latencies, 0.99) * 1000:>9.1f}{len(latencies) / max(commits, 1):>9.1f}"
            f"{cpu / len(latencies) * 1e6:>10.0f}{percentile(lags, 0.99) * 1000:>9.1f}"
        )
    return lines


async def run(
    variants: Sequence[Variant], rounds: int, writes: int, concurrency: int, limit_s: float
) -> int:
    with tempfile.TemporaryDirectory(prefix="ringflow-bench-") as folder:
        bench = Bench(Path(folder), concurrency, variants)
        await bench.open()
        try:
            for variant in variants:  # warm-up, untimed
                await bench.phase(variant, min(writes, 1000), limit_s)
            print(HEADER)
            phases: list[Phase] = []
            for number in range(1, rounds + 1):
                # Alternate which goes first, so a slow patch of the machine is shared.
                order = variants if number % 2 else variants[::-1]
                for variant in order:
                    phases.append(await bench.phase(variant, writes, limit_s))
                    print(phase_line(number, phases[-1]), flush=True)
        finally:
            await bench.close()
    print()
    print("\n".join(summary(variants, phases)))
    return 1 if any(p.errors for p in phases) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--compare", choices=sorted(COMPARISONS), default="sync")
    parser.add_argument("--rounds", type=int, default=5, choices=range(1, 51), metavar="1-50")
    parser.add_argument(
        "--writes", type=int, default=5000, help="timed writes per variant and round"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="writes in flight")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a phase may take")
    opts = parser.parse_args(argv)
    if not 1 <= opts.writes <= 100_000 or not 1 <= opts.concurrency <= 1000:
        parser.error("--writes must be 1-100000 and --concurrency 1-1000")
    variants = COMPARISONS[opts.compare]
    return asyncio.run(run(variants, opts.rounds, opts.writes, opts.concurrency, opts.timeout))


if __name__ == "__main__":
    sys.exit(main())
