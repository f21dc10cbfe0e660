"""Webhook benchmark: what a Twilio voice webhook costs the server, next to two baselines.

Three server processes, each a command of its own, all pinned to one CPU (``--server-cpu``,
default 1), loaded by wrk (a C load generator, one thread) pinned to another (``--load-cpu``,
default 0), on 127.0.0.1:

* ``bare aiohttp``: one POST handler reads the form and answers a fixed TwiML string;
* ``aiohttp + VoiceResponse``: the same, building the demo's menu with twilio's
  ``VoiceResponse`` on every request (no signature check, no database);
* Ringflow as ``ringflow serve`` runs it (SQLite, the demo workflow, signatures checked):
  ``incoming call`` (``POST /twilio/voice``, a new CallSid each) and ``keypress turn``
  (``Digits=1`` on the menu of a call started, untimed, just before).

Every request is signed with twilio's ``RequestValidator.compute_signature`` for the public URL
the server is configured with, written to a file beforehand, and sent exactly once. For each
phase: req/s and latency percentiles from wrk, and the server process's CPU time (utime +
stime from /proc) per request. The scenarios run in interleaved rounds; each round's ratios
are taken against that round's baselines.

Usage: ``python -m bench.webhooks [--rounds R] [--requests N] [--json FILE]`` (see
bench/README.md). Needs wrk (``apt-get install wrk``). Exit status 1 when a request failed or
the benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import importlib.metadata
import json
import os
import platform
import re
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    HOST,
    VOICE_PATH,
    BenchError,
    Job,
    Server,
    Signer,
    call_params,
    client_session,
    cpu_busy_seconds,
    fire,
    first_failure,
    loads,
    make_signer,
    new_call_sid,
    process_cpu_seconds,
    signed_job,
)
from bench.processes import (
    ROOT,
    check_cpus,
    free_port,
    pinned_server,
    python_command,
    running_on,
    server_env,
    set_niceness,
)
from bench.wrk import WrkResult, find_wrk, histogram_percentile, run_wrk, wrk_version
from bench.wrk import write_requests as write_request_file
from ivr.service import APOLOGY, NOT_IN_SERVICE

BARE = "bare aiohttp"
MENU = "aiohttp + VoiceResponse"
INCOMING = "incoming call"
KEYPRESS = "keypress turn"
SCENARIOS = (BARE, MENU, INCOMING, KEYPRESS)
BASELINES = (BARE, MENU)
REJECTS = (APOLOGY, NOT_IN_SERVICE)
"""Ringflow's apologies: a 200 with one of them is a failed turn."""
GATHER_ACTION = re.compile(r'<Gather\b[^>]*\baction="([^"]*)"')

MAX_ROUNDS = 50
MAX_REQUESTS = 200_000
MAX_TOTAL_REQUESTS = 1_000_000
MAX_LIMIT_S = 3600.0


# --- options -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """Command-line options."""

    rounds: int
    requests: int
    warmup: int
    connections: int
    limit_s: float
    server_cpu: int
    load_cpu: int
    nice: int
    profile: str | None
    json_path: Path | None


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument(
        "--requests", type=int, default=10_000, help="requests per scenario and round (10000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=500, help="untimed requests per scenario, once (500)"
    )
    parser.add_argument("--connections", type=int, default=50, help="requests in flight (50)")
    parser.add_argument(
        "--limit", type=float, default=120.0, help="seconds a phase may take at most (120)"
    )
    parser.add_argument("--server-cpu", type=int, default=1, help="CPU of the servers (1)")
    parser.add_argument("--load-cpu", type=int, default=0, help="CPU of wrk and this script (0)")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of the servers, wrk and this script (0; below 0 needs root): on a shared "
        "machine, -10 makes other work disturb the measurement less",
    )
    parser.add_argument(
        "--profile",
        help="cProfile the Ringflow server into this file (each thread's CPU time; the "
        "writer thread's into FILE.<thread name>)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be 1-{MAX_ROUNDS}")
    if not 1 <= args.requests <= MAX_REQUESTS or args.rounds * args.requests > MAX_TOTAL_REQUESTS:
        parser.error(
            f"--requests must be 1-{MAX_REQUESTS}, and rounds x requests <= {MAX_TOTAL_REQUESTS}"
        )
    if not 0 <= args.warmup <= MAX_REQUESTS:
        parser.error(f"--warmup must be 0-{MAX_REQUESTS}")
    if not 1 <= args.connections <= 1000:
        parser.error("--connections must be 1-1000")
    if not -20 <= args.nice <= 19:
        parser.error("--nice must be -20-19")
    if not 1 <= args.limit <= MAX_LIMIT_S:
        parser.error(f"--limit must be 1-{MAX_LIMIT_S:.0f} s")
    return Options(
        rounds=args.rounds,
        requests=args.requests,
        warmup=args.warmup,
        connections=args.connections,
        limit_s=args.limit,
        server_cpu=args.server_cpu,
        load_cpu=args.load_cpu,
        nice=args.nice,
        profile=str(Path(args.profile).resolve()) if args.profile else None,
        json_path=args.json,
    )


