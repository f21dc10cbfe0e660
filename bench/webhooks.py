"""Webhook benchmark: bare aiohttp against Ringflow's full voice path, interleaved in one run.

Two server processes on 127.0.0.1, both started once and kept up for the whole run, while this
process generates the load (50 requests in flight, one keep-alive ``aiohttp.ClientSession`` per
server):

* ``baseline``: a bare aiohttp server whose one POST handler reads the form and returns a
  fixed TwiML string. It is the ceiling the machine allows right now.
* ``incoming call``: ``POST /twilio/voice`` on the real app (signature check, SQLite, engine,
  TwiML), each request a new call (unique ``CallSid``).
* ``keypress turn``: ``Digits=1`` posted to the ``<Gather action>`` of each call the same
  round's incoming phase started, one keypress per call.

The machine is noisy, so the scenarios run in interleaved rounds (baseline, incoming,
keypress; again), each round's ratios are taken against that round's baseline, and the
summary gives the median of the rounds' req/s and ratios with p50/p99 over all timed requests
of a scenario pooled across the rounds.

Usage: ``python -m bench.webhooks [--rounds R] [--requests N] [--no-check]``. The exit status
is 1 when a request failed or, unless ``--no-check``, when a target does not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import html
import math
import multiprocessing
import os
import platform
import re
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from ivr.service import APOLOGY, NOT_IN_SERVICE

HOST = "127.0.0.1"
VOICE_PATH = "/twilio/voice"
FORM_TYPE = "application/x-www-form-urlencoded"
CALLER = "+14155550123"
CALLED = "+15005550001"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
FIXED_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US">Thank you for '
    'calling Acme.</Say><Gather action="/twilio/voice/runs/0/1/gather" method="POST" '
    'numDigits="1" timeout="6" actionOnEmptyResult="true"><Say language="en-US">For our '
    'opening hours, press 1.</Say></Gather><Redirect method="POST">'
    "/twilio/voice/runs/0/1/gather</Redirect></Response>"
)
GATHER_ACTION = re.compile(r'<Gather\b[^>]*\baction="([^"]*)"')

BASELINE = "baseline (bare aiohttp)"
INCOMING = "incoming call"
KEYPRESS = "keypress turn"
SCENARIOS = (BASELINE, INCOMING, KEYPRESS)

RATIO_TARGET = 0.30
P99_TARGET_MS = 50.0
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 10.0
MAX_REQUESTS = 1_000_000
MAX_ROUNDS = 100


class BenchError(RuntimeError):
    """The benchmark could not run as planned (a server did not start, set-up failed)."""


# --- servers (each runs in a spawned child process) ---------------------------------------


def _baseline_app(_port: int) -> web.Application:
    """The bare server: read the form, answer a fixed TwiML string."""

    async def answer(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text=FIXED_TWIML, content_type="text/xml")

    app = web.Application()
    app.router.add_post(VOICE_PATH, answer)
    return app


def _clear_ringflow_env() -> None:
    """Keep the caller's RINGFLOW_* / TWILIO_AUTH_TOKEN out of the benchmarked settings."""
    for key in list(os.environ):
        upper = key.upper()
        if upper.startswith("RINGFLOW_") or upper == "TWILIO_AUTH_TOKEN":
            del os.environ[key]


def _full_app_factory(token: str, data_dir: Path) -> Callable[[int], web.Application]:
    """Ringflow's app for a port, as ``ringflow serve`` builds it, data in ``data_dir``."""

    def make(port: int) -> web.Application:
        import server
        from ringflow.settings import load_settings

        settings = load_settings(
            data_dir=data_dir,
            public_url=f"http://{HOST}:{port}",
            twilio_auth_token=token,
            log_level="WARNING",
        )
        # As `ringflow serve` builds it.
        return server.create_app(settings, server.load_flows(settings), serving=True)

    return make


def _listening_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


