"""Webhook benchmark: bare aiohttp against Ringflow's full voice path, in the same run.

Three scenarios, each served by its own process on 127.0.0.1 while this process generates the
load (50 requests in flight over one ``aiohttp.ClientSession``):

* ``baseline``: a bare aiohttp server whose one POST handler reads the form and returns a
  fixed TwiML string. It is the ceiling the machine allows right now.
* ``incoming call``: ``POST /twilio/voice`` on the real app (signature check, SQLite, engine,
  TwiML), each request a new call (unique ``CallSid``).
* ``keypress turn``: ``Digits=1`` posted to the ``<Gather action>`` of calls started beforehand
  (untimed), one keypress per call.

Usage: ``python -m bench.webhooks [--requests N] [--no-check]``. The exit status is 1 when a
request failed or, unless ``--no-check``, when a target does not hold.
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
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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

RATIO_TARGET = 0.30
P99_TARGET_MS = 50.0
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 10.0
MAX_REQUESTS = 1_000_000


class BenchError(RuntimeError):
    """The benchmark could not run as planned (a server did not start, set-up failed)."""


# --- servers (each runs in a spawned child process) ---------------------------------------


def _baseline_app(_port: int) -> web.Application:
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
    """What a batch of requests gave: per-request latency (s), errors, answers, wall time."""

    latencies: list[float]
    answers: list[str]
    errors: int
    seconds: float


def is_answer(text: str) -> bool:
    """Whether ``text`` is TwiML that goes on with the call (not Ringflow's apology)."""
    return "<Response>" in text and APOLOGY not in text and NOT_IN_SERVICE not in text


async def _send(session: aiohttp.ClientSession, job: Job) -> tuple[bool, str]:
    try:
        async with session.post(job.url, data=job.body, headers=job.headers) as response:
            text = await response.text()
            return response.status == 200 and is_answer(text), text
    except (aiohttp.ClientError, TimeoutError) as error:
        return False, repr(error)


async def fire(jobs: Sequence[Job], concurrency: int, timeout_s: float) -> Batch:
    """Send ``jobs`` with ``concurrency`` requests in flight; fail after ``timeout_s``."""
    batch = Batch([0.0] * len(jobs), [""] * len(jobs), 0, 0.0)
    pending = iter(range(len(jobs)))

    async def worker(session: aiohttp.ClientSession) -> None:
        for index in pending:
            started = time.perf_counter()
            ok, batch.answers[index] = await _send(session, jobs[index])
            batch.latencies[index] = time.perf_counter() - started
            batch.errors += 0 if ok else 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    client_timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        began = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        except TimeoutError:
            raise BenchError(f"{len(jobs)} requests not done within {timeout_s:g} s") from None
        batch.seconds = time.perf_counter() - began
    return batch


async def fire_or_fail(what: str, jobs: Sequence[Job], opts: Options) -> Batch:
    """An untimed batch (warm-up, set-up) that must succeed entirely."""
    batch = await fire(jobs, opts.concurrency, opts.timeout)
    if batch.errors:
        first = next((a for a in batch.answers if not is_answer(a)), "?")
        raise BenchError(f"{what}: {batch.errors} failed requests, e.g. {first[:200]!r}")
    return batch


# --- measurement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """Command-line options."""

    requests: int
    warmup: int
    concurrency: int
    timeout: float
    check: bool
    profile: str | None


@dataclass(frozen=True, slots=True)
class Stats:
    """One scenario's timed phase."""

    name: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    server_cpu_us: float
    client_cpu_pct: float

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


async def measure(name: str, server: Server, jobs: Sequence[Job], opts: Options) -> Stats:
    """Time ``jobs`` against ``server``: latencies, throughput and CPU per request."""
    server_cpu = process_cpu_seconds(server.pid)
    client_cpu = time.process_time()
    batch = await fire(jobs, opts.concurrency, opts.timeout)
    server_cpu = process_cpu_seconds(server.pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    latencies = sorted(batch.latencies)
    return Stats(
        name=name,
        requests=len(jobs),
        seconds=batch.seconds,
        errors=batch.errors,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        server_cpu_us=server_cpu / len(jobs) * 1e6,
        client_cpu_pct=100 * client_cpu / batch.seconds if batch.seconds else 0.0,
    )


async def bench_baseline(server: Server, opts: Options) -> Stats:
    """The bare aiohttp server, fed the same (signed) call forms."""
    signer = make_signer(secrets.token_hex(16))
    warmup = incoming_jobs(signer, server.base_url, opts.warmup)
    timed = incoming_jobs(signer, server.base_url, opts.requests)
    await fire_or_fail("baseline warm-up", warmup, opts)
    return await measure("baseline (bare aiohttp)", server, timed, opts)


async def bench_incoming(server: Server, token: str, opts: Options) -> Stats:
    """New calls on the real app."""
    signer = make_signer(token)
    warmup = incoming_jobs(signer, server.base_url, opts.warmup)
    timed = incoming_jobs(signer, server.base_url, opts.requests)
    await fire_or_fail("incoming-call warm-up", warmup, opts)
    return await measure("incoming call", server, timed, opts)


async def _started_calls(server: Server, token: str, count: int, opts: Options) -> list[Job]:
    """Start ``count`` calls (untimed); the keypress for each, signed."""
    signer = make_signer(token)
    calls = incoming_jobs(signer, server.base_url, count)
    batch = await fire_or_fail("keypress set-up (starting calls)", calls, opts)
    return keypress_jobs(signer, server.base_url, calls, batch.answers)


async def bench_keypress(server: Server, token: str, opts: Options) -> Stats:
    """One keypress on each of calls started beforehand, on the real app."""
    warmup = await _started_calls(server, token, opts.warmup, opts)
    timed = await _started_calls(server, token, opts.requests, opts)
    await fire_or_fail("keypress warm-up", warmup, opts)
    return await measure("keypress turn", server, timed, opts)


async def bench_full(server: Server, token: str, opts: Options) -> list[Stats]:
    """Both full-path scenarios against one server process."""
    incoming = await bench_incoming(server, token, opts)
    keypress = await bench_keypress(server, token, opts)
    return [incoming, keypress]


def run(opts: Options) -> list[Stats]:
    """All scenarios, one server process at a time; the first entry is the baseline."""
    with server_process("baseline", serve_baseline) as bare:
        baseline = asyncio.run(bench_baseline(bare, opts))
    token = secrets.token_hex(16)
    with server_process("ringflow", serve_full, token, opts.profile) as full:
        return [baseline, *asyncio.run(bench_full(full, token, opts))]


# --- report ------------------------------------------------------------------------------


def targets(results: Sequence[Stats]) -> list[tuple[str, bool]]:
    """Each target as (description with the measured value, holds)."""
    baseline, incoming, *rest = results
    ratio = incoming.rps / baseline.rps if baseline.rps else 0.0
    checks = [
        (
            f"incoming call req/s >= {RATIO_TARGET:.0%} of baseline: {ratio:.1%}",
            ratio >= RATIO_TARGET,
        )
    ]
    for stats in (incoming, *rest):
        checks.append(
            (
                f"{stats.name} p99 <= {P99_TARGET_MS:.0f} ms: {stats.p99_ms:.1f} ms",
                stats.p99_ms <= P99_TARGET_MS,
            )
        )
    return checks


def table(results: Sequence[Stats], opts: Options, load_before: Sequence[float]) -> str:
    """The results as a plain-text table, with the targets below it."""
    header = (
        f"{'scenario':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'vs base':>9}{'srv CPU µs/req':>16}{'client CPU':>12}"
    )
    load = " ".join(f"{value:.2f}" for value in load_before)
    lines = [
        f"Ringflow webhook benchmark: {opts.requests} timed requests per scenario "
        f"(+{opts.warmup} warm-up), {opts.concurrency} in flight, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        f"load average before the run (1/5/15 min; other work on the machine): {load}",
        header,
        "-" * len(header),
    ]
    base_rps = results[0].rps
    for s in results:
        ratio = s.rps / base_rps if base_rps else 0.0
        lines.append(
            f"{s.name:<24}{s.rps:>9.0f}{s.p50_ms:>9.1f}{s.p99_ms:>9.1f}{s.errors:>8}"
            f"{ratio:>8.2f}x{s.server_cpu_us:>16.0f}{s.client_cpu_pct:>11.0f}%"
        )
    lines.append("targets:")
    lines += [f"  [{'ok' if ok else 'FAIL'}] {text}" for text, ok in targets(results)]
    return "\n".join(lines)


def exit_status(results: Sequence[Stats], check: bool) -> int:
    """1 when any request failed, or (with ``check``) when a target does not hold."""
    if any(s.errors for s in results):
        return 1
    if check and not all(ok for _text, ok in targets(results)):
        return 1
    return 0


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="timed requests/scenario")
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests/scenario")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per batch")
    parser.add_argument("--no-check", action="store_true", help="report only; exit 0")
    parser.add_argument("--profile", help="cProfile the Ringflow server into this file")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= MAX_REQUESTS or not 0 <= args.warmup <= MAX_REQUESTS:
        parser.error(f"--requests and --warmup must be at most {MAX_REQUESTS}")
    if not 1 <= args.concurrency <= 1000 or not 0 < args.timeout <= 3600:
        parser.error("--concurrency must be 1-1000 and --timeout 0-3600 s")
    return Options(
        requests=args.requests,
        warmup=args.warmup,
        concurrency=args.concurrency,
        timeout=args.timeout,
        check=not args.no_check,
        profile=str(Path(args.profile).resolve()) if args.profile else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table; the exit status says whether it passed."""
    opts = parse_options(argv)
    load_before = os.getloadavg()
    try:
        results = run(opts)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(table(results, opts, load_before))
    if opts.profile:
        print(f"(profiled run, numbers are slowed down; profile in {opts.profile})")
    return exit_status(results, opts.check)


if __name__ == "__main__":
    sys.exit(main())
