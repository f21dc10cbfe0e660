"""Parts the benchmarks share: signed Twilio forms, spawned server processes, a Python client.

* Forms: :func:`call_params` (what Twilio posts for a US voice call), :func:`signed_job` /
  :func:`make_signer` (signed with the twilio library's own ``RequestValidator``).
* Servers: :func:`server_process` runs an aiohttp app in a ``multiprocessing`` "spawn" child on
  a free port of 127.0.0.1 (``bench.texts``); ``bench.webhooks`` starts its servers as commands
  pinned to a core instead (``bench.processes``).
* A Python HTTP client (:func:`client_session`, :func:`fire`): untimed set-up in
  ``bench.webhooks``, the load itself in ``bench.texts``. It is no load generator for a server
  as fast as bare aiohttp (it saturates its own core first; see bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import math
import multiprocessing
import os
import secrets
import signal
import socket
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
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 10.0

Signer = Callable[[str, Mapping[str, str]], str]


class BenchError(RuntimeError):
    """The benchmark could not run as planned (a server did not start, set-up failed)."""


# --- servers in spawned child processes ---------------------------------------------------


def clear_ringflow_env() -> None:
    """Keep the caller's RINGFLOW_* / TWILIO_AUTH_TOKEN out of the benchmarked settings."""
    for key in list(os.environ):
        upper = key.upper()
        if upper.startswith("RINGFLOW_") or upper == "TWILIO_AUTH_TOKEN":
            del os.environ[key]


def _listening_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


async def host_app(
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


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_busy_seconds(cpu: int) -> float:
    """How long CPU ``cpu`` has run any process (user, nice, system) or had its time taken by
    the hypervisor (steal) since boot, from /proc/stat; interrupts not counted."""
    prefix = f"cpu{cpu} "
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(prefix):
            user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(int, line.split()[1:9])
            return (user + nice + system + steal) / os.sysconf("SC_CLK_TCK")
    raise BenchError(f"no CPU {cpu} in /proc/stat")


# --- signed forms -------------------------------------------------------------------------


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


def signed_job(signer: Signer, url: str, params: dict[str, str]) -> Job:
    """``params`` posted to ``url`` with the X-Twilio-Signature ``signer`` computes."""
    headers = {"Content-Type": FORM_TYPE, "X-Twilio-Signature": signer(url, params)}
    return Job(url, urlencode(params).encode(), headers)


def make_signer(token: str) -> Signer:
    """Twilio's own signature function for ``token``."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)

    def sign(url: str, params: Mapping[str, str]) -> str:
        signature: str = validator.compute_signature(url, dict(params))
        return signature

    return sign


# --- a Python client ----------------------------------------------------------------------


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


# --- figures ------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def loads(values: Sequence[float]) -> str:
    """A load average triple, printed."""
    return " ".join(f"{value:.2f}" for value in values)
