"""Chat fan-out benchmark: many open chat WebSockets on one server process, what an idle one
costs in memory, and how fast an agent's reply reaches its visitor (issue 10's target:
**1,000 concurrent chat WebSockets on one process, message fan-out p99 <= 50 ms**; memory per
idle connection measured and stated).

Two servers, each a command of its own pinned to ``--server-cpu``, measured one after the
other in the same run, the same way:

* **Ringflow**: ``python -m server serve`` (exactly what ``ringflow serve`` runs: SQLite in a
  temporary folder, the job worker on, log level WARNING) with one ``chat.started`` workflow
  that greets the visitor, so that every visitor gets a conversation;
* **bare aiohttp**: :mod:`bench.chat_baseline`, a plain aiohttp WebSocket server that pushes a
  frame to the named socket when it is posted to: what aiohttp itself costs.

The load is this script, an asyncio process (aiohttp's client) pinned to ``--load-cpu``:

1. **warm-up**: ``--warmup`` sockets opened, a reply to each, closed (untimed: first-use
   costs are not counted as the connections');
2. **open**: ``--sockets`` WebSockets, each a new visitor (hello without a visitor id; the
   welcome and the workflow's greeting awaited); the server's RSS (``/proc/<pid>/status``)
   before, once all are open, and after ``--settle`` seconds with nothing sent (the server's
   idle CPU is measured over that time): **memory per idle connection** = (RSS settled - RSS
   before) / sockets;
3. **fan-out**: ``--rate`` replies a second for ``--duration`` seconds, sent on schedule
   (open loop: a slow answer does not hold the next one back), spread over the sockets in a
   shuffled order (every socket once before any twice). Ringflow: ``POST
   /api/conversations/{id}/replies`` with the admin token (what the inbox's reply does; the
   conversation ids are read from ``GET /api/conversations`` beforehand, untimed). Baseline:
   ``POST /push/{visitor}``. Each reply's latency is from the moment its POST is sent to the
   moment its frame arrives on its visitor's socket, both read from this process's clock;
   the server's CPU time (``/proc``) over the phase is divided by the messages delivered;
4. the sockets closed, the RSS once more.

Errors: a POST not answered 201, a frame not there ``--timeout`` seconds after its POST, a
frame twice, a socket the server closed, an error frame, an error in the server's log.
Usage::

    .venv/bin/python -m bench.chat_fanout                  # 1,000 sockets, 50 replies/s for 30 s
    .venv/bin/python -m bench.chat_fanout --sockets 2000 --rate 100 --json /tmp/fanout.json

Exit status 1 when anything failed or the benchmark could not run; the target is reported
(MET / NOT MET), not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.chat_baseline import PUSH_PATH, SOCKET_PATH
from bench.harness import (
    HOST,
    BenchError,
    Server,
    cpu_busy_seconds,
    loads,
    percentile,
    process_cpu_seconds,
)
from bench.hold_queue import ringflow_env
from bench.processes import (
    check_cpus,
    free_port,
    pinned_server,
    python_command,
    server_env,
    set_niceness,
)
from bench.webhooks import git_commit, python_speed_ms

RINGFLOW = "Ringflow"
BARE = "bare aiohttp"
TARGET_P99_MS = 50.0
GREETING = "Hi! This is the fan-out bench."
OPEN_TIMEOUT_S = 60.0
"""How long a socket may take to open and be greeted."""
SEED = 10
FAILED_IN_LOG = ("Traceback", " ERROR ", "sending failed")


@dataclass(frozen=True, slots=True)
class Options:
    """Command-line options."""

    sockets: int
    rate: float
    duration: float
    settle: float
    warmup: int
    concurrency: int
    timeout: float
    server_cpu: int
    load_cpu: int
    nice: int
    json_path: Path | None

    @property
    def replies(self) -> int:
        """Replies sent in the fan-out phase."""
        return max(1, round(self.rate * self.duration))


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.chat_fanout", description=__doc__)
    parser.add_argument("--sockets", type=int, default=1000, help="open chat sockets (1000)")
    parser.add_argument("--rate", type=float, default=50.0, help="replies a second (50)")
    parser.add_argument("--duration", type=float, default=30.0, help="fan-out seconds (30)")
    parser.add_argument(
        "--settle",
        type=float,
        default=40.0,
        help="idle seconds after opening before the memory is read again (40: every Ringflow "
        "socket re-reads its messages once per 30 s idle, counted in the idle CPU)",
    )
    parser.add_argument("--warmup", type=int, default=20, help="warm-up sockets (20)")
    parser.add_argument(
        "--concurrency", type=int, default=50, help="sockets being opened at once (50)"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds a reply's frame may take (10)"
    )
    parser.add_argument("--server-cpu", type=int, default=1, help="CPU of the servers (1)")
    parser.add_argument("--load-cpu", type=int, default=0, help="CPU of this script (0)")
    parser.add_argument("--nice", type=int, default=0, help="niceness (below 0 needs root)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not 1 <= args.sockets <= 20_000:
        parser.error("--sockets must be 1-20000")
    if not 0.1 <= args.rate <= 2000 or not 0.5 <= args.duration <= 600:
        parser.error("--rate must be 0.1-2000, --duration 0.5-600")
    if not 0 <= args.settle <= 600 or not 0 <= args.warmup <= 1000:
        parser.error("--settle must be 0-600, --warmup 0-1000")
    if not 1 <= args.concurrency <= 1000 or not 0.5 <= args.timeout <= 120:
        parser.error("--concurrency must be 1-1000, --timeout 0.5-120")
    if not -20 <= args.nice <= 19:
        parser.error("--nice must be -20-19")
    return Options(
        sockets=args.sockets,
        rate=args.rate,
        duration=args.duration,
        settle=args.settle,
        warmup=args.warmup,
        concurrency=args.concurrency,
        timeout=args.timeout,
        server_cpu=args.server_cpu,
        load_cpu=args.load_cpu,
        nice=args.nice,
        json_path=args.json,
    )


def workflow_yaml() -> str:
    """Greets every new chat visitor: each one gets a conversation (and a first frame)."""
    return f"""id: fanout-bench
