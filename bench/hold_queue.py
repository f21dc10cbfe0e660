"""Hold-queue benchmark: what callers waiting in a team's hold queue cost the server (issue 11's
target: 500 callers waiting, with position announcements every 30 s, <= 10 % of one core).

Set-up, untimed, over the real webhooks: Ringflow as ``ringflow serve`` runs it (SQLite, the
job worker on, signatures checked) with one workflow whose ``connect`` step queues callers
for the team ``support`` (``announce_every`` 30 s by default); the team's 3 agents are
``away`` (set over the admin API), so ``--callers`` new calls (``POST /twilio/voice``) are all
answered ``<Enqueue>`` and wait in the queue.

Load: what Twilio does for a waiting caller: it requests the queue's ``waitUrl`` (``POST
/twilio/voice/queue/wait`` with the caller's CallSid and Twilio's queue fields, signed as
Twilio signs) each time the hold TwiML ends, i.e. about every ``--music-seconds`` (20 s of
music). wrk (one thread, pinned to ``--load-cpu``) sends the requests, rotating over the
callers, **at full speed**: the server's CPU time per request (from /proc) is measured there,
and the cost at Twilio's rate (callers / music seconds requests a second) is computed from it:
``% of a core = µs/req x req/s / 10^6 x 100``. Each round times, on the server pinned to
``--server-cpu``:

* ``wait, announcement``: one request per caller, each due an announcement (its position,
  an estimate, the keys: two counts and an update in the database);
* ``wait, music only``: ``--passes`` requests per caller, none due (one read);
* ``bare aiohttp``: as many requests (the same forms) to a plain aiohttp server answering a
  fixed TwiML string (``bench.baselines fixed``, pinned to the same CPU): what aiohttp costs;
* ``idle``: nothing sent until the callers' announcements are due again (``announce_every``
  + 1 s after the announcement phase): the server's own CPU meanwhile (the job worker's polls)
  is part of the callers' cost too.

That every request of the announcement phase announced, and none of the music phase did, is
checked on the database (each caller's ``announced_at``). Usage::

    .venv/bin/python -m bench.hold_queue                    # 500 callers, 3 rounds
    .venv/bin/python -m bench.hold_queue --callers 1000 --rounds 5

Exit status 1 when a request failed or the benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    HOST,
    VOICE_PATH,
    BenchError,
    Job,
    Server,
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
    check_cpus,
    free_port,
    pinned_server,
    python_command,
    server_env,
    set_niceness,
)
from bench.webhooks import Phase, baseline_command, git_commit, python_speed_ms
from bench.wrk import find_wrk, histogram_percentile, run_wrk, write_requests, wrk_version
from ivr.twiml import QUEUE_WAIT_PATH

ANNOUNCED = "wait, announcement"
MUSIC = "wait, music only"
BARE = "bare aiohttp"
PACED = "wait, at Twilio's rate"
SCENARIOS = (ANNOUNCED, MUSIC, BARE)
TARGET_PCT = 10.0
TEAM = "support"
AGENT_NAMES = ("agent1", "agent2", "agent3")
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
QUEUE_SID = "QU" + "0123456789abcdef" * 2
REJECTS = ("<Leave", 'length="10"')
"""A caller taken out of the queue, and the silence Ringflow answers when the wait webhook
failed (it never answers a 500 there): both count as failed requests."""
FAILED_IN_LOG = "hold queue webhook failed"


@dataclass(frozen=True, slots=True)
class Options:
    """Command-line options."""

    callers: int
    rounds: int
    passes: int
    announce_every: int
    music_seconds: float
    connections: int
    limit_s: float
    server_cpu: int
    load_cpu: int
    nice: int
    paced_cycles: int
    json_path: Path | None

    @property
    def rate(self) -> float:
        """Twilio's requests a second for all callers: each one's wait URL once per music."""
        return self.callers / self.music_seconds

    @property
    def announcing_share(self) -> float:
        """Share of a caller's wait requests that announce: one every ceil(a / m) requests
        when a request comes every m seconds and an announcement is due after a seconds."""
        return 1 / max(1, math.ceil(self.announce_every / self.music_seconds))


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.hold_queue", description=__doc__)
    parser.add_argument("--callers", type=int, default=500, help="callers waiting (500)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    parser.add_argument(
        "--passes", type=int, default=4, help="music-only requests per caller and round (4)"
    )
    parser.add_argument(
        "--announce-every", type=int, default=30, help="the queue's announce_every, s (30)"
    )
    parser.add_argument(
        "--music-seconds",
        type=float,
        default=20.0,
        help="seconds between a caller's wait requests (the hold music's length, 20)",
    )
    parser.add_argument("--connections", type=int, default=50, help="requests in flight (50)")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds a phase may take")
    parser.add_argument("--server-cpu", type=int, default=1, help="CPU of the servers (1)")
    parser.add_argument("--load-cpu", type=int, default=0, help="CPU of wrk and this script (0)")
    parser.add_argument("--nice", type=int, default=0, help="niceness (below 0 needs root)")
    parser.add_argument(
        "--paced-cycles",
        type=int,
        default=2,
        help="then each caller's wait URL this many times at Twilio's rate (2; 0: skip)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not 1 <= args.callers <= 20_000:
        parser.error("--callers must be 1-20000")
    if not 1 <= args.rounds <= 20 or not 1 <= args.passes <= 50:
        parser.error("--rounds must be 1-20, --passes 1-50")
    if not 10 <= args.announce_every <= 600:
        parser.error("--announce-every must be 10-600 (what a workflow accepts)")
    if not 1 <= args.music_seconds <= 600:
        parser.error("--music-seconds must be 1-600")
    if not 1 <= args.connections <= 1000 or not -20 <= args.nice <= 19:
        parser.error("--connections must be 1-1000, --nice -20-19")
    if not 0 <= args.paced_cycles <= 10:
        parser.error("--paced-cycles must be 0-10")
    if not 1 <= args.limit <= 3600:
        parser.error("--limit must be 1-3600 s")
    return Options(
        callers=args.callers,
        rounds=args.rounds,
        passes=args.passes,
        announce_every=args.announce_every,
        music_seconds=args.music_seconds,
        connections=args.connections,
        limit_s=args.limit,
        server_cpu=args.server_cpu,
        load_cpu=args.load_cpu,
        nice=args.nice,
        paced_cycles=args.paced_cycles,
        json_path=args.json,
    )


# --- set-up --------------------------------------------------------------------------------


def workflow_yaml(announce_every: int) -> str:
    """A line whose callers wait in the team's queue (agents all away: nobody is rung)."""
    called = call_params("CA0", "ringing")["To"]
    return f"""id: hold-bench
trigger: {{event: call.incoming, to: "{called}"}}
start: connect
steps:
  connect:
    connect:
      team: {TEAM}
      queue: {{max_wait: 7200, announce_every: {announce_every}}}
    on_answered: bye
    on_no_agents: bye
  bye: {{hangup: "Thank you for calling."}}
"""


