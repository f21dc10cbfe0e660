"""Scale-out: two ``ringflow serve`` instances on one PostgreSQL against one (issue 12, §3).

Target: two instances, each on a core of its own, answer at least 1.7x the incoming calls a
second of one instance. Each round measures, one right after the other, with ``wrk``:

* *one instance*: every request of the phase to instance A, ``--connections`` at a time;
* *two instances*: the same number of requests, half to A and half to B, each by a ``wrk``
  of its own with half the connections, both at once (as a proxy alternating between the
  instances would send them).

Both instances run for the whole benchmark (B idles during the first phase) on the same
database, with the same ``RINGFLOW_PUBLIC_URL``, as behind a load balancer: every request is
a new call signed for that URL, answered with the demo workflow's menu. Reported per phase:
answered requests a second, p99, the instances' CPU µs per request and PostgreSQL's (its
backends connected to the database, from ``/proc``), and the ratio of the two phases' req/s
(the baseline is the one-instance phase of the same round).

An honest figure needs at least four cores nothing else uses: one for each instance, one for
PostgreSQL, one for wrk. On fewer, they take turns on the same cores and the ratio measures
the scheduler; the report says so. See bench/README.md ("Scale-out benchmark").

    ./run bench scale_out --database-url postgresql://postgres@127.0.0.1:5432/ringflow_bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from bench.conversations import backend_cpu, check_database_url, reset_schema
from bench.harness import (
    HOST,
    VOICE_PATH,
    BenchError,
    Server,
    Signer,
    client_session,
    fire,
    first_failure,
    is_answer,
    make_signer,
    process_cpu_seconds,
)
from bench.processes import (
    free_port,
    pinned_server,
    python_command,
    running_on,
    server_env,
    usable_cpus,
)
from bench.webhooks import REJECTS, incoming_jobs
from bench.wrk import WrkResult, find_wrk, histogram_percentile, run_wrk, write_requests
from ringflow.database import open_database

TARGET: Final = 1.7
"""Two instances' req/s over one instance's, at least (issue 12)."""
CORES_NEEDED: Final = 4
"""Two instances, PostgreSQL and wrk, each on a core of its own."""
ONE, TWO = "one instance", "two instances"


@dataclass(frozen=True, slots=True)
class Options:
    """The benchmark's settings (``--help``)."""

    database_url: str
    requests: int
    rounds: int
    connections: int
    cpus: tuple[int, int]
    load_cpu: int | None
    warmup: int
    limit_s: float


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """The options of ``argv``; exits with a usage error for a bad one."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale_out",
        description="Two ringflow serve instances on one PostgreSQL against one (bench/README.md)",
    )
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database to wipe")
    parser.add_argument("--requests", type=int, default=5000, help="new calls per phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50, help="requests in flight")
    parser.add_argument("--cpus", default="0,1", help="the two instances' CPUs, e.g. 0,1")
    parser.add_argument("--load-cpu", type=int, default=None, help="wrk's CPU (default: any)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls per instance")
    parser.add_argument("--limit", type=float, default=120.0, help="s a phase may take")
    args = parser.parse_args(argv)
    try:
        check_database_url(args.database_url)
    except BenchError as error:
        parser.error(str(error))
    try:
        first, second = (int(cpu) for cpu in args.cpus.split(","))
    except ValueError:
        parser.error("--cpus: two CPU numbers, e.g. 0,1")
    if args.requests < 2 or args.connections < 2 or args.rounds < 1:
        parser.error("--requests and --connections: at least 2; --rounds: at least 1")
    return Options(
        database_url=args.database_url,
        requests=args.requests,
        rounds=args.rounds,
        connections=args.connections,
        cpus=(first, second),
        load_cpu=args.load_cpu,
        warmup=args.warmup,
        limit_s=args.limit,
    )


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of a round: wrk's result per instance loaded, and the CPU it all took."""

    name: str
    round: int
    counts: tuple[int, ...]
    """Requests sent to each instance loaded."""
    results: tuple[WrkResult, ...]
    servers_cpu_s: float
    database_cpu_s: float | None

    @property
    def answered(self) -> int:
        """Requests answered with the menu."""
        return sum(result.answered for result in self.results)

    @property
    def errors(self) -> int:
        """Requests without a good answer (not 200, no menu, an apology, or none at all)."""
        return sum(
            result.errors(count) for result, count in zip(self.results, self.counts, strict=True)
        )

    @property
    def rps(self) -> float:
        """Answered requests a second, over the longest of the phase's wrk runs."""
        longest = max(result.duration_s for result in self.results)
        return self.answered / longest if longest else 0.0

    def p99_ms(self) -> float:
        """p99 latency over every request of the phase."""
        histogram: dict[int, int] = {}
        for result in self.results:
            for value, count in result.latency_us:
                histogram[value] = histogram.get(value, 0) + count
        return histogram_percentile(sorted(histogram.items()), 0.99) / 1000

    def per_request_us(self, seconds: float | None) -> float | None:
        """``seconds`` of CPU per answered request, in µs."""
        if seconds is None or not self.answered:
            return None
        return seconds / self.answered * 1e6