trigger: {{event: chat.started}}
start: hello
steps:
  hello:
    say: "{GREETING}"
"""


def rss_kib(pid: int) -> int:
    """The resident memory of process ``pid``, KiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


# --- the load: sockets and replies ---------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """What every socket of a server received, on this process's clock."""

    arrived: dict[str, float] = field(default_factory=dict)
    """An agent frame's text -> when it arrived (``time.perf_counter``)."""
    duplicates: int = 0
    error_frames: list[str] = field(default_factory=list)
    pending: set[str] = field(default_factory=set)
    """Replies sent whose frame has not arrived yet."""
    sealed: bool = False
    """Whether every reply of the phase has been sent."""
    all_in: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the phase is sealed and nothing is pending."""

    def expect(self, text: str) -> None:
        """A reply with ``text`` is being sent."""
        self.pending.add(text)

    def seal(self) -> None:
        """Every reply is sent: ``all_in`` once their frames are all here."""
        self.sealed = True
        if not self.pending:
            self.all_in.set()

    def arrive(self, text: str, now: float) -> None:
        """An agent frame with ``text`` arrived at ``now``."""
        if text in self.arrived:
            self.duplicates += 1
            return
        self.arrived[text] = now
        self.pending.discard(text)
        if self.sealed and not self.pending:
            self.all_in.set()


class Client:
    """One open visitor socket; its reader notes when each agent frame arrives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, tally: Tally) -> None:
        self.ws = ws
        self.visitor = ""
        self.key = ""
        """What the reply's URL names: Ringflow's conversation id, the baseline's visitor."""
        self.greeted = asyncio.Event()
        self.closing = False
        self.dropped = False
        self._tally = tally
        self._reader = asyncio.create_task(self._read(), name="fanout-client")

    async def _read(self) -> None:
        tally = self._tally
        async for raw in self.ws:
            now = time.perf_counter()  # before parsing: the frame is here
            if raw.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(raw.data)
            kind = frame.get("type")
            if kind == "welcome":
                self.visitor = str(frame["visitor"])
            elif kind == "message" and frame.get("from") == "agent":
                tally.arrive(str(frame.get("text")), now)
            elif kind == "message":
                self.greeted.set()
            elif kind == "error":
                tally.error_frames.append(json.dumps(frame)[:200])
        if not self.closing:
            self.dropped = True

    async def close(self) -> None:
        """Close the socket and wait for its reader."""
        self.closing = True
        await self.ws.close()
        await self._reader