# --- servers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Servers:
    """The three servers of a run, by scenario."""

    bare: Server
    menu: Server
    ringflow: Server

    def of(self, scenario: str) -> Server:
        """The server ``scenario`` loads."""
        return {BARE: self.bare, MENU: self.menu}.get(scenario, self.ringflow)


def ringflow_command(port: int, profile: str | None) -> list[str]:
    """``ringflow serve`` on ``port`` of 127.0.0.1 (under cProfile when ``profile`` is set)."""
    serve = ["serve", "--host", HOST, "--port", str(port)]
    if profile:
        # Each thread's own CPU time (bench/profile_server.py), not the main thread's wall time.
        return python_command("-m", "bench.profile_server", profile, *serve)
    return python_command("-m", "server", *serve)


def ringflow_env(port: int, token: str, data_dir: Path) -> dict[str, str]:
    """Ringflow's settings: SQLite in ``data_dir``, the demo workflow, signatures checked for
    the public URL ``http://127.0.0.1:<port>``, warnings only in the log."""
    return server_env(
        {
            "RINGFLOW_DATA_DIR": str(data_dir),
            "RINGFLOW_PUBLIC_URL": f"http://{HOST}:{port}",
            "RINGFLOW_LOG_LEVEL": "WARNING",
            "TWILIO_AUTH_TOKEN": token,
        }
    )


def baseline_command(kind: str, port: int) -> list[str]:
    """A baseline server (``bench.baselines``) of ``kind`` on ``port``."""
    return python_command(
        "-m", "bench.baselines", kind, "--port", str(port), "--public-url", f"http://{HOST}:{port}"
    )


@contextmanager
def start_servers(opts: Options, token: str, work: Path) -> Iterator[Servers]:
    """The three servers, up for the whole run, each pinned to ``opts.server_cpu``."""
    with ExitStack() as stack:

        def start(name: str, command: list[str], env: Mapping[str, str], port: int) -> Server:
            log = work / f"{name.split()[0]}.log"
            return stack.enter_context(
                pinned_server(name, command, env, port, opts.server_cpu, log, opts.nice)
            )

        ports = [free_port() for _ in range(3)]
        data_dir = work / "ringflow-data"
        data_dir.mkdir()
        yield Servers(
            bare=start(BARE, baseline_command("fixed", ports[0]), server_env({}), ports[0]),
            menu=start(MENU, baseline_command("menu", ports[1]), server_env({}), ports[1]),
            ringflow=start(
                "ringflow",
                ringflow_command(ports[2], opts.profile),
                ringflow_env(ports[2], token, data_dir),
                ports[2],
            ),
        )


# --- requests ------------------------------------------------------------------------------


def incoming_jobs(signer: Signer, base_url: str, count: int) -> list[Job]:
    """``count`` new calls to ``base_url``'s voice webhook, each with a new CallSid."""
    url = base_url + VOICE_PATH
    return [signed_job(signer, url, call_params(new_call_sid(), "ringing")) for _ in range(count)]


def gather_action(twiml: str, base_url: str) -> str:
    """The absolute URL of the first ``<Gather action>`` in ``twiml``."""
    found = GATHER_ACTION.search(twiml)
    if found is None:
        raise BenchError(f"no <Gather action> in the first answer: {twiml[:200]!r}")
    action = html.unescape(found.group(1))
    return action if action.startswith("http") else base_url + action


def call_sid_of(job: Job) -> str:
    """The CallSid of a call's incoming-call request."""
    return job.body.decode().split("CallSid=", 1)[1].split("&", 1)[0]