def ringflow_env(opts: Options, public_url: str, token: str, data_dir: Path) -> dict[str, str]:
    """One instance's settings: the shared database and public URL, no job worker (an
    incoming call queues no job), warnings only in the log."""
    return server_env(
        {
            "RINGFLOW_DATABASE_URL": opts.database_url,
            "RINGFLOW_DATA_DIR": str(data_dir),
            "RINGFLOW_PUBLIC_URL": public_url,
            "RINGFLOW_WORKER": "false",
            "RINGFLOW_LOG_LEVEL": "WARNING",
            "TWILIO_AUTH_TOKEN": token,
        }
    )


@contextmanager
def instances(opts: Options, token: str, work: Path) -> Iterator[tuple[Server, Server]]:
    """Instances A and B, each pinned to its CPU, B started once A listens (each installs
    the demo workflow's files), both with A's URL as the public one."""
    ports = (free_port(), free_port())
    public_url = f"http://{HOST}:{ports[0]}"
    with ExitStack() as stack:
        started = []
        for name, port, cpu in zip("AB", ports, opts.cpus, strict=True):
            data_dir = work / f"data-{name}"
            data_dir.mkdir()
            command = python_command("-m", "server", "serve", "--host", HOST, "--port", str(port))
            env = ringflow_env(opts, public_url, token, data_dir)
            log = work / f"ringflow-{name}.log"
            server = pinned_server(f"instance {name}", command, env, port, cpu, log)
            started.append(stack.enter_context(server))
        yield started[0], started[1]


async def warm_up(servers: Sequence[Server], signer: Signer, public_url: str, count: int) -> None:
    """Untimed calls to each instance, their answers checked: a broken set-up stops the run
    before any timing."""
    async with client_session(10) as session:
        for server in servers:
            # Signed for the public URL, sent to this instance, as a proxy would.
            jobs = incoming_jobs(signer, public_url, count)
            sent = [replace(job, url=server.base_url + VOICE_PATH) for job in jobs]
            batch = await fire(session, sent, 10, 60)
            if batch.errors or not all(is_answer(answer) for answer in batch.answers):
                raise BenchError(f"{server.name}: no menu for a new call: {first_failure(batch)!r}")


@dataclass(frozen=True, slots=True)
class Load:
    """What one wrk sends in a phase: ``count`` requests of the file ``path`` to ``server``."""

    server: Server
    path: Path
    count: int