async def open_clients(
    session: aiohttp.ClientSession, url: str, count: int, concurrency: int, tally: Tally
) -> list[Client]:
    """``count`` new visitors' sockets, each welcomed and greeted, ``concurrency`` at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> Client:
        async with gate:
            ws = await session.ws_connect(url, autoping=True)
            await ws.send_json({"type": "hello", "visitor": None, "after": 0})
            client = Client(ws, tally)
            await client.greeted.wait()
            return client

    try:
        async with asyncio.timeout(OPEN_TIMEOUT_S + count / 20):
            return await asyncio.gather(*(one() for _ in range(count)))
    except (TimeoutError, aiohttp.ClientError) as error:
        raise BenchError(f"opening {count} sockets at {url}: {error!r}") from None


async def ringflow_keys(
    session: aiohttp.ClientSession, server: Server, admin: str
) -> dict[str, str]:
    """Each chat contact (``chat:<public id>``) -> its conversation id, from the admin API."""
    headers = {"Authorization": f"Bearer {admin}"}
    found: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        url = f"{server.base_url}/api/conversations"
        async with session.get(url, params=params, headers=headers) as answer:
            if answer.status != 200:
                raise BenchError(f"GET /api/conversations: {answer.status} {await answer.text()}")
            page = await answer.json()
        for item in page["items"]:
            found[item["contact_number"]] = str(item["id"])
        cursor = page["next_cursor"]
        if not cursor:
            return found


@dataclass(slots=True)
class Fanout:
    """What the fan-out phase measured."""

    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    """Delivered replies' POST-to-frame times, s, ascending."""
    post_latencies: list[float] = field(default_factory=list)
    """POST-to-answer times, s, ascending."""
    post_errors: int = 0
    first_error: str = ""
    missing: int = 0
    duplicates: int = 0
    late_start_s: float = 0.0
    """The latest a POST left after its scheduled time (the load falling behind)."""
    window_s: float = 0.0
    cpu_s: float = 0.0
    other_s: float = 0.0
    load_cpu_s: float = 0.0
    """This process's own CPU over the phase: the load generator's."""

    @property
    def delivered(self) -> int:
        """Replies whose frame arrived."""
        return len(self.latencies)


@dataclass(slots=True)
class Result:
    """One server's figures."""

    name: str
    sockets: int
    open_s: float = 0.0
    rss_before: int = 0
    rss_open: int = 0
    rss_settled: int = 0
    rss_closed: int = 0
    idle_s: float = 0.0
    idle_cpu_s: float = 0.0
    fanout: Fanout = field(default_factory=Fanout)
    dropped: int = 0
    error_frames: list[str] = field(default_factory=list)
    log_failures: list[str] = field(default_factory=list)

    @property
    def per_connection_open_kib(self) -> float:
        """The RSS growth right after opening, over the sockets."""
        return (self.rss_open - self.rss_before) / self.sockets

    @property
    def per_connection_kib(self) -> float:
        """Memory per idle connection: the settled RSS growth over the sockets."""
        return (self.rss_settled - self.rss_before) / self.sockets

    @property
    def idle_pct(self) -> float:
        """The server's CPU with the sockets open and nothing sent, % of one core."""
        return 100 * self.idle_cpu_s / self.idle_s if self.idle_s else 0.0

    @property
    def errors(self) -> int:
        """Everything that went wrong (see the module docstring)."""
        f = self.fanout
        return (
            f.post_errors
            + f.missing
            + f.duplicates
            + self.dropped
            + len(self.error_frames)
            + len(self.log_failures)
        )

    def latency_ms(self, fraction: float) -> float:
        """A percentile of the fan-out latency, ms (nearest rank)."""
        return 1000 * percentile(self.fanout.latencies, fraction)

    @property
    def idle_us_per_message(self) -> float:
        """What the idle server (its CPU rate over the settle) spent per delivered message
        over the fan-out phase: part of :attr:`us_per_message`."""
        f = self.fanout
        idle_rate = self.idle_cpu_s / self.idle_s if self.idle_s else 0.0
        return 1e6 * idle_rate * f.window_s / f.delivered if f.delivered else 0.0

    @property
    def us_per_message(self) -> float:
        """The server's CPU over the fan-out phase per delivered message, µs."""
        f = self.fanout
        return 1e6 * f.cpu_s / f.delivered if f.delivered else 0.0


