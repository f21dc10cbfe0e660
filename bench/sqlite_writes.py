"""What durable SQLite commits cost: writes through Ringflow's ``SqliteDatabase`` (its writer
thread and group commit) with ``synchronous=FULL`` (the default) against ``NORMAL``,
interleaved in one run on one machine.

    .venv/bin/python -m bench.sqlite_writes                     # 5 rounds x 5000 writes a mode
    .venv/bin/python -m bench.sqlite_writes --rounds 9 --writes 10000 --concurrency 50

Each write is shaped like an incoming call's: one ``write_batched`` item that inserts a call
row (~200 bytes) and a run row (~1.5 KB of JSON state), batched as two ``executemany`` with
whatever else is waiting. ``--concurrency`` tasks each send their next write as soon as the
previous one committed. Reported per mode: writes/s (median of the rounds), commit latency
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, event

from ringflow.database import SqliteDatabase, SqliteSync, database_url

MODES: tuple[SqliteSync, ...] = ("FULL", "NORMAL")
tables = MetaData()
calls = Table(
    "bench_calls",
    tables,
    Column("sid", String(64), primary_key=True),
    Column("caller", String(32), nullable=False),
    Column("called", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("run_id", String(32), nullable=False),
)
runs = Table(
    "bench_runs",
    tables,
    Column("id", String(32), primary_key=True),
    Column("turn", Integer, nullable=False),
    Column("state", Text, nullable=False),
)
STATE = json.dumps({"cursor": "menu", "vars": {f"v{i}": "x" * 40 for i in range(25)}})


def store_calls(conn: Connection, items: list[int]) -> list[None]:
    """An incoming call's write: the call and its run, as two statements for the batch."""
    conn.execute(
        calls.insert(),
        [
            {
                "sid": f"CA{n:032x}",
                "caller": "+14155550100",
                "called": "+14155550199",
                "status": "ringing",
                "run_id": f"{n:032x}",
            }
            for n in items
        ],
    )
    conn.execute(runs.insert(), [{"id": f"{n:032x}", "turn": 1, "state": STATE} for n in items])
    return [None] * len(items)


@dataclass
class Phase:
    """One mode's timed writes in one round."""

    mode: SqliteSync
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
    """One database per mode, kept for the whole run (ids never repeat)."""

    folder: Path
    concurrency: int
    next_id: int = 0
    databases: dict[str, SqliteDatabase] = field(default_factory=dict)
    commits: dict[str, int] = field(default_factory=dict)

    async def open(self) -> None:
        for mode in MODES:
            url = database_url(f"sqlite:///{self.folder / f'{mode.lower()}.db'}")
            db = SqliteDatabase(url, synchronous=mode)
            await db.write(lambda conn: tables.create_all(conn))
            self.commits[mode] = 0
            event.listen(db.engine, "commit", self._counter(mode))
            self.databases[mode] = db

    def _counter(self, mode: str) -> Any:
        def count(_conn: Connection) -> None:
            self.commits[mode] += 1

        return count

    async def close(self) -> None:
        for db in self.databases.values():
            await db.close()

    async def phase(self, mode: SqliteSync, writes: int, limit_s: float) -> Phase:
        db = self.databases[mode]
        ids = iter(range(self.next_id, self.next_id + writes))
        self.next_id += writes
        latencies: list[float] = []
        lags: list[float] = []
        errors = 0
        done = asyncio.Event()

        async def writer() -> None:
            nonlocal errors
            for n in ids:
                started = time.perf_counter()
                try:
                    await db.write_batched(store_calls, n)
                except Exception as error:
                    errors += 1
                    print(f"write failed: {error}", file=sys.stderr)
                latencies.append(time.perf_counter() - started)

        async def ticker() -> None:
            while not done.is_set():
                started = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - started - 0.005)

        commits, cpu, started = self.commits[mode], time.process_time(), time.perf_counter()
        ticking = asyncio.create_task(ticker())
        async with asyncio.timeout(limit_s):
            await asyncio.gather(*(writer() for _ in range(self.concurrency)))
        seconds = time.perf_counter() - started
        done.set()
        await ticking
        return Phase(
            mode,
            seconds,
            latencies,
            self.commits[mode] - commits,
            time.process_time() - cpu,
            lags,
            errors,
        )


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def phase_line(number: int, phase: Phase) -> str:
    return (
        f"{number:<6}{phase.mode:<8}{phase.rate:>9.0f}"
        f"{percentile(phase.latencies, 0.5) * 1000:>9.1f}"
        f"{percentile(phase.latencies, 0.99) * 1000:>9.1f}"
        f"{len(phase.latencies) / max(phase.commits, 1):>9.1f}"
        f"{phase.cpu_seconds / len(phase.latencies) * 1e6:>10.0f}"
        f"{percentile(phase.lags, 0.99) * 1000:>9.1f}{phase.errors:>7}"
    )