def ringflow_env(port: int, token: str, admin: str, data: Path, flows: Path) -> dict[str, str]:
    """``ringflow serve``'s settings: SQLite in ``data``, the workflow in ``flows``, signatures
    checked for ``http://127.0.0.1:<port>``; Twilio's API on a closed port (no agent frees up,
    so nothing should call it; if something did, it would fail here, not reach Twilio)."""
    return server_env(
        {
            "RINGFLOW_DATA_DIR": str(data),
            "RINGFLOW_FLOWS_DIR": str(flows),
            "RINGFLOW_PUBLIC_URL": f"http://{HOST}:{port}",
            "RINGFLOW_LOG_LEVEL": "WARNING",
            "RINGFLOW_ADMIN_TOKEN": admin,
            "RINGFLOW_TWILIO_API_URL": f"http://{HOST}:{free_port()}",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": token,
        }
    )


async def enqueue_callers(ringflow: Server, token: str, admin: str, opts: Options) -> list[str]:
    """The team with its agents away (admin API), then ``opts.callers`` new calls, each
    answered ``<Enqueue>``: their CallSids."""
    headers = {"Authorization": f"Bearer {admin}"}
    async with client_session(opts.connections) as session:
        for number, name in enumerate(AGENT_NAMES):
            agent = {
                "status": "away",
                "endpoints": [{"kind": "phone", "address": f"+1202555010{number}"}],
            }
            url = f"{ringflow.base_url}/api/agents/{name}"
            async with session.put(url, json=agent, headers=headers) as answer:
                if answer.status not in (200, 201):
                    raise BenchError(
                        f"PUT /api/agents/{name}: {answer.status} {await answer.text()}"
                    )
        team = {"members": list(AGENT_NAMES)}
        async with session.put(
            f"{ringflow.base_url}/api/teams/{TEAM}", json=team, headers=headers
        ) as answer:
            if answer.status not in (200, 201):
                raise BenchError(f"PUT /api/teams/{TEAM}: {answer.status} {await answer.text()}")
        signer = make_signer(token)
        sids = [new_call_sid() for _ in range(opts.callers)]
        calls = [
            signed_job(signer, ringflow.base_url + VOICE_PATH, call_params(sid, "ringing"))
            for sid in sids
        ]
        batch = await fire(session, calls, opts.connections, opts.limit_s)
    queued = sum("<Enqueue" in answer for answer in batch.answers)
    if batch.errors or queued != len(sids):
        raise BenchError(
            f"enqueueing: {queued} of {len(sids)} calls queued, e.g. {first_failure(batch)!r}"
        )
    return sids