def keypress_jobs(
    signer: Signer, base_url: str, calls: Sequence[Job], answers: Sequence[str]
) -> list[Job]:
    """One ``Digits=1`` per call, posted (signed) to the action of the menu it was answered."""
    jobs = []
    for call, answer in zip(calls, answers, strict=True):
        params = {
            **call_params(call_sid_of(call), "in-progress"),
            "Digits": "1",
            "FinishedOnKey": "",
        }
        jobs.append(signed_job(signer, gather_action(answer, base_url), params))
    return jobs


async def post_all(what: str, jobs: Sequence[Job], opts: Options) -> list[str]:
    """Post ``jobs`` untimed with the Python client; their answers. BenchError if any failed."""
    async with client_session(opts.connections) as session:
        batch = await fire(session, jobs, opts.connections, opts.limit_s)
    if batch.errors:
        raise BenchError(f"{what}: {batch.errors} failed requests, e.g. {first_failure(batch)!r}")
    return batch.answers


async def started_calls(signer: Signer, ringflow: Server, count: int, opts: Options) -> list[Job]:
    """``count`` calls started on Ringflow (untimed), each waiting in the menu: a keypress on
    each."""
    calls = incoming_jobs(signer, ringflow.base_url, count)
    answers = await post_all("starting calls for the keypresses", calls, opts)
    return keypress_jobs(signer, ringflow.base_url, calls, answers)


async def warm_up(servers: Servers, signers: tuple[Signer, Signer], opts: Options) -> None:
    """Untimed, once: ``--warmup`` requests to each baseline, calls and keypresses to Ringflow
    (their answers checked, so a broken server stops the run before any timing)."""
    bare_signer, signer = signers
    for server in (servers.bare, servers.menu):
        jobs = incoming_jobs(bare_signer, server.base_url, opts.warmup)
        await post_all(f"{server.name} warm-up", jobs, opts)
    presses = await started_calls(signer, servers.ringflow, opts.warmup, opts)
    await post_all("keypress warm-up", presses, opts)


# --- measurement ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """One scenario's timed phase in one round."""

    scenario: str
    round: int
    requests: int
    """Requests in the phase's file (each sent once)."""
    wrk: WrkResult
    server_cpu_s: float
    """The loaded server's CPU time (utime + stime) over the phase."""
    other_cpu_s: float
    """The rest of the server CPU's busy time over the phase: other processes (the idle
    servers, anything else on the machine) and time the hypervisor took (steal)."""
    window_s: float
    """Wall time from starting wrk to its end (its start-up included), over which the CPU
    times are read."""

    @property
    def rps(self) -> float:
        """Answered requests per second."""
        return self.wrk.rps

    @property
    def errors(self) -> int:
        """Requests without a good answer (not 200, no TwiML, an apology, or none at all)."""
        return self.wrk.errors(self.requests)

    @property
    def server_us(self) -> float:
        """Server CPU µs per answered request."""
        return self.server_cpu_s / self.wrk.answered * 1e6 if self.wrk.answered else 0.0

    @property
    def server_pct(self) -> float:
        """The server's CPU time over the phase's wall time (100 % = one core busy)."""
        return 100 * self.server_cpu_s / self.wrk.duration_s if self.wrk.duration_s else 0.0

    @property
    def other_pct(self) -> float:
        """Other work on the server's CPU over the phase's window (should be near 0)."""
        return 100 * self.other_cpu_s / self.window_s if self.window_s else 0.0

    @property
    def wrk_pct(self) -> float:
        """wrk's CPU time over the phase's wall time (well under 100 %: not the bound)."""
        return 100 * self.wrk.wrk_cpu_s / self.wrk.duration_s if self.wrk.duration_s else 0.0

    def latency_ms(self, fraction: float) -> float:
        """A percentile of the phase's latency (wrk's histogram), in ms."""
        return histogram_percentile(self.wrk.latency_us, fraction) / 1000


