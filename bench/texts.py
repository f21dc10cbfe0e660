"""Post-call SMS benchmark: a call's final status callback -> the text handed to the provider.

Three server processes on 127.0.0.1, started once and kept up for the whole run, while this
process generates the load:

* ``baseline``: a bare aiohttp server whose one POST handler reads the form and answers 204,
  fed the same kind of signed status-callback forms. It is the ceiling the machine allows
  right now for the webhook that starts the whole chain.
* ``ringflow``: the real app as ``ringflow serve`` builds it, job worker included, SQLite in a
  temporary folder, signatures checked, and texts sent through ``TwilioSmsProvider``
  (``TWILIO_ACCOUNT_SID`` + ``TWILIO_AUTH_TOKEN`` set, ``RINGFLOW_TWILIO_API_URL`` pointing
  at the stub). Its workflows: a voice workflow that starts with a ``dial`` (each call waits
  ringing) and a ``call.missed`` workflow (``once_per: 0``) whose one step is a ``send_sms``.
* ``stub``: ``tests.fakes.twilio_api.TwilioApiStub`` (Twilio's Messages API), which also
  notes when it accepted each message, on ``CLOCK_MONOTONIC`` (one clock for every process of
  the machine), and hands the list out on ``GET /_bench/arrivals``.

Per round, every call is started untimed (``POST /twilio/voice``, unique ``CallSid``, a caller
number of its own so no per-recipient limit applies); then, timed, its final status callback
(``CallStatus=completed``) is posted: the run is waiting in its ``dial``, so the call is
``missed``, the ``call.event`` job is queued with the status, the worker starts the
``call.missed`` workflow, which queues the text, and the worker's ``sms.send`` job hands it to
the stub. A text's **lag** is the stub's acceptance time minus the time its callback was sent.

Each round runs three phases, one right after the other:

* ``baseline``: 2N status callbacks to the bare server, ``--concurrency`` in flight: req/s.
* ``burst``: N status callbacks to Ringflow as fast as ``--concurrency`` in flight allow; then
  wait for the N texts. **texts/s** = N / (first callback sent -> last text accepted): what
  the pipeline sustains with a backlog; the lag here is mostly time spent in that backlog.
* ``paced``: N status callbacks at a steady ``--rate`` (default 500/s, the target): the lag a
  caller sees when calls end at that rate (each callback's lag counts from its scheduled
  send time, so a client or server that falls behind is not hidden).

Summary: the median of the rounds' rates and ratios (texts/s / the same round's baseline
req/s), p50/p99 over all texts of a phase pooled across the rounds. Targets: burst texts/s >=
500 (median of the rounds) and paced lag p99 <= 2 s (pooled). Every call must get exactly one
text, with the body the workflow writes, and no other text may arrive.

Usage: ``python -m bench.texts [--rounds R] [--texts N] [--rate R] [--no-check]``. The exit
status is 1 when a callback failed, a text is missing, doubled or unexpected, or, unless
``--no-check``, when a target does not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import secrets
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bench.harness import (
    HOST,
    VOICE_PATH,
    BenchError,
    Job,
    Server,
    call_params,
    clear_ringflow_env,
    client_session,
    fire,
    first_failure,
    host_app,
    loads,
    make_signer,
    new_call_sid,
    percentile,
    process_cpu_seconds,
    server_process,
    signed_job,
)
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub

STATUS_PATH: Final = "/twilio/voice/status"
ARRIVALS_PATH: Final = "/_bench/arrivals"
BUSINESS: Final = "+14155550100"
"""The number called, which the text comes from."""
AGENT: Final = "+14155550199"
"""The number the voice workflow dials (nobody answers: the calls end missed)."""
TEXT_TEMPLATE: Final = "Sorry we missed your call from {caller}. We will call you back soon."
FIRST_CALLER: Final = 2_000_000
MAX_CALLERS: Final = 1_000_000
"""Caller numbers are +1 415 2000000 + i: all valid US numbers (checked with phonenumbers)."""

VOICE_FLOW: Final = f"""\
id: bench-ring
trigger: {{event: call.incoming}}
start: ring
steps:
  ring:
    dial: {{number: "{AGENT}", timeout: 20}}
    next: bye
  bye: {{hangup: "Goodbye."}}
"""
MISSED_FLOW: Final = """\
id: bench-missed-text
trigger: {event: call.missed, once_per: 0}
start: text
steps:
  text:
    send_sms: "Sorry we missed your call from {{call.from}}. We will call you back soon."