def wait_params(sid: str, position: int, size: int, waited_s: int) -> dict[str, str]:
    """What Twilio posts to a queue's waitUrl: the call's fields and the queue's."""
    return {
        **call_params(sid, "in-progress"),
        "QueueSid": QUEUE_SID,
        "QueuePosition": str(position),
        "QueueTime": str(waited_s),
        "AvgQueueTime": str(waited_s),
        "CurrentQueueSize": str(size),
        "MaxQueueSize": "1000",
    }


def wait_jobs(token: str, url: str, sids: Sequence[str], passes: int, waited_s: int) -> list[Job]:
    """``passes`` wait requests per caller, rotating over the callers, signed for ``url``."""
    signer = make_signer(token)
    return [
        signed_job(signer, url, wait_params(sid, position, len(sids), waited_s + 20 * turn))
        for turn in range(passes)
        for position, sid in enumerate(sids, start=1)
    ]


def announced_at(database: Path) -> dict[str, str]:
    """Each queued call's ``announced_at`` and status, from the server's SQLite file."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute('SELECT "call", announced_at, status FROM queue_entries').fetchall()
    return {
        call: f"{at}" if status == "waiting" else f"left: {status}" for call, at, status in rows
    }


def changed(before: dict[str, str], after: dict[str, str]) -> int:
    """Callers whose announcement time changed (or who left the queue)."""
    return sum(after.get(call) != at for call, at in before.items())


# --- measurement ---------------------------------------------------------------------------


def measure(
    scenario: str,
    number: int,
    server: Server,
    path: Path,
    count: int,
    o: Options,
    paced: tuple[int, int, float] | None = None,
) -> Phase:
    """Send the ``count`` requests of ``path`` to ``server`` with wrk (at full speed, or
    ``paced``: connections, ms each waits before each request, seconds at most); its CPU."""
    connections, pace_ms, limit_s = paced or (o.connections, 0, o.limit_s)
    server_before = process_cpu_seconds(server.pid)
    busy_before = cpu_busy_seconds(o.server_cpu)
    began = time.monotonic()
    result = run_wrk(find_wrk(), server.base_url, path, connections, limit_s, o.nice, pace_ms)
    window = time.monotonic() - began
    server_cpu = process_cpu_seconds(server.pid) - server_before
    other = max(0.0, cpu_busy_seconds(o.server_cpu) - busy_before - server_cpu)
    return Phase(scenario, number, count, result, server_cpu, other, window)


@dataclass(frozen=True, slots=True)
class Idle:
    """The server's CPU while nobody sent anything, callers waiting."""

    round: int
    seconds: float
    cpu_s: float

    @property
    def pct(self) -> float:
        """Its CPU over the wall time, % of one core."""
        return 100 * self.cpu_s / self.seconds if self.seconds else 0.0


@dataclass(slots=True)
class Run:
    """Everything a run measured."""

    phases: list[Phase]
    idles: list[Idle]
    wrong: list[str]
    """Failures found on the database or in the server's log."""
    paced: Phase | None = None
    """Each caller's wait URL ``--paced-cycles`` times at Twilio's rate (None: skipped)."""


def bench(opts: Options) -> Run:
    """Start the servers, queue the callers, run the rounds."""
    find_wrk()
    check_cpus(opts.server_cpu, opts.load_cpu)
    # This process (signing, set-up) and wrk, its child, share the load CPU, for the run only
    # (main() may be called from a longer-lived process, e.g. the benchmark's test).
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {opts.load_cpu})
    try:
        if opts.nice:
            set_niceness(opts.nice)
        return run_rounds(opts)
    finally:
        os.sched_setaffinity(0, before)