PostFor = Callable[[Client], tuple[str, dict[str, str]]]
"""A reply's URL and headers for a client."""


async def fan_out(
    session: aiohttp.ClientSession,
    clients: Sequence[Client],
    tally: Tally,
    post_for: PostFor,
    count: int,
    rate: float,
    timeout_s: float,
    label: str,
) -> tuple[Fanout, float]:
    """``count`` replies at ``rate`` a second, spread over ``clients``; (what was measured
    except the CPU, the moment the phase ended on ``time.perf_counter``)."""
    order = list(range(len(clients)))
    random.Random(SEED).shuffle(order)
    result = Fanout(sent=count)
    sent_at: dict[str, float] = {}
    posts: list[float] = []

    async def send(text: str, client: Client) -> None:
        url, headers = post_for(client)
        started = time.perf_counter()
        sent_at[text] = started
        tally.expect(text)
        try:
            async with session.post(url, json={"body": text}, headers=headers) as answer:
                body = await answer.text()
                if answer.status != 201:
                    result.post_errors += 1
                    result.first_error = result.first_error or f"{answer.status} {body[:200]}"
        except (aiohttp.ClientError, TimeoutError) as error:
            result.post_errors += 1
            result.first_error = result.first_error or repr(error)
        posts.append(time.perf_counter() - started)

    tasks: list[asyncio.Task[None]] = []
    began = time.perf_counter()
    run = secrets.token_hex(3)
    for number in range(count):
        due = began + number / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        result.late_start_s = max(result.late_start_s, time.perf_counter() - due)
        text = f"{label} reply {number} ({run})"
        client = clients[order[number % len(order)]]
        tasks.append(asyncio.create_task(send(text, client)))
    await asyncio.gather(*tasks)
    tally.seal()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await tally.all_in.wait()
    ended = time.perf_counter()
    delivered = [tally.arrived[t] - at for t, at in sent_at.items() if t in tally.arrived]
    result.latencies = sorted(delivered)
    result.missing = count - len(delivered)
    result.post_latencies = sorted(posts)
    result.duplicates = tally.duplicates
    if delivered:
        ended = max(max(tally.arrived[t] for t in sent_at if t in tally.arrived), began)
    return result, ended


# --- one server ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subject:
    """A server under test: how to reach its sockets and post a reply to one."""

    name: str
    server: Server
    log: Path
    post_for: PostFor
    keys: Callable[[aiohttp.ClientSession, Sequence[Client]], Awaitable[None]]
    """Fills in each client's ``key`` (what its reply's URL names)."""

    @property
    def socket_url(self) -> str:
        """The chat socket's URL."""
        return self.server.base_url.replace("http://", "ws://") + SOCKET_PATH


def ringflow_subject(server: Server, log: Path, admin: str) -> Subject:
    """Ringflow: replies through the conversations API, as an agent's inbox sends them."""
    headers = {"Authorization": f"Bearer {admin}"}

    async def keys(session: aiohttp.ClientSession, clients: Sequence[Client]) -> None:
        conversations = await ringflow_keys(session, server, admin)
        for client in clients:
            contact = "chat:" + client.visitor.split(".", 1)[0]
            if contact not in conversations:
                raise BenchError(f"no conversation for visitor {contact[:12]}...")
            client.key = conversations[contact]

    def post_for(client: Client) -> tuple[str, dict[str, str]]:
        return f"{server.base_url}/api/conversations/{client.key}/replies", headers

    return Subject(RINGFLOW, server, log, post_for, keys)


def bare_subject(server: Server, log: Path) -> Subject:
    """The baseline: a POST naming the socket pushes the frame."""

    async def keys(_session: aiohttp.ClientSession, clients: Sequence[Client]) -> None:
        for client in clients:
            client.key = client.visitor

    def post_for(client: Client) -> tuple[str, dict[str, str]]:
        return f"{server.base_url}{PUSH_PATH}/{client.key}", {}

    return Subject(BARE, server, log, post_for, keys)