async def _host(
    conn: Connection, make_app: Callable[[int], web.Application], profile: str | None
) -> None:
    """Serve ``make_app(port)`` on a free port, report the port on ``conn``, stop on SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    profiler = cProfile.Profile() if profile else None
    with _listening_socket() as sock:
        port = sock.getsockname()[1]
        try:
            runner = web.AppRunner(make_app(port), access_log=None)
            await runner.setup()
        except Exception as error:
            conn.send(f"server failed to start: {error!r}")
            raise
        try:
            await web.SockSite(runner, sock).start()
            conn.send(port)
            if profiler is not None:
                profiler.enable()
            await stop.wait()
        finally:
            if profiler is not None and profile:
                profiler.disable()
                profiler.dump_stats(profile)
            await runner.cleanup()


def serve_baseline(conn: Connection) -> None:
    """Child process: the bare aiohttp server."""
    from ringflow.logs import configure_logging

    configure_logging("WARNING")
    asyncio.run(_host(conn, _baseline_app, None))


def serve_full(conn: Connection, token: str, profile: str | None) -> None:
    """Child process: Ringflow's app with the demo workflow, SQLite in a temporary folder."""
    from ringflow.logs import configure_logging

    _clear_ringflow_env()
    configure_logging("WARNING", [token])
    with tempfile.TemporaryDirectory(prefix="ringflow-bench-") as data_dir:
        asyncio.run(_host(conn, _full_app_factory(token, Path(data_dir)), profile))


@dataclass(frozen=True, slots=True)
class Server:
    """A running server process."""

    name: str
    pid: int
    base_url: str


def _await_port(proc: BaseProcess, conn: Connection, name: str) -> int:
    """The port the child reports on ``conn``; BenchError when it fails or takes too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if conn.poll(0.1):
            try:
                message = conn.recv()
            except EOFError:
                raise BenchError(f"{name}: server exited, see its errors above") from None
            if isinstance(message, int):
                return message
            raise BenchError(f"{name}: {message}")
        if not proc.is_alive():
            raise BenchError(f"{name}: server exited with status {proc.exitcode}")
    raise BenchError(f"{name}: server not ready after {STARTUP_TIMEOUT_S:.0f} s")


def _stop(proc: BaseProcess) -> None:
    """SIGTERM the child (so it can write its profile), SIGKILL it if it lingers."""
    if proc.is_alive() and proc.pid is not None:
        os.kill(proc.pid, signal.SIGTERM)
        proc.join(STOP_TIMEOUT_S)
    if proc.is_alive():
        proc.kill()
        proc.join(STOP_TIMEOUT_S)


@contextlib.contextmanager
def server_process(name: str, target: Callable[..., None], *args: object) -> Iterator[Server]:
    """Start ``target(conn, *args)`` in a spawned process; always stop it on the way out."""
    spawn = multiprocessing.get_context("spawn")
    reader, writer = spawn.Pipe(duplex=False)
    proc = spawn.Process(target=target, args=(writer, *args), name=name, daemon=True)
    proc.start()
    writer.close()
    try:
        port = _await_port(proc, reader, name)
        assert proc.pid is not None
        yield Server(name, proc.pid, f"http://{HOST}:{port}")
    finally:
        _stop(proc)
        reader.close()


# --- requests ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """One prepared request: URL, url-encoded form and headers (with the signature)."""

    url: str
    body: bytes
    headers: Mapping[str, str]


def call_params(call_sid: str, status: str) -> dict[str, str]:
    """The form Twilio posts for a voice call (the usual fields of a US call)."""
    place = {"City": "SAN FRANCISCO", "State": "CA", "Zip": "94105", "Country": "US"}
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Direction": "inbound",
        "From": CALLER,
        "Caller": CALLER,
        "To": CALLED,
        "Called": CALLED,
    }
    for prefix in ("From", "Caller", "To", "Called"):
        params.update({prefix + key: value for key, value in place.items()})
    return params


def new_call_sid() -> str:
    """A fresh, unique CallSid."""
    return "CA" + secrets.token_hex(16)


def signed_job(
    signer: Callable[[str, Mapping[str, str]], str], url: str, params: dict[str, str]
) -> Job:
    """``params`` posted to ``url`` with the X-Twilio-Signature ``signer`` computes."""
    headers = {"Content-Type": FORM_TYPE, "X-Twilio-Signature": signer(url, params)}
    return Job(url, urlencode(params).encode(), headers)


def make_signer(token: str) -> Callable[[str, Mapping[str, str]], str]:
    """Twilio's own signature function for ``token``."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)

    def sign(url: str, params: Mapping[str, str]) -> str:
        signature: str = validator.compute_signature(url, dict(params))
        return signature

    return sign