def run_rounds(opts: Options) -> Run:
    """The servers started, the callers queued, the rounds and the paced phase run."""
    token, admin = secrets.token_hex(16), secrets.token_hex(24)
    run = Run([], [], [])
    with tempfile.TemporaryDirectory(prefix="ringflow-hold-bench-") as folder, ExitStack() as stack:
        work = Path(folder)
        data, flows = work / "data", work / "flows"
        data.mkdir()
        flows.mkdir()
        (flows / "hold-bench.yaml").write_text(workflow_yaml(opts.announce_every))
        ports = free_port(), free_port()
        log = work / "ringflow.log"
        ringflow = stack.enter_context(
            pinned_server(
                "ringflow",
                python_command("-m", "server", "serve", "--host", HOST, "--port", str(ports[0])),
                ringflow_env(ports[0], token, admin, data, flows),
                ports[0],
                opts.server_cpu,
                log,
                opts.nice,
            )
        )
        bare = stack.enter_context(
            pinned_server(
                BARE,
                baseline_command("fixed", ports[1]),
                server_env({}),
                ports[1],
                opts.server_cpu,
                work / "bare.log",
                opts.nice,
            )
        )
        sids = asyncio.run(enqueue_callers(ringflow, token, admin, opts))
        database = data / "ringflow.db"
        wait_url = ringflow.base_url + QUEUE_WAIT_PATH
        for number in range(1, opts.rounds + 1):
            waited = (number - 1) * (opts.announce_every + 1)
            due = write_requests(
                work / f"due-{number}.requests",
                wait_jobs(token, wait_url, sids, 1, waited),
                REJECTS,
            )
            music_jobs = wait_jobs(token, wait_url, sids, opts.passes, waited + 1)
            music = write_requests(work / f"music-{number}.requests", music_jobs, REJECTS)
            base_jobs = [Job(bare.base_url + VOICE_PATH, j.body, j.headers) for j in music_jobs]
            baseline = write_requests(work / f"bare-{number}.requests", base_jobs)

            before = announced_at(database)
            run.phases.append(measure(ANNOUNCED, number, ringflow, due, len(sids), opts))
            due_ended = time.monotonic()
            after = announced_at(database)
            if (told := changed(before, after)) != len(sids):
                run.wrong.append(f"round {number}: {told} of {len(sids)} callers announced")
            run.phases.append(measure(MUSIC, number, ringflow, music, len(music_jobs), opts))
            if told := changed(after, announced_at(database)):
                run.wrong.append(f"round {number}: {told} callers announced with music only")
            run.phases.append(measure(BARE, number, bare, baseline, len(base_jobs), opts))

            # Idle until every caller's announcement is due again (the next round's phase).
            idle_cpu = process_cpu_seconds(ringflow.pid)
            idle_began = time.monotonic()
            time.sleep(max(1.0, due_ended + opts.announce_every + 1 - idle_began))
            idle_s = time.monotonic() - idle_began
            run.idles.append(Idle(number, idle_s, process_cpu_seconds(ringflow.pid) - idle_cpu))
            print(f"round {number}/{opts.rounds} done", file=sys.stderr, flush=True)
        if opts.paced_cycles:
            # Every caller is due an announcement now (the last idle lasted until then): at
            # Twilio's rate the first request of each announces, the next (20 s later) not.
            waited = opts.rounds * (opts.announce_every + 1)
            jobs = wait_jobs(token, wait_url, sids, opts.paced_cycles, waited)
            paced = write_requests(work / "paced.requests", jobs, REJECTS)
            connections = max(1, min(len(sids), round(opts.rate)))
            pace_ms = round(1000 * connections / opts.rate)
            limit = opts.paced_cycles * opts.music_seconds + 60
            run.paced = measure(
                PACED, 0, ringflow, paced, len(jobs), opts, (connections, pace_ms, limit)
            )
        logged = log.read_text(errors="replace").splitlines()
        failed = [line for line in logged if FAILED_IN_LOG in line]
        if failed:
            run.wrong.append(f"{len(failed)} failures in the server's log, e.g. {failed[0][:200]}")
    return run


def all_phases(run: Run) -> list[Phase]:
    """The rounds' phases and the paced one."""
    return [*run.phases, *([run.paced] if run.paced is not None else [])]


def failed(run: Run) -> bool:
    """Whether any request failed, or the database or the log showed a failure."""
    return bool(run.wrong) or any(p.errors for p in all_phases(run))