async def measure(subject: Subject, opts: Options) -> Result:
    """Warm up, open the sockets, let them idle, fan out, close (see the module docstring)."""
    result = Result(subject.name, opts.sockets)
    pid = subject.server.pid
    sockets = aiohttp.TCPConnector(limit=0)
    posts = aiohttp.TCPConnector(limit=100)
    timeout = aiohttp.ClientTimeout(total=opts.timeout)
    async with (
        aiohttp.ClientSession(connector=sockets) as ws_session,
        aiohttp.ClientSession(connector=posts, timeout=timeout) as session,
    ):
        if opts.warmup:
            tally = Tally()
            clients = await open_clients(
                ws_session, subject.socket_url, opts.warmup, opts.concurrency, tally
            )
            await subject.keys(session, clients)
            warm, _ = await fan_out(
                session, clients, tally, subject.post_for, opts.warmup, 50, opts.timeout, "warm"
            )
            await asyncio.gather(*(c.close() for c in clients))
            if warm.post_errors or warm.missing:
                raise BenchError(
                    f"{subject.name}: warm-up: {warm.post_errors} POSTs failed, "
                    f"{warm.missing} frames missing; {warm.first_error}"
                )
            await asyncio.sleep(1)

        tally = Tally()
        result.rss_before = rss_kib(pid)
        began = time.perf_counter()
        clients = await open_clients(
            ws_session, subject.socket_url, opts.sockets, opts.concurrency, tally
        )
        result.open_s = time.perf_counter() - began
        result.rss_open = rss_kib(pid)
        idle_cpu = process_cpu_seconds(pid)
        idle_began = time.perf_counter()
        await asyncio.sleep(opts.settle)
        result.idle_s = time.perf_counter() - idle_began
        result.idle_cpu_s = process_cpu_seconds(pid) - idle_cpu
        result.rss_settled = rss_kib(pid)
        await subject.keys(session, clients)

        cpu_before = process_cpu_seconds(pid)
        busy_before = cpu_busy_seconds(opts.server_cpu)
        load_before = time.process_time()
        began = time.perf_counter()
        fanout, ended = await fan_out(
            session,
            clients,
            tally,
            subject.post_for,
            opts.replies,
            opts.rate,
            opts.timeout,
            subject.name,
        )
        fanout.cpu_s = process_cpu_seconds(pid) - cpu_before
        fanout.load_cpu_s = time.process_time() - load_before
        fanout.other_s = max(0.0, cpu_busy_seconds(opts.server_cpu) - busy_before - fanout.cpu_s)
        fanout.window_s = ended - began
        result.fanout = fanout
        result.dropped = sum(c.dropped for c in clients)
        result.error_frames = tally.error_frames
        await asyncio.gather(*(c.close() for c in clients))
        await asyncio.sleep(2)
        result.rss_closed = rss_kib(pid)
    logged = subject.log.read_text(errors="replace").splitlines()
    result.log_failures = [line for line in logged if any(s in line for s in FAILED_IN_LOG)]
    return result


# --- the run -------------------------------------------------------------------------------