def incoming_jobs(
    signer: Callable[[str, Mapping[str, str]], str], base_url: str, count: int
) -> list[Job]:
    """``count`` new calls to ``base_url``'s voice webhook."""
    url = base_url + VOICE_PATH
    return [signed_job(signer, url, call_params(new_call_sid(), "ringing")) for _ in range(count)]


def gather_action(twiml: str, base_url: str) -> str:
    """The absolute URL of the first ``<Gather action>`` in ``twiml``."""
    found = GATHER_ACTION.search(twiml)
    if found is None:
        raise BenchError(f"no <Gather action> in the first answer: {twiml[:200]!r}")
    action = html.unescape(found.group(1))
    return action if action.startswith("http") else base_url + action


def keypress_jobs(
    signer: Callable[[str, Mapping[str, str]], str],
    base_url: str,
    started: Sequence[Job],
    answers: Sequence[str],
) -> list[Job]:
    """One ``Digits=1`` per started call, posted to its Gather's action URL."""
    jobs = []
    for job, answer in zip(started, answers, strict=True):
        sid = job.body.decode().split("CallSid=", 1)[1].split("&", 1)[0]
        params = {**call_params(sid, "in-progress"), "Digits": "1", "FinishedOnKey": ""}
        jobs.append(signed_job(signer, gather_action(answer, base_url), params))
    return jobs


# --- load generation ---------------------------------------------------------------------


@dataclass(slots=True)
class Batch:
    """What a batch of requests gave: per-request latency (s), success, answer; wall time."""

    latencies: list[float]
    ok: list[bool]
    answers: list[str]
    seconds: float

    @property
    def errors(self) -> int:
        """Failed requests."""
        return self.ok.count(False)


def is_answer(text: str) -> bool:
    """Whether ``text`` is TwiML that goes on with the call (not Ringflow's apology)."""
    return "<Response>" in text and APOLOGY not in text and NOT_IN_SERVICE not in text


@contextlib.asynccontextmanager
async def client_session(concurrency: int) -> AsyncIterator[aiohttp.ClientSession]:
    """A keep-alive session with at most ``concurrency`` connections."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def _send(session: aiohttp.ClientSession, job: Job) -> tuple[bool, str]:
    """Post ``job``: (whether it got a 200 answer that goes on with the call, the body)."""
    try:
        async with session.post(job.url, data=job.body, headers=job.headers) as response:
            text = await response.text()
            return response.status == 200 and is_answer(text), text
    except (aiohttp.ClientError, TimeoutError) as error:
        return False, repr(error)


async def fire(
    session: aiohttp.ClientSession, jobs: Sequence[Job], concurrency: int, timeout_s: float
) -> Batch:
    """Send ``jobs`` with ``concurrency`` requests in flight; fail after ``timeout_s``."""
    count = len(jobs)
    batch = Batch([0.0] * count, [False] * count, [""] * count, 0.0)
    pending = iter(range(count))

    async def worker() -> None:
        for index in pending:
            started = time.perf_counter()
            batch.ok[index], batch.answers[index] = await _send(session, jobs[index])
            batch.latencies[index] = time.perf_counter() - started

    began = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
    except TimeoutError:
        raise BenchError(f"{count} requests not done within {timeout_s:g} s") from None
    batch.seconds = time.perf_counter() - began
    return batch


def first_failure(batch: Batch) -> str:
    """The body (or error) of the first failed request of ``batch``, shortened."""
    index = batch.ok.index(False) if batch.errors else 0
    return batch.answers[index][:200] if batch.answers else ""


async def fire_or_fail(
    what: str, session: aiohttp.ClientSession, jobs: Sequence[Job], opts: Options
) -> Batch:
    """An untimed batch (warm-up, set-up) that must succeed entirely."""
    batch = await fire(session, jobs, opts.concurrency, opts.timeout)
    if batch.errors:
        raise BenchError(f"{what}: {batch.errors} failed requests, e.g. {first_failure(batch)!r}")
    return batch


# --- measurement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """Command-line options."""

    rounds: int
    requests: int
    warmup: int
    concurrency: int
    timeout: float
    check: bool
    profile: str | None


@dataclass(frozen=True, slots=True)
class Target:
    """A server under load and the session that loads it."""

    server: Server
    session: aiohttp.ClientSession


@dataclass(frozen=True, slots=True)
class Phase:
    """One scenario's timed phase in one round."""

    scenario: str
    round: int
    latencies: tuple[float, ...]
    errors: int
    seconds: float
    server_cpu_s: float
    client_cpu_s: float

    @property
    def requests(self) -> int:
        """Timed requests."""
        return len(self.latencies)

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    scenario: str, number: int, target: Target, jobs: Sequence[Job], opts: Options
) -> tuple[Phase, Batch]:
    """Time ``jobs`` against ``target``: the phase's figures, and the batch (for the answers)."""
    server_cpu = process_cpu_seconds(target.server.pid)
    client_cpu = time.process_time()
    batch = await fire(target.session, jobs, opts.concurrency, opts.timeout)
    phase = Phase(
        scenario=scenario,
        round=number,
        latencies=tuple(batch.latencies),
        errors=batch.errors,
        seconds=batch.seconds,
        server_cpu_s=process_cpu_seconds(target.server.pid) - server_cpu,
        client_cpu_s=time.process_time() - client_cpu,
    )
    return phase, batch