"""

BASELINE: Final = "baseline (bare aiohttp)"
BURST: Final = "burst"
PACED: Final = "paced"
SCENARIOS: Final = (BASELINE, BURST, PACED)

TEXTS_PER_S_TARGET: Final = 500.0
LAG_P99_TARGET_S: Final = 2.0
POLL_S: Final = 0.02
SETTLE_S: Final = 0.3
"""Pause after a phase's last text, so the worker's last job records are not in the next
phase, and at the end, so a late duplicate text would still be seen."""
MAX_ROUNDS: Final = 100
KEEPS_UP_SLACK_S: Final = 0.5
"""Paced: how much more the last callbacks' lag may be than the first ones' ("keeps up")."""


def shared_clock() -> float:
    """Seconds on CLOCK_MONOTONIC: one clock for every process of this (Linux) machine."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def caller_number(index: int) -> str:
    """The caller number of the ``index``-th call of a run; distinct for every call."""
    if not 0 <= index < MAX_CALLERS:
        raise ValueError(f"caller index {index} out of 0-{MAX_CALLERS - 1}")
    return f"+1415{FIRST_CALLER + index:07d}"


def expected_text(caller: str) -> str:
    """The body the ``call.missed`` workflow texts to ``caller``."""
    return TEXT_TEMPLATE.format(caller=caller)


# --- servers (each runs in a spawned child process) ---------------------------------------