def measure(
    scenario: str, number: int, server: Server, requests: Path, count: int, opts: Options
) -> Phase:
    """Send the ``count`` requests of the file ``requests`` to ``server`` with wrk."""
    wrk = find_wrk()
    server_before = process_cpu_seconds(server.pid)
    busy_before = cpu_busy_seconds(opts.server_cpu)
    began = time.monotonic()
    result = run_wrk(wrk, server.base_url, requests, opts.connections, opts.limit_s, opts.nice)
    window = time.monotonic() - began
    server_cpu = process_cpu_seconds(server.pid) - server_before
    other = max(0.0, cpu_busy_seconds(opts.server_cpu) - busy_before - server_cpu)
    return Phase(scenario, number, count, result, server_cpu, other, window)


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Where a run writes its request files."""

    work: Path

    def write(self, name: str, jobs: Sequence[Job]) -> Path:
        """``jobs`` as wrk's request file ``name``; Ringflow's apologies count as failures."""
        return write_request_file(self.work / f"{name}.requests", jobs, REJECTS)


def one_round(
    number: int,
    servers: Servers,
    signer: Signer,
    baseline_requests: Path,
    files: RunFiles,
    opts: Options,
) -> list[Phase]:
    """Timed, one right after the other: both baselines, new calls; then, untimed, as many
    other calls started with the Python client, and timed, a keypress in each one's menu.

    The keypress calls are started just before their phase so that their runs are still in
    Ringflow's run cache (10,000 runs), as a caller's key comes seconds after the menu."""
    calls = files.write(
        f"incoming-{number}", incoming_jobs(signer, servers.ringflow.base_url, opts.requests)
    )
    plan = ((BARE, baseline_requests), (MENU, baseline_requests), (INCOMING, calls))
    phases = [
        measure(name, number, servers.of(name), path, opts.requests, opts) for name, path in plan
    ]
    presses = files.write(
        f"keypress-{number}",
        asyncio.run(started_calls(signer, servers.ringflow, opts.requests, opts)),
    )
    phases.append(measure(KEYPRESS, number, servers.ringflow, presses, opts.requests, opts))
    return phases


def progress(phases: Sequence[Phase], rounds: int) -> None:
    """One line on stderr per finished round (a run takes a while)."""
    rates = ", ".join(f"{p.scenario} {p.rps:,.0f}/s {p.server_us:.0f} µs" for p in phases)
    print(f"round {phases[0].round}/{rounds}: {rates}", file=sys.stderr, flush=True)


def bench(opts: Options) -> list[Phase]:
    """Start the servers, warm them up, run the rounds, stop the servers: every timed phase."""
    find_wrk()
    check_cpus(opts.server_cpu, opts.load_cpu)
    # This process (signing, set-up) and wrk, its child, share the load CPU.
    os.sched_setaffinity(0, {opts.load_cpu})
    set_niceness(opts.nice)
    token = secrets.token_hex(16)
    signer = make_signer(token)
    bare_signer = make_signer(secrets.token_hex(16))  # the baselines do not check it
    with (
        tempfile.TemporaryDirectory(prefix="ringflow-bench-") as folder,
        start_servers(opts, token, Path(folder)) as servers,
    ):
        files = RunFiles(Path(folder))
        asyncio.run(warm_up(servers, (bare_signer, signer), opts))
        # The baselines ignore CallSid and signature: one file serves both, every round.
        baseline_requests = files.write(
            "baseline", incoming_jobs(bare_signer, servers.bare.base_url, opts.requests)
        )
        phases: list[Phase] = []
        for number in range(1, opts.rounds + 1):
            done = one_round(number, servers, signer, baseline_requests, files, opts)
            progress(done, opts.rounds)
            phases += done
    return phases


# --- summary -------------------------------------------------------------------------------


def round_rps(phases: Sequence[Phase], scenario: str) -> dict[int, float]:
    """``scenario``'s req/s in each round, by round number."""
    return {p.round: p.rps for p in phases if p.scenario == scenario}


def ratio(phase: Phase, baseline: Mapping[int, float]) -> float:
    """``phase``'s req/s relative to the same round's baseline req/s."""
    base = baseline.get(phase.round, 0.0)
    return phase.rps / base if base else 0.0


@dataclass(frozen=True, slots=True)
class Summary:
    """One scenario over all rounds."""

    scenario: str
    requests: int
    errors: int
    rps: tuple[float, ...]
    """Each round's req/s."""
    vs_bare: tuple[float, ...]
    """Each round's req/s over that round's bare aiohttp req/s."""
    vs_menu: tuple[float, ...]
    p50_ms: float
    p99_ms: float
    """Over all rounds' requests pooled (wrk's histograms merged)."""
    server_us: float
    """All rounds' server CPU over all rounds' answered requests."""
    server_pct: float
    other_pct: float
    wrk_pct: float

    @property
    def median_rps(self) -> float:
        """Median of the rounds' req/s."""
        return statistics.median(self.rps)