async def keypresses(
    full: Target,
    signer: Callable[[str, Mapping[str, str]], str],
    calls: Sequence[Job],
    batch: Batch,
    opts: Options,
) -> list[Job]:
    """A keypress for each call ``batch`` started; calls that failed are replaced (untimed)."""
    started = [
        (job, text) for job, ok, text in zip(calls, batch.ok, batch.answers, strict=True) if ok
    ]
    missing = len(calls) - len(started)
    if missing:
        extra = incoming_jobs(signer, full.server.base_url, missing)
        done = await fire_or_fail("starting replacement calls", full.session, extra, opts)
        started += zip(extra, done.answers, strict=True)
    return keypress_jobs(
        signer, full.server.base_url, [job for job, _ in started], [text for _, text in started]
    )


@dataclass(frozen=True, slots=True)
class Signers:
    """Signature functions: any token for the bare server, the app's token for Ringflow."""

    bare: Callable[[str, Mapping[str, str]], str]
    full: Callable[[str, Mapping[str, str]], str]


async def warm_up(bare: Target, full: Target, signers: Signers, opts: Options) -> None:
    """Untimed, once per server: calls on both, then a keypress on each of Ringflow's."""
    await fire_or_fail(
        "baseline warm-up",
        bare.session,
        incoming_jobs(signers.bare, bare.server.base_url, opts.warmup),
        opts,
    )
    calls = incoming_jobs(signers.full, full.server.base_url, opts.warmup)
    batch = await fire_or_fail("incoming-call warm-up", full.session, calls, opts)
    presses = keypress_jobs(signers.full, full.server.base_url, calls, batch.answers)
    await fire_or_fail("keypress warm-up", full.session, presses, opts)


async def one_round(
    number: int, bare: Target, full: Target, signers: Signers, opts: Options
) -> list[Phase]:
    """Baseline, incoming calls, then a keypress on each of those calls; fresh calls each."""
    bare_jobs = incoming_jobs(signers.bare, bare.server.base_url, opts.requests)
    calls = incoming_jobs(signers.full, full.server.base_url, opts.requests)
    baseline, _ = await measure(BASELINE, number, bare, bare_jobs, opts)
    incoming, batch = await measure(INCOMING, number, full, calls, opts)
    presses = await keypresses(full, signers.full, calls, batch, opts)
    keypress, _ = await measure(KEYPRESS, number, full, presses, opts)
    return [baseline, incoming, keypress]


def progress(phases: Sequence[Phase], rounds: int) -> None:
    """One line on stderr per finished round (a run takes a while)."""
    number = phases[0].round
    rates = ", ".join(f"{p.scenario.split()[0]} {p.rps:.0f}/s" for p in phases)
    print(f"round {number}/{rounds}: {rates}", file=sys.stderr, flush=True)