def _baseline_app(_port: int) -> web.Application:
    """The bare server: read the form, answer 204 (as Ringflow answers a status callback)."""

    async def status(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post(STATUS_PATH, status)
    return app


def serve_baseline(conn: Connection) -> None:
    """Child process: the bare aiohttp server."""
    from ringflow.logs import configure_logging

    configure_logging("WARNING")
    asyncio.run(host_app(conn, _baseline_app, None))


class TimedStub(TwilioApiStub):
    """The Twilio API stub, noting (recipient, body, CLOCK_MONOTONIC time) of each acceptance."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__(account_sid, auth_token)
        self.arrivals: list[tuple[str, str, float]] = []

    def _accept(self, form: Mapping[str, str]) -> bytes:
        body = super()._accept(form)
        self.arrivals.append((form["To"], form["Body"], shared_clock()))
        self.requests.clear()  # the stub keeps every request otherwise; nobody reads them here
        return body

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == ARRIVALS_PATH and request.method == "GET":
            since = int(request.query.get("since", "0"))
            return web.json_response({"arrivals": self.arrivals[since:]})
        return await super()._handle(request)


async def _stub_host(conn: Connection, token: str) -> None:
    """Run the stub on a free port, report the port on ``conn``, stop on SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    stub = TimedStub(ACCOUNT_SID, token)
    try:
        await stub.start()
    except Exception as error:
        conn.send(f"stub failed to start: {error!r}")
        raise
    try:
        conn.send(urlsplit(stub.base_url).port)
        await stop.wait()
    finally:
        await stub.close()


def serve_stub(conn: Connection, token: str) -> None:
    """Child process: the Twilio API stub that the texts are handed to."""
    asyncio.run(_stub_host(conn, token))


def _ringflow_factory(
    token: str, stub_url: str, data_dir: Path, flows_dir: Path
) -> Callable[[int], web.Application]:
    """Ringflow's app for a port, as ``ringflow serve`` builds it, texting through the stub."""

    def make(port: int) -> web.Application:
        import server
        from ringflow.settings import load_settings

        settings = load_settings(
            data_dir=data_dir,
            flows_dir=flows_dir,
            public_url=f"http://{HOST}:{port}",
            twilio_auth_token=token,
            twilio_account_sid=ACCOUNT_SID,
            twilio_api_base_url=stub_url,
            log_level="WARNING",
        )
        return server.create_app(settings, server.load_flows(settings), serving=True)

    return make


def serve_ringflow(
    conn: Connection,
    token: str,
    stub_url: str,
    data_dir: str,
    flows_dir: str,
    profile: str | None,
) -> None:
    """Child process: Ringflow with the bench's workflows, its job worker and Twilio provider."""
    from ringflow.logs import configure_logging

    clear_ringflow_env()
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_EDGE", "TWILIO_REGION"):
        os.environ.pop(name, None)
    configure_logging("WARNING", [token])
    make = _ringflow_factory(token, stub_url, Path(data_dir), Path(flows_dir))
    asyncio.run(host_app(conn, make, profile))


# --- requests ----------------------------------------------------------------------------

Signer = Callable[[str, Mapping[str, str]], str]


@dataclass(frozen=True, slots=True)
class Call:
    """A call of the run: its CallSid and its caller (the number its text goes to)."""

    sid: str
    caller: str


def voice_params(call: Call, status: str) -> dict[str, str]:
    """The form Twilio posts for ``call`` with ``status`` (a US call to :data:`BUSINESS`)."""
    params = call_params(call.sid, status)
    params.update(From=call.caller, Caller=call.caller, To=BUSINESS, Called=BUSINESS)
    return params


def incoming_job(signer: Signer, base_url: str, call: Call) -> Job:
    """``call`` coming in: ``POST /twilio/voice``, ringing."""
    return signed_job(signer, base_url + VOICE_PATH, voice_params(call, "ringing"))


def status_job(signer: Signer, base_url: str, call: Call) -> Job:
    """``call``'s final status callback: completed after 42 s (nobody picked up the dial)."""
    params = voice_params(call, "completed")
    params.update(
        CallDuration="42",
        CallbackSource="call-progress-events",
        SequenceNumber="3",
        Timestamp="Thu, 26 Nov 2026 12:00:00 +0000",
    )
    return signed_job(signer, base_url + STATUS_PATH, params)


class Callers:
    """Hands out the run's calls, each with a caller number never used before in the run."""

    def __init__(self) -> None:
        self._next = 0

    def take(self, count: int) -> list[Call]:
        """``count`` new calls."""
        first, self._next = self._next, self._next + count
        return [Call(new_call_sid(), caller_number(i)) for i in range(first, first + count)]


# --- load generation ---------------------------------------------------------------------


@dataclass(slots=True)
class Posts:
    """Status callbacks posted: when each was sent (shared clock), its latency, success."""

    sent_at: list[float]
    latencies: list[float]
    ok: list[bool]
    behind_s: float = 0.0
    """Paced only: how far behind its schedule the client sent its latest callback."""

    @property
    def errors(self) -> int:
        """Callbacks not answered 204."""
        return self.ok.count(False)


async def _post(session: aiohttp.ClientSession, job: Job) -> bool:
    """Post a status callback: whether it was answered 204 (what Ringflow and the bare
    server answer a recorded status with)."""
    try:
        async with session.post(job.url, data=job.body, headers=job.headers) as response:
            await response.read()
            return response.status == 204
    except (aiohttp.ClientError, TimeoutError):
        return False


async def post_burst(
    session: aiohttp.ClientSession, jobs: Sequence[Job], concurrency: int, timeout_s: float
) -> Posts:
    """Post ``jobs`` with ``concurrency`` in flight; each one's send time is when it started."""
    count = len(jobs)
    posts = Posts([0.0] * count, [0.0] * count, [False] * count)
    pending = iter(range(count))

    async def worker() -> None:
        for index in pending:
            started = posts.sent_at[index] = shared_clock()
            posts.ok[index] = await _post(session, jobs[index])
            posts.latencies[index] = shared_clock() - started

    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
    except TimeoutError:
        raise BenchError(f"{count} status callbacks not done within {timeout_s:g} s") from None
    return posts


async def post_paced(
    session: aiohttp.ClientSession, jobs: Sequence[Job], rate: float, timeout_s: float
) -> Posts:
    """Post ``jobs`` at ``rate`` per second; each one's send time is its scheduled time."""
    count = len(jobs)
    posts = Posts([0.0] * count, [0.0] * count, [False] * count)
    start = shared_clock() + 0.01

    async def one(index: int) -> None:
        posts.ok[index] = await _post(session, jobs[index])
        posts.latencies[index] = shared_clock() - posts.sent_at[index]

    tasks: list[asyncio.Task[None]] = []
    try:
        async with asyncio.timeout(timeout_s):
            for index in range(count):
                due = posts.sent_at[index] = start + index / rate
                wait = due - shared_clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                posts.behind_s = max(posts.behind_s, shared_clock() - due)
                tasks.append(asyncio.create_task(one(index)))
            await asyncio.gather(*tasks)
    except TimeoutError:
        for task in tasks:
            task.cancel()
        raise BenchError(
            f"{count} paced status callbacks not done within {timeout_s:g} s"
        ) from None
    return posts


@dataclass(frozen=True, slots=True)
class Arrival:
    """A text the stub accepted: recipient, body, when (shared clock)."""

    to: str
    body: str
    at: float


class StubWatch:
    """Reads the stub's accepted texts, in order, from where the last read stopped."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._url = base_url + ARRIVALS_PATH
        self._seen = 0

    async def new(self) -> list[Arrival]:
        """Texts accepted since the last call."""
        async with self._session.get(self._url, params={"since": str(self._seen)}) as response:
            response.raise_for_status()
            data = await response.json()
        found = [Arrival(str(to), str(body), float(at)) for to, body, at in data["arrivals"]]
        self._seen += len(found)
        return found

    async def until(self, wanted: set[str], timeout_s: float) -> list[Arrival]:
        """Texts accepted from now until every number of ``wanted`` got one (or the timeout)."""
        found: list[Arrival] = []
        missing = set(wanted)
        deadline = shared_clock() + timeout_s
        while missing and shared_clock() < deadline:
            await asyncio.sleep(POLL_S)
            fresh = await self.new()
            found += fresh
            missing.difference_update(arrival.to for arrival in fresh)
        return found


@dataclass(frozen=True, slots=True)
class Delivery:
    """The texts of a phase matched to its callbacks."""

    lags: tuple[float, ...]
    """Per delivered call, in the order the callbacks were sent: the first acceptance of its
    text - its callback's send time."""
    last_at: float
    """When the phase's last first-text was accepted (0 when none was)."""
    missing: int
    duplicates: int
    unexpected: int
    wrong_body: int

    @property
    def errors(self) -> int:
        """Texts missing, doubled, unexpected or with the wrong body."""
        return self.missing + self.duplicates + self.unexpected + self.wrong_body


def match_texts(
    sent_at: Mapping[str, float],
    arrivals: Sequence[Arrival],
    body_for: Callable[[str], str] = expected_text,
) -> Delivery:
    """Match ``arrivals`` to the callbacks sent at ``sent_at`` (by caller number, in the order
    they were sent); the lags come out in that order too."""
    counts: Counter[str] = Counter()
    first: dict[str, float] = {}
    unexpected = wrong_body = 0
    for arrival in arrivals:
        if arrival.to not in sent_at:
            unexpected += 1
            continue
        counts[arrival.to] += 1
        if arrival.body != body_for(arrival.to):
            wrong_body += 1
        first.setdefault(arrival.to, arrival.at)
    return Delivery(
        lags=tuple(first[caller] - sent for caller, sent in sent_at.items() if caller in first),
        last_at=max(first.values(), default=0.0),
        missing=len(sent_at) - len(first),
        duplicates=sum(count - 1 for count in counts.values()),
        unexpected=unexpected,
        wrong_body=wrong_body,
    )


def lag_trend(lags: Sequence[float]) -> tuple[float, float]:
    """Median lag of the first and of the last 10 % of the callbacks (in the order sent): a
    pipeline that keeps up with the offered rate shows no growth between the two."""
    if not lags:
        return 0.0, 0.0
    tenth = max(1, len(lags) // 10)
    return statistics.median(lags[:tenth]), statistics.median(lags[-tenth:])


# --- measurement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """Command-line options."""

    rounds: int
    texts: int
    rate: float
    warmup: int
    concurrency: int
    timeout: float
    check: bool
    profile: str | None


@dataclass(frozen=True, slots=True)
class Phase:
    """One scenario's timed phase in one round."""

    scenario: str
    round: int
    callbacks: int
    callback_errors: int
    callback_latencies: tuple[float, ...]
    callback_seconds: float
    """First callback sent -> last callback answered."""
    seconds: float
    """Text phases: first callback sent -> last text accepted; baseline: as callback_seconds."""
    delivery: Delivery | None
    server_cpu_s: float
    server_loop_cpu_s: float
    """The part of ``server_cpu_s`` spent on the server's main (event-loop) thread."""
    stub_cpu_s: float
    client_cpu_s: float
    behind_s: float = 0.0

    @property
    def texts(self) -> int:
        """Calls whose text arrived."""
        return len(self.delivery.lags) if self.delivery else 0

    @property
    def rate(self) -> float:
        """texts/s for the text phases, req/s for the baseline."""
        done = self.texts if self.delivery else self.callbacks - self.callback_errors
        return done / self.seconds if self.seconds > 0 else 0.0

    @property
    def callback_rate(self) -> float:
        """Status callbacks answered per second."""
        return self.callbacks / self.callback_seconds if self.callback_seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        """Failed callbacks plus missing, doubled, unexpected or wrong texts."""
        return self.callback_errors + (self.delivery.errors if self.delivery else 0)


@dataclass(frozen=True, slots=True)
class Bench:
    """The servers and the sessions that load them."""

    baseline: Server
    ringflow: Server
    stub: Server
    base_session: aiohttp.ClientSession
    session: aiohttp.ClientSession
    watch: StubWatch
    signer: Signer
    bare_signer: Signer
    callers: Callers
    posted: list[str]
    """The callers of every call whose final status went to Ringflow (each must get a text)."""


def thread_cpu_seconds(pid: int, tid: int) -> float:
    """User + system CPU time of thread ``tid`` of process ``pid``, from /proc."""
    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Meters:
    """CPU counters at the start of a phase."""

    server: float
    server_loop: float
    stub: float
    client: float

    @classmethod
    def read(cls, bench: Bench, server: Server) -> Meters:
        """The counters now."""
        return cls(
            process_cpu_seconds(server.pid),
            thread_cpu_seconds(server.pid, server.pid),
            process_cpu_seconds(bench.stub.pid),
            time.process_time(),
        )


async def start_calls(bench: Bench, calls: Sequence[Call], opts: Options) -> None:
    """Untimed: every call comes in and waits in its ``dial``; BenchError if one does not."""
    jobs = [incoming_job(bench.signer, bench.ringflow.base_url, call) for call in calls]
    batch = await fire(bench.session, jobs, opts.concurrency, opts.timeout)
    if batch.errors:
        raise BenchError(f"starting calls: {batch.errors} failed, e.g. {first_failure(batch)!r}")
    not_dialing = [answer for answer in batch.answers if "<Dial" not in answer]
    if not_dialing:
        raise BenchError(f"a call is not ringing its dial: {not_dialing[0][:200]!r}")


async def baseline_phase(number: int, bench: Bench, count: int, opts: Options) -> Phase:
    """``count`` status callbacks to the bare server, ``--concurrency`` in flight."""
    calls = bench.callers.take(count)
    jobs = [status_job(bench.bare_signer, bench.baseline.base_url, call) for call in calls]
    meters = Meters.read(bench, bench.baseline)
    began = shared_clock()
    posts = await post_burst(bench.base_session, jobs, opts.concurrency, opts.timeout)
    seconds = shared_clock() - began
    cpu = Meters.read(bench, bench.baseline)
    return Phase(
        scenario=BASELINE,
        round=number,
        callbacks=count,
        callback_errors=posts.errors,
        callback_latencies=tuple(posts.latencies),
        callback_seconds=seconds,
        seconds=seconds,
        delivery=None,
        server_cpu_s=cpu.server - meters.server,
        server_loop_cpu_s=cpu.server_loop - meters.server_loop,
        stub_cpu_s=cpu.stub - meters.stub,
        client_cpu_s=cpu.client - meters.client,
    )


async def text_phase(
    scenario: str, number: int, bench: Bench, calls: Sequence[Call], opts: Options
) -> Phase:
    """The final status of each of ``calls`` (already ringing), then wait for their texts."""
    jobs = [status_job(bench.signer, bench.ringflow.base_url, call) for call in calls]
    bench.posted.extend(call.caller for call in calls)
    stray = await bench.watch.new()  # anything accepted since the last phase is an error here
    meters = Meters.read(bench, bench.ringflow)
    began = shared_clock()
    if scenario == PACED:
        posts = await post_paced(bench.session, jobs, opts.rate, opts.timeout)
    else:
        posts = await post_burst(bench.session, jobs, opts.concurrency, opts.timeout)
    answered = shared_clock()
    wanted = {call.caller for call, ok in zip(calls, posts.ok, strict=True) if ok}
    arrivals = await bench.watch.until(wanted, opts.timeout)
    cpu = Meters.read(bench, bench.ringflow)
    sent_at = {call.caller: at for call, at in zip(calls, posts.sent_at, strict=True)}
    delivery = match_texts(sent_at, [*stray, *arrivals])
    first_sent = min(posts.sent_at) if posts.sent_at else began
    await asyncio.sleep(SETTLE_S)
    return Phase(
        scenario=scenario,
        round=number,
        callbacks=len(calls),
        callback_errors=posts.errors,
        callback_latencies=tuple(posts.latencies),
        callback_seconds=answered - began,
        seconds=max(delivery.last_at - first_sent, 0.0),
        delivery=delivery,
        server_cpu_s=cpu.server - meters.server,
        server_loop_cpu_s=cpu.server_loop - meters.server_loop,
        stub_cpu_s=cpu.stub - meters.stub,
        client_cpu_s=cpu.client - meters.client,
        behind_s=posts.behind_s,
    )


async def warm_up(bench: Bench, opts: Options) -> None:
    """Untimed: the bare server, then calls through the whole chain until their texts arrive."""
    if opts.warmup == 0:
        return
    await baseline_phase(0, bench, opts.warmup, opts)
    calls = bench.callers.take(opts.warmup)
    await start_calls(bench, calls, opts)
    phase = await text_phase(BURST, 0, bench, calls, opts)
    if phase.errors:
        raise BenchError(f"warm-up: {describe_errors(phase)} (see the server's log above)")


async def one_round(number: int, bench: Bench, opts: Options) -> list[Phase]:
    """Calls started untimed; then baseline, burst and paced, one right after the other."""
    burst_calls = bench.callers.take(opts.texts)
    paced_calls = bench.callers.take(opts.texts)
    await start_calls(bench, [*burst_calls, *paced_calls], opts)
    baseline = await baseline_phase(number, bench, 2 * opts.texts, opts)
    burst = await text_phase(BURST, number, bench, burst_calls, opts)
    paced = await text_phase(PACED, number, bench, paced_calls, opts)
    return [baseline, burst, paced]


def describe_errors(phase: Phase) -> str:
    """What went wrong in ``phase``, counted."""
    parts = [f"{phase.callback_errors} callbacks failed"]
    if phase.delivery is not None:
        d = phase.delivery
        parts.append(
            f"texts missing {d.missing}, doubled {d.duplicates}, unexpected {d.unexpected}, "
            f"wrong body {d.wrong_body}"
        )
    return "; ".join(parts)


def progress(phases: Sequence[Phase], rounds: int) -> None:
    """One line on stderr per finished round."""
    parts = []
    for phase in phases:
        if phase.delivery is None:
            parts.append(f"baseline {phase.rate:.0f} req/s")
        else:
            lag = percentile(sorted(phase.delivery.lags), 0.99)
            parts.append(f"{phase.scenario.split()[0]} {phase.rate:.0f} texts/s p99 {lag:.2f} s")
    print(f"round {phases[0].round}/{rounds}: {', '.join(parts)}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run gave: the timed phases, the whole run's text check, the database's view."""

    phases: list[Phase]
    final: Delivery
    """Every text the stub accepted in the run against every call posted to Ringflow."""
    jobs: list[tuple[str, str, int, int]]
    """(kind, status, jobs, attempts) from the server's jobs table, after the run."""
    messages: list[tuple[str, int]]
    """(status, outbound messages) from the server's messages table, after the run."""


async def bench_run(
    servers: tuple[Server, Server, Server], token: str, opts: Options
) -> tuple[list[Phase], Delivery]:
    """Warm up, run the rounds, then check every call of the run got exactly one text."""
    baseline, ringflow, stub = servers
    async with (
        client_session(opts.concurrency) as base_session,
        client_session(opts.concurrency) as session,
        client_session(4) as stub_session,
    ):
        bench = Bench(
            baseline=baseline,
            ringflow=ringflow,
            stub=stub,
            base_session=base_session,
            session=session,
            watch=StubWatch(stub_session, stub.base_url),
            signer=make_signer(token),
            bare_signer=make_signer(secrets.token_hex(16)),
            callers=Callers(),
            posted=[],
        )
        await warm_up(bench, opts)
        phases: list[Phase] = []
        for number in range(1, opts.rounds + 1):
            done = await one_round(number, bench, opts)
            progress(done, opts.rounds)
            phases += done
        await asyncio.sleep(SETTLE_S)
        everything = await StubWatch(stub_session, stub.base_url).new()
    final = match_texts(dict.fromkeys(bench.posted, 0.0), everything)
    return phases, final


def database_counts(
    db_file: Path,
) -> tuple[list[tuple[str, str, int, int]], list[tuple[str, int]]]:
    """Jobs by kind and status (with their attempts), outbound messages by status."""
    with contextlib.closing(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)) as conn:
        jobs = conn.execute(
            "SELECT kind, status, COUNT(*), SUM(attempts) FROM jobs GROUP BY kind, status "
            "ORDER BY kind, status"
        ).fetchall()
        messages = conn.execute(
            "SELECT status, COUNT(*) FROM messages WHERE direction = 'outbound' "
            "GROUP BY status ORDER BY status"
        ).fetchall()
    return [(str(k), str(s), int(n), int(a)) for k, s, n, a in jobs], [
        (str(s), int(n)) for s, n in messages
    ]


def write_flows(folder: Path) -> None:
    """The bench's two workflow files."""
    folder.mkdir()
    (folder / "ring.yaml").write_text(VOICE_FLOW)
    (folder / "missed-text.yaml").write_text(MISSED_FLOW)


def run(opts: Options) -> Outcome:
    """Start the three servers, keep them up for every round, stop them; read the database."""
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="ringflow-bench-texts-") as temp:
        data_dir, flows_dir = Path(temp) / "data", Path(temp) / "flows"
        data_dir.mkdir()
        write_flows(flows_dir)
        with (
            server_process("stub", serve_stub, token) as stub,
            server_process("baseline", serve_baseline) as bare,
            server_process(
                "ringflow",
                serve_ringflow,
                token,
                stub.base_url,
                str(data_dir),
                str(flows_dir),
                opts.profile,
            ) as ringflow,
        ):
            phases, final = asyncio.run(bench_run((bare, ringflow, stub), token, opts))
        jobs, messages = database_counts(data_dir / "ringflow.db")
    return Outcome(phases, final, jobs, messages)


# --- summary -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """One scenario over all rounds: medians of the rounds, percentiles of pooled values."""

    scenario: str
    callbacks: int
    errors: int
    rates: Sequence[float]
    ratios: Sequence[float]
    lag_p50_s: float
    lag_p99_s: float
    callback_p99_ms: float
    server_cpu_us: float

    @property
    def median_rate(self) -> float:
        """Median of the rounds' texts/s (req/s for the baseline)."""
        return statistics.median(self.rates)

    @property
    def median_ratio(self) -> float:
        """Median of the rounds' rates relative to the same round's baseline req/s."""
        return statistics.median(self.ratios)


def baseline_rates(phases: Sequence[Phase]) -> dict[int, float]:
    """Each round's baseline req/s, by round number."""
    return {p.round: p.rate for p in phases if p.scenario == BASELINE}


def ratio(phase: Phase, baselines: Mapping[int, float]) -> float:
    """``phase``'s rate relative to its round's baseline req/s."""
    base = baselines.get(phase.round, 0.0)
    return phase.rate / base if base else 0.0


def per_unit_us(phase: Phase, cpu_s: float) -> float:
    """CPU per text (per callback for the baseline), in µs."""
    units = phase.texts if phase.delivery else phase.callbacks
    return cpu_s / units * 1e6 if units else 0.0


def summarize(scenario: str, phases: Sequence[Phase]) -> Summary:
    """``scenario``'s phases across the rounds, summed up."""
    mine = [p for p in phases if p.scenario == scenario]
    baselines = baseline_rates(phases)
    lags = sorted(lag for p in mine if p.delivery for lag in p.delivery.lags)
    latencies = sorted(latency for p in mine for latency in p.callback_latencies)
    units = sum(p.texts if p.delivery else p.callbacks for p in mine)
    return Summary(
        scenario=scenario,
        callbacks=sum(p.callbacks for p in mine),
        errors=sum(p.errors for p in mine),
        rates=[p.rate for p in mine],
        ratios=[ratio(p, baselines) for p in mine],
        lag_p50_s=percentile(lags, 0.50),
        lag_p99_s=percentile(lags, 0.99),
        callback_p99_ms=percentile(latencies, 0.99) * 1000,
        server_cpu_us=sum(p.server_cpu_s for p in mine) / units * 1e6 if units else 0.0,
    )


def targets(summaries: Mapping[str, Summary]) -> list[tuple[str, bool]]:
    """Each target as (description with the measured value, holds)."""
    burst, paced = summaries[BURST], summaries[PACED]
    return [
        (
            f"burst texts/s >= {TEXTS_PER_S_TARGET:.0f} (median of rounds): "
            f"{burst.median_rate:.0f} ({burst.median_ratio:.3f}x the baseline req/s)",
            burst.median_rate >= TEXTS_PER_S_TARGET,
        ),
        (
            f"paced lag p99 <= {LAG_P99_TARGET_S:g} s (all rounds pooled): {paced.lag_p99_s:.2f} s",
            paced.lag_p99_s <= LAG_P99_TARGET_S,
        ),
    ]


# --- report ------------------------------------------------------------------------------

ROUND_HEADER = (
    f"{'round':<6}{'scenario':<24}{'sent':>6}{'cb/s':>7}{'cb p99 ms':>10}{'texts':>7}"
    f"{'texts/s':>9}{'vs base':>9}{'lag min s':>10}{'lag p50 s':>10}{'lag p99 s':>10}{'errors':>7}"
    f"{'srv µs/text':>12}{'srv CPU':>8}{'on loop':>8}{'stub µs/text':>13}{'client CPU':>11}"
)
SUMMARY_HEADER = (
    f"{'scenario':<24}{'rate/s (min-max)':>22}{'vs base (min-max)':>24}{'lag p50 s':>10}"
    f"{'lag p99 s':>10}{'cb p99 ms':>10}{'errors':>7}{'srv µs/text':>12}"
)


def round_line(phase: Phase, baselines: Mapping[int, float]) -> str:
    """One row of the per-round table (the baseline's rate is req/s, in the cb/s column)."""
    latencies = sorted(phase.callback_latencies)
    cb_p99 = percentile(latencies, 0.99) * 1000
    client = 100 * phase.client_cpu_s / phase.seconds if phase.seconds else 0.0
    busy = 100 * phase.server_cpu_s / phase.seconds if phase.seconds else 0.0
    loop = 100 * phase.server_loop_cpu_s / phase.server_cpu_s if phase.server_cpu_s else 0.0
    start = f"{phase.round:<6}{phase.scenario:<24}{phase.callbacks:>6}"
    if phase.delivery is None:
        middle = (
            f"{phase.rate:>7.0f}{cb_p99:>10.1f}{'-':>7}{'-':>9}{'-':>9}{'-':>10}{'-':>10}{'-':>10}"
        )
    else:
        lags = sorted(phase.delivery.lags)
        middle = (
            f"{phase.callback_rate:>7.0f}{cb_p99:>10.1f}{phase.texts:>7}{phase.rate:>9.0f}"
            f"{ratio(phase, baselines):>8.3f}x{min(lags, default=0.0):>10.2f}"
            f"{percentile(lags, 0.5):>10.2f}"
            f"{percentile(lags, 0.99):>10.2f}"
        )
    return (
        f"{start}{middle}{phase.errors:>7}{per_unit_us(phase, phase.server_cpu_s):>12.0f}"
        f"{busy:>7.0f}%{loop:>7.0f}%{per_unit_us(phase, phase.stub_cpu_s):>13.0f}{client:>10.0f}%"
    )


def summary_line(s: Summary) -> str:
    """One row of the summary table."""
    rates = f"{s.median_rate:.0f} ({min(s.rates):.0f}-{max(s.rates):.0f})"
    ratios = f"{s.median_ratio:.3f}x ({min(s.ratios):.3f}-{max(s.ratios):.3f})"
    if s.scenario == BASELINE:
        lags = f"{'-':>10}{'-':>10}"
    else:
        lags = f"{s.lag_p50_s:>10.2f}{s.lag_p99_s:>10.2f}"
    return (
        f"{s.scenario:<24}{rates:>22}{ratios:>24}{lags}{s.callback_p99_ms:>10.1f}"
        f"{s.errors:>7}{s.server_cpu_us:>12.0f}"
    )


def delivery_line(final: Delivery, posted: int) -> str:
    """The whole run's check: every call posted got exactly one text, and nothing else came."""
    return (
        f"texts over the whole run (warm-up included): {posted} calls posted, "
        f"{posted - final.missing} texted, missing {final.missing}, "
        f"duplicates {final.duplicates}, unexpected {final.unexpected}, "
        f"wrong body {final.wrong_body}"
    )


def paced_line(phases: Sequence[Phase], rate: float) -> str:
    """Whether the pipeline kept up with the paced rate: the lag of the first and the last
    10 % of each round's callbacks (medians over the rounds)."""
    trends = [lag_trend(p.delivery.lags) for p in phases if p.scenario == PACED and p.delivery]
    if not trends:
        return "paced: no texts"
    early = statistics.median(t[0] for t in trends)
    late = statistics.median(t[1] for t in trends)
    verdict = (
        "keeps up"
        if late <= early + KEEPS_UP_SLACK_S
        else "falls behind: the lag grows with every callback, so its p99 grows with --texts"
    )
    return (
        f"paced at {rate:g}/s: lag p50 of the first 10 % of callbacks {early:.2f} s, of the "
        f"last 10 % {late:.2f} s: {verdict}"
    )


def database_lines(outcome: Outcome) -> list[str]:
    """The server's jobs and messages tables after the run."""
    jobs = ", ".join(
        f"{kind} {status} {count} ({attempts} attempts)"
        for kind, status, count, attempts in outcome.jobs
    )
    messages = ", ".join(f"{status} {count}" for status, count in outcome.messages)
    return [f"jobs after the run: {jobs or 'none'}", f"outbound messages: {messages or 'none'}"]


def report(
    outcome: Outcome,
    opts: Options,
    load_before: Sequence[float],
    load_after: Sequence[float],
) -> str:
    """The per-round table, the summary, the checks and the targets, as plain text."""
    phases = outcome.phases
    baselines = baseline_rates(phases)
    summaries = {name: summarize(name, phases) for name in SCENARIOS}
    behind = max((p.behind_s for p in phases if p.scenario == PACED), default=0.0)
    posted = len(outcome.final.lags) + outcome.final.missing
    lines = [
        f"Ringflow post-call SMS benchmark: {opts.rounds} rounds x {opts.texts} calls per text "
        f"phase (burst: {opts.concurrency} in flight; paced: {opts.rate:g}/s), baseline "
        f"{2 * opts.texts} callbacks per round, +{opts.warmup} warm-up once, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"load average (1/5/15 min) before the run: {loads(load_before)}; "
        f"after: {loads(load_after)}",
        "",
        ROUND_HEADER,
        "-" * len(ROUND_HEADER),
        *(round_line(phase, baselines) for phase in phases),
        "",
        "summary: rate (texts/s; req/s for the baseline) and vs base are the median of the "
        "rounds (each against its round's baseline req/s); lag and callback p50/p99 over all "
        "timed texts/callbacks pooled",
        SUMMARY_HEADER,
        "-" * len(SUMMARY_HEADER),
        *(summary_line(summaries[name]) for name in SCENARIOS),
        delivery_line(outcome.final, posted),
        *database_lines(outcome),
        paced_line(phases, opts.rate),
        f"paced client: at most {behind * 1000:.1f} ms behind its schedule",
        "targets:",
        *(f"  [{'ok' if ok else 'FAIL'}] {text}" for text, ok in targets(summaries)),
    ]
    return "\n".join(lines)


def exit_status(outcome: Outcome, check: bool) -> int:
    """1 when a callback failed or a text went wrong, or (with ``check``) a target missed."""
    if any(p.errors for p in outcome.phases) or outcome.final.errors:
        return 1
    summaries = {name: summarize(name, outcome.phases) for name in SCENARIOS}
    if check and not all(ok for _text, ok in targets(summaries)):
        return 1
    return 0


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.texts", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--texts", type=int, default=500, help="calls per text phase and round")
    parser.add_argument("--rate", type=float, default=500.0, help="paced callbacks per second")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls, once")
    parser.add_argument("--concurrency", type=int, default=50, help="callbacks in flight")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per batch")
    parser.add_argument("--no-check", action="store_true", help="report only; exit 0")
    parser.add_argument("--profile", help="cProfile the Ringflow server into this file")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be 1-{MAX_ROUNDS}")
    calls = args.rounds * 4 * args.texts + 2 * args.warmup
    if args.texts < 1 or args.warmup < 0 or calls > MAX_CALLERS:
        parser.error(
            f"--texts must be at least 1, --warmup at least 0, and "
            f"rounds x 4 x texts + 2 x warmup <= {MAX_CALLERS}"
        )
    if not (0 < args.rate <= 100_000 and math.isfinite(args.rate)):
        parser.error("--rate must be 0-100000 per second")
    if not 1 <= args.concurrency <= 1000 or not 0 < args.timeout <= 3600:
        parser.error("--concurrency must be 1-1000 and --timeout 0-3600 s")
    return Options(
        rounds=args.rounds,
        texts=args.texts,
        rate=args.rate,
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
        outcome = run(opts)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(report(outcome, opts, load_before, os.getloadavg()))
    if opts.profile:
        print(f"(profiled run, numbers are slowed down; profile in {opts.profile})")
    return exit_status(outcome, opts.check)


if __name__ == "__main__":
    sys.exit(main())