def summarize(scenario: str, phases: Sequence[Phase]) -> Summary:
    """``scenario``'s phases across the rounds, summed up."""
    mine = [p for p in phases if p.scenario == scenario]
    bare, menu = round_rps(phases, BARE), round_rps(phases, MENU)
    histogram = [bucket for p in mine for bucket in p.wrk.latency_us]
    answered = sum(p.wrk.answered for p in mine)
    seconds = sum(p.wrk.duration_s for p in mine)
    server_cpu = sum(p.server_cpu_s for p in mine)
    other_cpu = sum(p.other_cpu_s for p in mine)
    window = sum(p.window_s for p in mine)
    return Summary(
        scenario=scenario,
        requests=sum(p.requests for p in mine),
        errors=sum(p.errors for p in mine),
        rps=tuple(p.rps for p in mine),
        vs_bare=tuple(ratio(p, bare) for p in mine),
        vs_menu=tuple(ratio(p, menu) for p in mine),
        p50_ms=histogram_percentile(histogram, 0.50) / 1000,
        p99_ms=histogram_percentile(histogram, 0.99) / 1000,
        server_us=server_cpu / answered * 1e6 if answered else 0.0,
        server_pct=100 * server_cpu / seconds if seconds else 0.0,
        other_pct=100 * other_cpu / window if window else 0.0,
        wrk_pct=100 * sum(p.wrk.wrk_cpu_s for p in mine) / seconds if seconds else 0.0,
    )


def spread(values: Sequence[float], unit: str = "x", digits: int = 2) -> str:
    """The median of ``values`` with their min-max."""
    if not values:
        return "-"
    mid, low, high = statistics.median(values), min(values), max(values)
    return f"{mid:.{digits}f}{unit} ({low:.{digits}f}-{high:.{digits}f})"


# --- report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Machine:
    """What the numbers were measured on."""

    cpus: int
    cpu_model: str
    server_cpu: int
    load_cpu: int
    nice: int
    wrk: str
    python: str
    versions: str
    commit: str
    load_before: tuple[float, ...]
    load_after: tuple[float, ...]
    speed_before_ms: float
    speed_after_ms: float
    """:func:`python_speed_ms` on the server CPU before and after the run."""


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def library_versions() -> str:
    """Versions of what the servers run on."""
    names = ("aiohttp", "twilio", "SQLAlchemy")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join([*found, f"SQLite {sqlite3.sqlite_version}"])


def git_commit() -> str:
    """The project's commit (with "+changes" when the tree differs from it), or "unknown"."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head + ("+changes" if dirty else "")) or "unknown"


SPEED_PROBE = (
    "import time; c = time.process_time(); sum(range(10_000_000)); print(time.process_time() - c)"
)


def python_speed_ms(cpu: int, tries: int = 3) -> float:
    """CPU ms a fixed pure-Python loop (``sum(range(10**7))``) takes on ``cpu``, the best of
    ``tries``: how fast the machine is right now. A shared VM's speed moves a lot (its host's
    other guests), and CPU per request moves with it, so runs compare only at a similar speed."""
    best = float("inf")
    for _ in range(tries):
        with running_on(cpu):
            done = subprocess.run(
                python_command("-c", SPEED_PROBE),
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
        best = min(best, float(done.stdout))
    return best * 1000


def machine_facts(opts: Options, load_before: Sequence[float], speed_before_ms: float) -> Machine:
    """The machine, the CPUs used, the versions; the load and speed before and now."""
    return Machine(
        cpus=os.cpu_count() or 0,
        cpu_model=cpu_model(),
        server_cpu=opts.server_cpu,
        load_cpu=opts.load_cpu,
        nice=opts.nice,
        wrk=wrk_version(find_wrk()),
        python=platform.python_version(),
        versions=library_versions(),
        commit=git_commit(),
        load_before=tuple(load_before),
        load_after=tuple(os.getloadavg()),
        speed_before_ms=speed_before_ms,
        speed_after_ms=python_speed_ms(opts.server_cpu),
    )


ROUND_HEADER = (
    f"{'round':<6}{'scenario':<25}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
    f"{'srv µs/req':>11}{'srv CPU':>9}{'other':>7}{'wrk CPU':>9}{'vs bare':>9}{'vs menu':>9}"
)
SUMMARY_HEADER = (
    f"{'scenario':<25}{'req/s (min-max)':>22}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
    f"{'srv µs/req':>11}{'srv CPU':>9}{'other':>7}{'wrk CPU':>9}{'vs bare (min-max)':>22}"
    f"{'vs menu (min-max)':>22}"
)


def round_line(phase: Phase, bare: Mapping[int, float], menu: Mapping[int, float]) -> str:
    """One row of the per-round table."""
    return (
        f"{phase.round:<6}{phase.scenario:<25}{phase.rps:>8.0f}{phase.latency_ms(0.5):>8.1f}"
        f"{phase.latency_ms(0.99):>8.1f}{phase.errors:>7}{phase.server_us:>11.0f}"
        f"{phase.server_pct:>8.0f}%{phase.other_pct:>6.0f}%{phase.wrk_pct:>8.0f}%"
        f"{ratio(phase, bare):>8.2f}x{ratio(phase, menu):>8.2f}x"
    )


def summary_line(s: Summary) -> str:
    """One row of the summary table."""
    rps = f"{s.median_rps:.0f} ({min(s.rps):.0f}-{max(s.rps):.0f})"
    return (
        f"{s.scenario:<25}{rps:>22}{s.p50_ms:>8.1f}{s.p99_ms:>8.1f}{s.errors:>7}"
        f"{s.server_us:>11.0f}{s.server_pct:>8.0f}%{s.other_pct:>6.0f}%{s.wrk_pct:>8.0f}%"
        f"{spread(s.vs_bare):>22}{spread(s.vs_menu):>22}"
    )


def ratio_lines(summaries: Mapping[str, Summary]) -> list[str]:
    """Ringflow's scenarios against each baseline: throughput and CPU per request."""
    lines = []
    for name in (INCOMING, KEYPRESS):
        s = summaries[name]
        for base_name, rounds in ((BARE, s.vs_bare), (MENU, s.vs_menu)):
            base = summaries[base_name]
            cpu = s.server_us / base.server_us if base.server_us else 0.0
            lines.append(
                f"  {name} vs {base_name}: {spread(rounds)} the req/s (median of rounds), "
                f"{cpu:.1f}x the server CPU per request ({s.server_us:.0f} vs "
                f"{base.server_us:.0f} µs)"
            )
    return lines