def raise_file_limit(needed: int) -> None:
    """Room for ``needed`` open files in this process and the servers it starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise BenchError(f"{needed} open files needed, the limit is {hard} (ulimit -n)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def bench(opts: Options) -> list[Result]:
    """Start both servers pinned to the server CPU, measure each from the load CPU."""
    check_cpus(opts.server_cpu, opts.load_cpu)
    raise_file_limit(opts.sockets + opts.warmup + 500)
    # This process (the load) on the load CPU for the run only: main() may be called from a
    # longer-lived process (the benchmark's test).
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {opts.load_cpu})
    try:
        if opts.nice:
            set_niceness(opts.nice)
        return run_servers(opts)
    finally:
        os.sched_setaffinity(0, before)


def run_servers(opts: Options) -> list[Result]:
    """Both servers started, each measured (Ringflow first)."""
    token, admin = secrets.token_hex(16), secrets.token_hex(24)
    with tempfile.TemporaryDirectory(prefix="ringflow-fanout-") as folder, ExitStack() as stack:
        work = Path(folder)
        data, flows = work / "data", work / "flows"
        data.mkdir()
        flows.mkdir()
        (flows / "fanout-bench.yaml").write_text(workflow_yaml())
        ports = free_port(), free_port()
        logs = work / "ringflow.log", work / "bare.log"
        ringflow = stack.enter_context(
            pinned_server(
                RINGFLOW,
                python_command("-m", "server", "serve", "--host", HOST, "--port", str(ports[0])),
                ringflow_env(ports[0], token, admin, data, flows),
                ports[0],
                opts.server_cpu,
                logs[0],
                opts.nice,
            )
        )
        bare = stack.enter_context(
            pinned_server(
                BARE,
                python_command("-m", "bench.chat_baseline", "--port", str(ports[1])),
                server_env({}),
                ports[1],
                opts.server_cpu,
                logs[1],
                opts.nice,
            )
        )
        subjects = ringflow_subject(ringflow, logs[0], admin), bare_subject(bare, logs[1])
        results = []
        for subject in subjects:
            results.append(asyncio.run(measure(subject, opts)))
            print(f"{subject.name} done", file=sys.stderr, flush=True)
        return results


# --- report --------------------------------------------------------------------------------


def _ratio(mine: float, base: float) -> str:
    return f"{mine / base:.1f}x" if base > 0 else "-"


def report(results: Sequence[Result], opts: Options, facts: dict[str, str]) -> str:
    """The machine, memory, the fan-out table, the ratios and the verdict."""
    ringflow, bare = results
    mib = 1024
    memory_header = (
        f"{'server':<14}{'before':>8}{'open':>8}{'settled':>9}{'closed':>8}"
        f"{'KiB/sock open':>14}{'KiB/sock settled':>17}{'open s':>8}{'idle CPU':>10}"
    )
    fan_header = (
        f"{'server':<14}{'sent':>6}{'delivered':>10}{'errors':>7}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'p99 ms':>8}{'max ms':>8}{'POST p99':>9}{'srv µs/msg':>11}{'srv CPU':>8}{'other':>7}"
        f"{'load CPU':>9}"
    )
    lines = [
        f"Ringflow chat fan-out benchmark: {opts.sockets} chat WebSockets on one server "
        f"process (a visitor each), then {opts.replies} agent replies at {opts.rate:g}/s for "
        f"{opts.duration:g} s, spread over the sockets",
        f"machine: {facts['machine']}",
        f"load average before: {facts['load_before']}; after: {facts['load_after']}",
        f"speed: sum(range(10**7)) took {facts['speed']} ms of CPU on the server CPU (before /"
        " after; CPU per message moves with it)",
        "",
        f"memory: the server's RSS in MiB before opening, with the {opts.sockets} sockets "
        f"open, after {opts.settle:g} s idle (settled), after closing them; per idle "
        "connection = (settled - before) / sockets; idle CPU over the settle, % of a core",
        memory_header,
        "-" * len(memory_header),
    ]
    for r in results:
        lines.append(
            f"{r.name:<14}{r.rss_before / mib:>8.1f}{r.rss_open / mib:>8.1f}"
            f"{r.rss_settled / mib:>9.1f}{r.rss_closed / mib:>8.1f}"
            f"{r.per_connection_open_kib:>14.1f}{r.per_connection_kib:>17.1f}"
            f"{r.open_s:>8.1f}{r.idle_pct:>9.2f}%"
        )
    lines += [
        "",
        "fan-out: from sending the reply's POST to its frame arriving on the visitor's socket "
        "(one clock, this process); POST p99: to the POST's answer, ms; srv µs/msg = the "
        "server's CPU over the phase / delivered (idle share: its idle CPU rate over the phase "
        "/ delivered); other: the rest of the server CPU's use; load CPU: this process's",
        fan_header,
        "-" * len(fan_header),
    ]
    for r in results:
        f = r.fanout
        pct = 100 * f.cpu_s / f.window_s if f.window_s else 0.0
        other = 100 * f.other_s / f.window_s if f.window_s else 0.0
        load = 100 * f.load_cpu_s / f.window_s if f.window_s else 0.0
        lines.append(
            f"{r.name:<14}{f.sent:>6}{f.delivered:>10}{r.errors:>7}{r.latency_ms(0.5):>8.1f}"
            f"{r.latency_ms(0.95):>8.1f}{r.latency_ms(0.99):>8.1f}{r.latency_ms(1.0):>8.1f}"
            f"{1000 * percentile(f.post_latencies, 0.99):>9.1f}{r.us_per_message:>11.0f}"
            f"{pct:>7.0f}%{other:>6.0f}%{load:>8.0f}%"
        )
    p99 = ringflow.latency_ms(0.99)
    verdict = "MET" if p99 <= TARGET_P99_MS and not ringflow.errors else "NOT MET"
    lines += [
        "",
        f"{RINGFLOW} vs {BARE}: p99 {_ratio(p99, bare.latency_ms(0.99))}, CPU per message "
        f"{_ratio(ringflow.us_per_message, bare.us_per_message)}, memory per idle connection "
        f"{_ratio(ringflow.per_connection_kib, bare.per_connection_kib)}",
        "of srv µs/msg, the idle server's share: "
        + ", ".join(f"{r.name} {r.idle_us_per_message:.0f} µs" for r in results),
        f"memory per idle connection: {RINGFLOW} {ringflow.per_connection_kib:.1f} KiB, "
        f"{BARE} {bare.per_connection_kib:.1f} KiB",
        "load fell behind its schedule by at most: "
        + ", ".join(f"{r.name} {1000 * r.fanout.late_start_s:.1f} ms" for r in results),
        f"target: {opts.sockets} chat WebSockets on one process, fan-out p99 <= "
        f"{TARGET_P99_MS:g} ms: {verdict} ({p99:.1f} ms, {ringflow.errors} errors)",
    ]
    problems = failures(results)
    if problems:
        lines += ["", "failures:", *(f"  {line}" for line in problems)]
    return "\n".join(lines)


def failures(results: Sequence[Result]) -> list[str]:
    """What went wrong, a line per kind and server."""
    lines = []
    for r in results:
        f = r.fanout
        if f.post_errors:
            lines.append(f"{r.name}: {f.post_errors} POSTs failed, e.g. {f.first_error}")
        if f.missing:
            lines.append(f"{r.name}: {f.missing} frames never arrived")
        if f.duplicates:
            lines.append(f"{r.name}: {f.duplicates} frames arrived twice")
        if r.dropped:
            lines.append(f"{r.name}: {r.dropped} sockets closed by the server")
        if r.error_frames:
            lines.append(f"{r.name}: {len(r.error_frames)} error frames, e.g. {r.error_frames[0]}")
        if r.log_failures:
            lines.append(
                f"{r.name}: {len(r.log_failures)} failures in its log, e.g. "
                f"{r.log_failures[0][:200]}"
            )
    return lines


def figures(results: Sequence[Result], opts: Options) -> dict[str, Any]:
    """The figures, for ``--json``."""
    return {
        "sockets": opts.sockets,
        "rate": opts.rate,
        "duration_s": opts.duration,
        "servers": {
            r.name: {
                "rss_kib": {
                    "before": r.rss_before,
                    "open": r.rss_open,
                    "settled": r.rss_settled,
                    "closed": r.rss_closed,
                },
                "kib_per_connection_open": round(r.per_connection_open_kib, 2),
                "kib_per_idle_connection": round(r.per_connection_kib, 2),
                "open_s": round(r.open_s, 2),
                "idle_cpu_pct": round(r.idle_pct, 3),
                "sent": r.fanout.sent,
                "delivered": r.fanout.delivered,
                "errors": r.errors,
                "p50_ms": round(r.latency_ms(0.5), 2),
                "p95_ms": round(r.latency_ms(0.95), 2),
                "p99_ms": round(r.latency_ms(0.99), 2),
                "max_ms": round(r.latency_ms(1.0), 2),
                "server_us_per_message": round(r.us_per_message, 1),
            }
            for r in results
        },
        "target_met": results[0].latency_ms(0.99) <= TARGET_P99_MS and not results[0].errors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 1 when anything failed or it could not run."""
    opts = parse_options(argv)
    load_before = os.getloadavg()
    try:
        check_cpus(opts.server_cpu, opts.load_cpu)
        speed_before = python_speed_ms(opts.server_cpu)
        results = bench(opts)
        speed_after = python_speed_ms(opts.server_cpu)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    facts = {
        "machine": f"{os.cpu_count()} CPUs; servers on CPU {opts.server_cpu}, the load (this "
        f"script, aiohttp's client) on CPU {opts.load_cpu}; Ringflow {git_commit()}",
        "load_before": loads(load_before),
        "load_after": loads(os.getloadavg()),
        "speed": f"{speed_before:.0f} / {speed_after:.0f}",
    }
    print(report(results, opts, facts))
    if opts.json_path:
        opts.json_path.write_text(json.dumps(figures(results, opts), indent=2) + "\n")
    if failures(results):
        print("something failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