def _send_all(loads: Sequence[Load], opts: Options) -> tuple[WrkResult, ...]:
    """One wrk per load, all at once, the connections shared out among them (on
    ``--load-cpu``: the pool's threads, and the wrk processes they start, inherit it)."""
    wrk = find_wrk()
    connections = max(1, opts.connections // len(loads))
    pinning = nullcontext() if opts.load_cpu is None else running_on(opts.load_cpu)
    with pinning, ThreadPoolExecutor(len(loads)) as pool:
        runs = [
            pool.submit(run_wrk, wrk, load.server.base_url, load.path, connections, opts.limit_s)
            for load in loads
        ]
        return tuple(run.result() for run in runs)


def measure(name: str, number: int, loads: Sequence[Load], opts: Options) -> Phase:
    """Send ``loads`` at once and read the CPU the instances and PostgreSQL took."""
    pids = [load.server.pid for load in loads]
    database = asyncio.run(_database_cpu(opts.database_url))
    cpu_before = sum(process_cpu_seconds(pid) for pid in pids)
    results = _send_all(loads, opts)
    servers_cpu = sum(process_cpu_seconds(pid) for pid in pids) - cpu_before
    after = asyncio.run(_database_cpu(opts.database_url))
    database_cpu = (
        None
        if database is None or after is None
        else sum(seconds - database.get(pid, 0.0) for pid, seconds in after.items())
    )
    counts = tuple(load.count for load in loads)
    return Phase(name, number, counts, results, servers_cpu, database_cpu)


async def _database_cpu(url: str) -> dict[int, float] | None:
    db = await open_database(url)
    try:
        return await db.read(backend_cpu)
    finally:
        await db.close()


def one_round(
    number: int,
    servers: tuple[Server, Server],
    signer: Signer,
    public_url: str,
    work: Path,
    opts: Options,
) -> tuple[Phase, Phase]:
    """The one-instance phase, then the two-instance phase, each of ``--requests`` new calls
    (signed for the public URL, as a proxy passes them on)."""

    def calls(name: str, count: int) -> Path:
        jobs = incoming_jobs(signer, public_url, count)
        return write_requests(work / f"{name}-{number}.requests", jobs, REJECTS)

    alone = [Load(servers[0], calls("one", opts.requests), opts.requests)]
    half = opts.requests // 2
    shares = ((servers[0], "two-A", half), (servers[1], "two-B", opts.requests - half))
    together = [Load(server, calls(name, count), count) for server, name, count in shares]
    return measure(ONE, number, alone, opts), measure(TWO, number, together, opts)


def phase_line(phase: Phase, baseline: Phase) -> str:
    """One row of the report."""
    servers = phase.per_request_us(phase.servers_cpu_s)
    database = phase.per_request_us(phase.database_cpu_s)
    return (
        f"{phase.round:<6}{phase.name:<16}{phase.rps:>8.0f}{phase.p99_ms():>9.1f}"
        f"{phase.errors:>7}{servers or 0:>16.0f}"
        f"{'-' if database is None else f'{database:.0f}':>10}"
        f"{phase.rps / baseline.rps if baseline.rps else 0:>9.2f}x"
    )


def report(rounds: Sequence[tuple[Phase, Phase]], opts: Options) -> str:
    """The benchmark's printout."""
    cpus = sorted(usable_cpus())
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        f"machine: {len(cpus)} usable CPUs {cpus}, load {load}",
        f"instances on CPUs {opts.cpus[0]} and {opts.cpus[1]}; wrk on "
        + ("any CPU" if opts.load_cpu is None else f"CPU {opts.load_cpu}")
        + f"; {opts.requests} new calls a phase, {opts.connections} in flight",
        "",
        f"{'round':<6}{'phase':<16}{'req/s':>8}{'p99 ms':>9}{'errors':>7}"
        f"{'servers µs/req':>16}{'PG µs/req':>10}{'vs one':>10}",
    ]
    for one, two in rounds:
        lines += [phase_line(one, one), phase_line(two, one)]
    ratios = [two.rps / one.rps for one, two in rounds if one.rps]
    median = statistics.median(ratios) if ratios else 0.0
    verdict = "met" if median >= TARGET else "MISSED"
    lines += [
        "",
        f"two instances vs one: {median:.2f}x the req/s (median of {len(ratios)} rounds, "
        f"{min(ratios, default=0):.2f}-{max(ratios, default=0):.2f})",
        f"target: two instances >= {TARGET}x one: {verdict}",
    ]
    if len(cpus) < CORES_NEEDED:
        lines.append(
            f"note: {len(cpus)} CPUs: the instances, PostgreSQL and wrk share them, so this ratio "
            f"measures the scheduler; an honest figure needs {CORES_NEEDED} free cores"
        )
    return "\n".join(lines)


def bench(opts: Options) -> list[tuple[Phase, Phase]]:
    """Reset the database, start both instances, warm them up, run the rounds."""
    asyncio.run(reset_schema(opts.database_url))
    token = secrets.token_hex(16)
    signer = make_signer(token)
    with tempfile.TemporaryDirectory(prefix="ringflow-scale-out-") as folder:
        work = Path(folder)
        with instances(opts, token, work) as servers:
            public_url = servers[0].base_url
            asyncio.run(warm_up(servers, signer, public_url, opts.warmup))
            rounds = []
            for number in range(1, opts.rounds + 1):
                rounds.append(one_round(number, servers, signer, public_url, work, opts))
                print(f"round {number} of {opts.rounds} done", file=sys.stderr, flush=True)
            return rounds


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 1 when a request failed or it could not run."""
    opts = parse_options(argv)
    started = time.monotonic()
    try:
        rounds = bench(opts)
    except BenchError as error:
        print(f"scale-out benchmark: {error}", file=sys.stderr)
        return 1
    print(report(rounds, opts))
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if any(phase.errors for pair in rounds for phase in pair) else 0


if __name__ == "__main__":
    sys.exit(main())