# --- report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """One scenario over all rounds."""

    scenario: str
    requests: int
    errors: int
    median_rps: float
    p50_ms: float
    p99_ms: float
    server_us: float


def summarize(scenario: str, phases: Sequence[Phase]) -> Summary:
    """``scenario``'s phases over all rounds: CPU over all requests, latencies pooled."""
    mine = [p for p in phases if p.scenario == scenario]
    histogram = [bucket for p in mine for bucket in p.wrk.latency_us]
    answered = sum(p.wrk.answered for p in mine)
    return Summary(
        scenario=scenario,
        requests=sum(p.requests for p in mine),
        errors=sum(p.errors for p in mine),
        median_rps=statistics.median(p.rps for p in mine),
        p50_ms=histogram_percentile(histogram, 0.50) / 1000,
        p99_ms=histogram_percentile(histogram, 0.99) / 1000,
        server_us=sum(p.server_cpu_s for p in mine) / answered * 1e6 if answered else 0.0,
    )


@dataclass(frozen=True, slots=True)
class Cost:
    """What the callers cost at Twilio's rate, % of one core."""

    announcing_pct: float
    music_pct: float
    idle_pct: float

    @property
    def total_pct(self) -> float:
        """Requests plus the idle server."""
        return self.announcing_pct + self.music_pct + self.idle_pct


def cost(summaries: dict[str, Summary], idles: Sequence[Idle], opts: Options) -> Cost:
    """% of a core = µs/req x req/s / 10^6 x 100, for the announcing and the music-only
    share of Twilio's requests; plus the idle server's own share."""
    share = opts.announcing_share
    seconds = sum(i.seconds for i in idles)
    return Cost(
        announcing_pct=summaries[ANNOUNCED].server_us * opts.rate * share / 1e4,
        music_pct=summaries[MUSIC].server_us * opts.rate * (1 - share) / 1e4,
        idle_pct=100 * sum(i.cpu_s for i in idles) / seconds if seconds else 0.0,
    )


HEADER = (
    f"{'round':<6}{'phase':<22}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
    f"{'errors':>7}{'srv µs/req':>11}{'srv CPU':>9}{'other':>7}{'wrk CPU':>9}"
)


def phase_line(p: Phase) -> str:
    """One row of the per-round table."""
    return (
        f"{p.round:<6}{p.scenario:<22}{p.requests:>9}{p.rps:>8.0f}{p.latency_ms(0.5):>8.1f}"
        f"{p.latency_ms(0.99):>8.1f}{p.errors:>7}{p.server_us:>11.0f}{p.server_pct:>8.0f}%"
        f"{p.other_pct:>6.0f}%{p.wrk_pct:>8.0f}%"
    )