DISTURBED_PCT = 10.0
"""Other work on the server's CPU above this share of a phase: its req/s are understated."""
LOAD_BOUND_PCT = 90.0
"""wrk's CPU above this share of a phase: the load generator may have been the limit."""


def notes(phases: Sequence[Phase]) -> list[str]:
    """What makes figures suspect: failures, other work on the server's CPU, a busy wrk."""
    lines = []
    for p in phases:
        where = f"  round {p.round}, {p.scenario}:"
        if p.errors:
            example = f", e.g. {p.wrk.first_bad!r}" if p.wrk.first_bad else ""
            lines.append(f"{where} {p.errors} of {p.requests} requests failed{example}")
        if p.wrk.socket_errors or p.wrk.timeouts:
            lines.append(
                f"{where} wrk saw {p.wrk.socket_errors} socket errors and "
                f"{p.wrk.timeouts} answers over its 10 s timeout"
            )
    disturbed = [p.other_pct for p in phases if p.other_pct > DISTURBED_PCT]
    if disturbed:
        lines.append(
            f"  other work took over {DISTURBED_PCT:.0f} % of the server's CPU in "
            f"{len(disturbed)} of {len(phases)} phases (up to {max(disturbed):.0f} %): their "
            "req/s are understated, and CPU per request is inflated too when it is much"
        )
    saturated = [p.wrk_pct for p in phases if p.wrk_pct > LOAD_BOUND_PCT]
    if saturated:
        lines.append(
            f"  wrk used over {LOAD_BOUND_PCT:.0f} % of its CPU in {len(saturated)} phases (up "
            f"to {max(saturated):.0f} %): the load generator may have been the limit"
        )
    return lines