async def bench(bare_server: Server, full_server: Server, token: str, opts: Options) -> list[Phase]:
    """Warm both servers up once, then run the rounds; every timed phase, in order."""
    signers = Signers(bare=make_signer(secrets.token_hex(16)), full=make_signer(token))
    async with (
        client_session(opts.concurrency) as bare_session,
        client_session(opts.concurrency) as full_session,
    ):
        bare = Target(bare_server, bare_session)
        full = Target(full_server, full_session)
        await warm_up(bare, full, signers, opts)
        phases: list[Phase] = []
        for number in range(1, opts.rounds + 1):
            done = await one_round(number, bare, full, signers, opts)
            progress(done, opts.rounds)
            phases += done
    return phases


def run(opts: Options) -> list[Phase]:
    """Start both servers, keep them up for every round, stop them."""
    token = secrets.token_hex(16)
    with (
        server_process("baseline", serve_baseline) as bare,
        server_process("ringflow", serve_full, token, opts.profile) as full,
    ):
        return asyncio.run(bench(bare, full, token, opts))


# --- summary -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """One scenario over all rounds: medians of the rounds, percentiles of pooled requests."""

    scenario: str
    requests: int
    errors: int
    rps: Sequence[float]
    ratios: Sequence[float]
    p50_ms: float
    p99_ms: float
    server_cpu_us: float
    client_cpu_pct: float

    @property
    def median_rps(self) -> float:
        """Median of the rounds' req/s."""
        return statistics.median(self.rps)

    @property
    def median_ratio(self) -> float:
        """Median of the rounds' req/s relative to the same round's baseline."""
        return statistics.median(self.ratios)


def baseline_rps(phases: Sequence[Phase]) -> dict[int, float]:
    """Each round's baseline req/s, by round number."""
    return {p.round: p.rps for p in phases if p.scenario == BASELINE}


def ratio(phase: Phase, baselines: Mapping[int, float]) -> float:
    """``phase``'s req/s relative to its round's baseline."""
    base = baselines.get(phase.round, 0.0)
    return phase.rps / base if base else 0.0


def summarize(scenario: str, phases: Sequence[Phase]) -> Summary:
    """``scenario``'s phases across the rounds, summed up."""
    mine = [p for p in phases if p.scenario == scenario]
    baselines = baseline_rps(phases)
    pooled = sorted(latency for p in mine for latency in p.latencies)
    requests = len(pooled)
    seconds = sum(p.seconds for p in mine)
    return Summary(
        scenario=scenario,
        requests=requests,
        errors=sum(p.errors for p in mine),
        rps=[p.rps for p in mine],
        ratios=[ratio(p, baselines) for p in mine],
        p50_ms=percentile(pooled, 0.50) * 1000,
        p99_ms=percentile(pooled, 0.99) * 1000,
        server_cpu_us=sum(p.server_cpu_s for p in mine) / requests * 1e6 if requests else 0.0,
        client_cpu_pct=100 * sum(p.client_cpu_s for p in mine) / seconds if seconds else 0.0,
    )


def targets(summaries: Mapping[str, Summary]) -> list[tuple[str, bool]]:
    """Each target as (description with the measured value, holds)."""
    incoming = summaries[INCOMING]
    checks = [
        (
            f"incoming call req/s >= {RATIO_TARGET:.0%} of baseline (median of rounds): "
            f"{incoming.median_ratio:.1%}",
            incoming.median_ratio >= RATIO_TARGET,
        )
    ]
    for name in (INCOMING, KEYPRESS):
        stats = summaries[name]
        checks.append(
            (
                f"{name} p99 <= {P99_TARGET_MS:.0f} ms (all rounds pooled): {stats.p99_ms:.1f} ms",
                stats.p99_ms <= P99_TARGET_MS,
            )
        )
    return checks


# --- report ------------------------------------------------------------------------------

ROUND_HEADER = (
    f"{'round':<6}{'scenario':<24}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
    f"{'vs base':>9}{'srv CPU µs/req':>16}{'client CPU':>12}"
)
SUMMARY_HEADER = (
    f"{'scenario':<24}{'req/s (min-max)':>22}{'vs base (min-max)':>22}{'p50 ms':>8}"
    f"{'p99 ms':>8}{'errors':>7}{'srv CPU µs/req':>16}{'client CPU':>12}"
)