def report(run: Run, opts: Options, facts: dict[str, str]) -> str:
    """The machine, the rounds, the summary, the ratios and the cost against the target."""
    summaries = {name: summarize(name, run.phases) for name in SCENARIOS}
    bare = summaries[BARE]
    spent = cost(summaries, run.idles, opts)
    worst = summaries[ANNOUNCED].server_us * opts.rate / 1e4 + spent.idle_pct
    measured = run.paced.server_pct if run.paced is not None else 0.0
    judged = max(spent.total_pct, measured)
    verdict = "MET" if judged <= TARGET_PCT else "NOT MET"
    lines = [
        f"Ringflow hold-queue benchmark: {opts.callers} callers waiting in team {TEAM!r}'s "
        f"queue (announce_every {opts.announce_every} s), {opts.rounds} rounds; wrk at full "
        f"speed, {opts.connections} connections, rotating over the callers",
        f"machine: {facts['machine']}",
        f"load average before: {facts['load_before']}; after: {facts['load_after']}",
        f"speed: sum(range(10**7)) took {facts['speed']} ms of CPU on the server CPU (before /"
        " after; CPU per request moves with it)",
        "",
        HEADER,
        "-" * len(HEADER),
        *(phase_line(p) for p in run.phases),
        *(
            f"{i.round:<6}{'idle, callers waiting':<22}{i.seconds:>8.1f}s{'':>42}{i.pct:>8.1f}%"
            for i in run.idles
        ),
        "",
        "summary: req/s the median of the rounds; p50/p99 over all rounds' requests; srv µs/req "
        "= all rounds' server CPU / their requests",
        f"{'phase':<22}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
        f"{'srv µs/req':>11}{'vs bare':>9}",
    ]
    for s in summaries.values():
        vs = f"{s.server_us / bare.server_us:.1f}x" if bare.server_us else "-"
        lines.append(
            f"{s.scenario:<22}{s.requests:>9}{s.median_rps:>8.0f}{s.p50_ms:>8.1f}{s.p99_ms:>8.1f}"
            f"{s.errors:>7}{s.server_us:>11.0f}{vs:>9}"
        )
    share = opts.announcing_share
    lines += [
        "",
        f"cost of {opts.callers} waiting callers, computed from the CPU per request at full "
        "speed (% of a core = µs/req x req/s / 10^6 x 100):",
        f"  Twilio requests each caller's wait URL every ~{opts.music_seconds:g} s (the hold "
        f"music): {opts.rate:.1f} req/s; an announcement is due every "
        f"{opts.announce_every} s, so on {share:.0%} of them",
        f"  announcing: {opts.rate * share:.1f} req/s x {summaries[ANNOUNCED].server_us:.0f} µs "
        f"= {spent.announcing_pct:.2f} %",
        f"  music only: {opts.rate * (1 - share):.1f} req/s x {summaries[MUSIC].server_us:.0f} "
        f"µs = {spent.music_pct:.2f} %",
        f"  idle server with the callers waiting (measured between rounds): {spent.idle_pct:.2f} %",
        f"  total: {spent.total_pct:.2f} % of one core (if every request announced: {worst:.2f} %)",
    ]
    if run.paced is not None:
        p = run.paced
        lines += [
            f"cost measured at Twilio's rate: each caller's wait URL {opts.paced_cycles} times, "
            f"{p.requests} requests in {p.wrk.duration_s:.1f} s = {p.rps:.1f} req/s (paced by "
            f"wrk's delay), p50 {p.latency_ms(0.5):.1f} ms, p99 {p.latency_ms(0.99):.1f} ms, "
            f"{p.errors} errors, "
            f"{p.server_us:.0f} µs/req (its idle time included): the server used "
            f"{p.server_pct:.2f} % of one core",
        ]
    lines += [
        f"target: {opts.callers} callers waiting, announcements every {opts.announce_every} s, "
        f"<= {TARGET_PCT:g} % of one core: {verdict} ({judged:.2f} %, the larger of the computed "
        "and the measured cost)",
    ]
    if failed(run):
        lines += ["", "failures:", *(f"  {line}" for line in run.wrong)]
        lines += [
            f"  round {p.round}, {p.scenario}: {p.errors} failed, e.g. {p.wrk.first_bad!r}"
            for p in all_phases(run)
            if p.errors
        ]
    return "\n".join(lines)


def figures(run: Run, opts: Options) -> dict[str, object]:
    """The summary figures, for ``--json``."""
    summaries = {name: summarize(name, run.phases) for name in SCENARIOS}
    spent = cost(summaries, run.idles, opts)
    return {
        "callers": opts.callers,
        "rate": opts.rate,
        "summary": {
            name: {
                "requests": s.requests,
                "errors": s.errors,
                "median_rps": round(s.median_rps, 1),
                "p99_ms": s.p99_ms,
                "server_us_per_request": round(s.server_us, 1),
            }
            for name, s in summaries.items()
        },
        "idle_pct": round(spent.idle_pct, 3),
        "computed_pct": round(spent.total_pct, 3),
        "measured_pct": round(run.paced.server_pct, 3) if run.paced is not None else None,
        "measured_rps": round(run.paced.rps, 2) if run.paced is not None else None,
        "target_met": max(spent.total_pct, run.paced.server_pct if run.paced else 0.0)
        <= TARGET_PCT,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 1 when a request failed or it could not run."""
    opts = parse_options(argv)
    load_before = os.getloadavg()
    try:
        find_wrk()
        check_cpus(opts.server_cpu, opts.load_cpu)
        speed_before = python_speed_ms(opts.server_cpu)
        run = bench(opts)
        speed_after = python_speed_ms(opts.server_cpu)
        facts = {
            "machine": f"{os.cpu_count()} CPUs; servers on CPU {opts.server_cpu}, wrk on CPU "
            f"{opts.load_cpu}; {wrk_version(find_wrk())}; Ringflow {git_commit()}",
            "load_before": loads(load_before),
            "load_after": loads(os.getloadavg()),
            "speed": f"{speed_before:.0f} / {speed_after:.0f}",
        }
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(report(run, opts, facts))
    if opts.json_path:
        opts.json_path.write_text(json.dumps(figures(run, opts), indent=2) + "\n")
    if failed(run):
        print("some requests failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