def report(phases: Sequence[Phase], opts: Options, machine: Machine) -> str:
    """The machine, the per-round table, the summary and the ratios, as plain text."""
    bare, menu = round_rps(phases, BARE), round_rps(phases, MENU)
    summaries = {name: summarize(name, phases) for name in SCENARIOS}
    return "\n".join(
        [
            f"Ringflow webhook benchmark: {opts.rounds} rounds x {opts.requests} requests per "
            f"scenario (+{opts.warmup} warm-up once), {opts.connections} connections, each "
            "request sent once",
            f"machine: {machine.cpus} CPUs ({machine.cpu_model}); servers on CPU "
            f"{machine.server_cpu}, wrk (1 thread) and this script on CPU {machine.load_cpu}"
            + (f"; all at niceness {machine.nice}" if machine.nice else ""),
            f"{machine.wrk}; Python {machine.python}; {machine.versions}; "
            f"Ringflow {machine.commit}",
            f"load average (1/5/15 min) before the run: {loads(machine.load_before)}; "
            f"after: {loads(machine.load_after)}",
            f"speed: sum(range(10**7)) took {machine.speed_before_ms:.0f} ms of CPU on CPU "
            f"{machine.server_cpu} before the run, {machine.speed_after_ms:.0f} ms after (best "
            "of 3; the machine's speed moves, and CPU per request with it)",
            "",
            ROUND_HEADER,
            "-" * len(ROUND_HEADER),
            *(round_line(phase, bare, menu) for phase in phases),
            "",
            "summary: req/s and ratios are the median of the rounds (min-max), each round "
            "against its own baselines; p50/p99 over all rounds' requests pooled; srv µs/req "
            "= all rounds' server CPU / their requests",
            SUMMARY_HEADER,
            "-" * len(SUMMARY_HEADER),
            *(summary_line(summaries[name]) for name in SCENARIOS),
            "",
            "ratios (same run):",
            *ratio_lines(summaries),
            *(["", "notes:", *found] if (found := notes(phases)) else []),
        ]
    )


def figures(phases: Sequence[Phase], opts: Options, machine: Machine) -> dict[str, object]:
    """Everything the report says, for ``--json`` (to compare runs)."""
    summaries = {name: summarize(name, phases) for name in SCENARIOS}
    return {
        "options": {
            "rounds": opts.rounds,
            "requests": opts.requests,
            "warmup": opts.warmup,
            "connections": opts.connections,
        },
        "machine": {
            "cpus": machine.cpus,
            "cpu_model": machine.cpu_model,
            "server_cpu": machine.server_cpu,
            "load_cpu": machine.load_cpu,
            "nice": machine.nice,
            "wrk": machine.wrk,
            "python": machine.python,
            "versions": machine.versions,
            "commit": machine.commit,
            "load_before": machine.load_before,
            "load_after": machine.load_after,
            "speed_before_ms": round(machine.speed_before_ms, 1),
            "speed_after_ms": round(machine.speed_after_ms, 1),
        },
        "rounds": [
            {
                "round": p.round,
                "scenario": p.scenario,
                "requests": p.requests,
                "errors": p.errors,
                "rps": round(p.rps, 1),
                "p50_ms": p.latency_ms(0.50),
                "p99_ms": p.latency_ms(0.99),
                "server_us_per_request": round(p.server_us, 1),
                "server_cpu_pct": round(p.server_pct, 1),
                "other_cpu_pct": round(p.other_pct, 1),
                "wrk_cpu_pct": round(p.wrk_pct, 1),
                "load_seconds": round(p.wrk.duration_s, 3),
                "window_seconds": round(p.window_s, 3),
            }
            for p in phases
        ],
        "summary": {
            name: {
                "requests": s.requests,
                "errors": s.errors,
                "median_rps": round(s.median_rps, 1),
                "median_vs_bare": round(statistics.median(s.vs_bare), 3),
                "median_vs_menu": round(statistics.median(s.vs_menu), 3),
                "p50_ms": s.p50_ms,
                "p99_ms": s.p99_ms,
                "server_us_per_request": round(s.server_us, 1),
                "server_cpu_pct": round(s.server_pct, 1),
                "other_cpu_pct": round(s.other_pct, 1),
                "wrk_cpu_pct": round(s.wrk_pct, 1),
            }
            for name, s in summaries.items()
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 1 when a request failed or it could not run."""
    opts = parse_options(argv)
    load_before = os.getloadavg()
    try:
        find_wrk()
        check_cpus(opts.server_cpu, opts.load_cpu)
        speed_before = python_speed_ms(opts.server_cpu)
        phases = bench(opts)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    machine = machine_facts(opts, load_before, speed_before)
    print(report(phases, opts, machine))
    if opts.json_path:
        opts.json_path.write_text(json.dumps(figures(phases, opts, machine), indent=2) + "\n")
    if opts.profile:
        print(f"(profiled run, Ringflow's numbers are slowed down; profile in {opts.profile})")
    failed = sum(p.errors for p in phases)
    if failed:
        print(f"{failed} requests failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