def round_line(phase: Phase, baselines: Mapping[int, float]) -> str:
    """One row of the per-round table."""
    latencies = sorted(phase.latencies)
    p50 = percentile(latencies, 0.50) * 1000
    p99 = percentile(latencies, 0.99) * 1000
    cpu_us = phase.server_cpu_s / phase.requests * 1e6 if phase.requests else 0.0
    client = 100 * phase.client_cpu_s / phase.seconds if phase.seconds else 0.0
    return (
        f"{phase.round:<6}{phase.scenario:<24}{phase.rps:>8.0f}{p50:>8.1f}{p99:>8.1f}"
        f"{phase.errors:>7}{ratio(phase, baselines):>8.2f}x{cpu_us:>16.0f}{client:>11.0f}%"
    )


def summary_line(s: Summary) -> str:
    """One row of the summary table."""
    rps = f"{s.median_rps:.0f} ({min(s.rps):.0f}-{max(s.rps):.0f})"
    ratios = f"{s.median_ratio:.2f}x ({min(s.ratios):.2f}-{max(s.ratios):.2f})"
    return (
        f"{s.scenario:<24}{rps:>22}{ratios:>22}{s.p50_ms:>8.1f}{s.p99_ms:>8.1f}"
        f"{s.errors:>7}{s.server_cpu_us:>16.0f}{s.client_cpu_pct:>11.0f}%"
    )


def loads(values: Sequence[float]) -> str:
    """A load average triple, printed."""
    return " ".join(f"{value:.2f}" for value in values)


def report(
    phases: Sequence[Phase],
    opts: Options,
    load_before: Sequence[float],
    load_after: Sequence[float],
) -> str:
    """The per-round table, the summary and the targets, as plain text."""
    baselines = baseline_rps(phases)
    summaries = {name: summarize(name, phases) for name in SCENARIOS}
    lines = [
        f"Ringflow webhook benchmark: {opts.rounds} rounds x {opts.requests} timed requests per "
        f"scenario (+{opts.warmup} warm-up once), {opts.concurrency} in flight, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"load average (1/5/15 min) before the run: {loads(load_before)}; "
        f"after: {loads(load_after)}",
        "",
        ROUND_HEADER,
        "-" * len(ROUND_HEADER),
        *(round_line(phase, baselines) for phase in phases),
        "",
        "summary: req/s and vs base are the median of the rounds (each round against its own "
        "baseline); p50/p99 over all timed requests pooled",
        SUMMARY_HEADER,
        "-" * len(SUMMARY_HEADER),
        *(summary_line(summaries[name]) for name in SCENARIOS),
        "targets:",
        *(f"  [{'ok' if ok else 'FAIL'}] {text}" for text, ok in targets(summaries)),
    ]
    return "\n".join(lines)


def exit_status(phases: Sequence[Phase], check: bool) -> int:
    """1 when any request failed, or (with ``check``) when a target does not hold."""
    if any(p.errors for p in phases):
        return 1
    summaries = {name: summarize(name, phases) for name in SCENARIOS}
    if check and not all(ok for _text, ok in targets(summaries)):
        return 1
    return 0


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests/scenario/round")
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests/server")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per batch")
    parser.add_argument("--no-check", action="store_true", help="report only; exit 0")
    parser.add_argument("--profile", help="cProfile the Ringflow server into this file")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be 1-{MAX_ROUNDS}")
    if args.requests < 1 or args.rounds * args.requests > MAX_REQUESTS:
        parser.error(f"--requests must be at least 1, and rounds x requests <= {MAX_REQUESTS}")
    if not 0 <= args.warmup <= MAX_REQUESTS:
        parser.error(f"--warmup must be 0-{MAX_REQUESTS}")
    if not 1 <= args.concurrency <= 1000 or not 0 < args.timeout <= 3600:
        parser.error("--concurrency must be 1-1000 and --timeout 0-3600 s")
    return Options(
        rounds=args.rounds,
        requests=args.requests,
        warmup=args.warmup,
        concurrency=args.concurrency,
        timeout=args.timeout,
        check=not args.no_check,
        profile=str(Path(args.profile).resolve()) if args.profile else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the report; the exit status says whether it passed."""
    opts = parse_options(argv)
    load_before = os.getloadavg()
    try:
        phases = run(opts)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(report(phases, opts, load_before, os.getloadavg()))
    if opts.profile:
        print(f"(profiled run, numbers are slowed down; profile in {opts.profile})")
    return exit_status(phases, opts.check)


if __name__ == "__main__":
    sys.exit(main())