HEADER = (
    f"{'round':<6}{'mode':<8}{'writes/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'w/txn':>9}"
    f"{'CPU µs/w':>10}{'lag p99':>9}{'errors':>7}"
)


def summary(phases: Sequence[Phase]) -> list[str]:
    lines = [
        "summary: writes/s is the median of the rounds; latency and loop lag pooled",
        f"{'mode':<8}{'writes/s (min-max)':>24}{'p50 ms':>9}{'p99 ms':>9}{'w/txn':>9}"
        f"{'CPU µs/w':>10}{'lag p99':>9}",
    ]
    for mode in MODES:
        mine = [p for p in phases if p.mode == mode]
        rates = [p.rate for p in mine]
        latencies = [x for p in mine for x in p.latencies]
        lags = [x for p in mine for x in p.lags]
        commits = sum(p.commits for p in mine)
        cpu = sum(p.cpu_seconds for p in mine)
        spread = f"{statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f})"
        lines.append(
            f"{mode:<8}{spread:>24}{percentile(latencies, 0.5) * 1000:>9.1f}"
            f"{percentile(latencies, 0.99) * 1000:>9.1f}{len(latencies) / max(commits, 1):>9.1f}"
            f"{cpu / len(latencies) * 1e6:>10.0f}{percentile(lags, 0.99) * 1000:>9.1f}"
        )
    return lines


async def run(rounds: int, writes: int, concurrency: int, limit_s: float) -> int:
    with tempfile.TemporaryDirectory(prefix="ringflow-bench-") as folder:
        bench = Bench(Path(folder), concurrency)
        await bench.open()
        try:
            await bench.phase("FULL", min(writes, 1000), limit_s)  # warm-up, untimed
            await bench.phase("NORMAL", min(writes, 1000), limit_s)
            print(HEADER)
            phases: list[Phase] = []
            for number in range(1, rounds + 1):
                # Alternate which mode goes first, so a slow patch of the machine is shared.
                order = MODES if number % 2 else MODES[::-1]
                for mode in order:
                    phases.append(await bench.phase(mode, writes, limit_s))
                    print(phase_line(number, phases[-1]), flush=True)
        finally:
            await bench.close()
    print()
    print("\n".join(summary(phases)))
    return 1 if any(p.errors for p in phases) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, choices=range(1, 51), metavar="1-50")
    parser.add_argument("--writes", type=int, default=5000, help="timed writes per mode and round")
    parser.add_argument("--concurrency", type=int, default=50, help="writes in flight")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a phase may take")
    opts = parser.parse_args(argv)
    if not 1 <= opts.writes <= 100_000 or not 1 <= opts.concurrency <= 1000:
        parser.error("--writes must be 1-100000 and --concurrency 1-1000")
    return asyncio.run(run(opts.rounds, opts.writes, opts.concurrency, opts.timeout))


if __name__ == "__main__":
    sys.exit(main())
