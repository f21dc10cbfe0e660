"""The ``ringflow`` command: serve, call (in-process and against a running server), calls;
``/healthz``, ``/readyz`` and the server's SQLite database while another process writes or the
writer dies or is stuck."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import Connection

from ringflow.database import SqliteDatabase
from server import main
from tests.conftest import Reply, RunningServer, ServerFactory, eventually, signed_post

RINGFLOW = str(Path(sys.executable).parent / "ringflow")
DEMO_WALK = [
    "Say: Thank you for calling Acme. This is the Ringflow demo line.",
    "Keys: 1",
    "Say: We are open nine to six, Monday to Friday, and ten to two on Saturday.",
    "Keys: 2",
    "Say: Goodbye.",
    "Hangup",
]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data dir (and so a private SQLite database) for the command."""
    monkeypatch.setenv("RINGFLOW_DATA_DIR", str(tmp_path / "data"))
    for name in ("RINGFLOW_DATABASE_URL", "RINGFLOW_PUBLIC_URL", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def heard(output: str) -> list[str]:
    """Transcript lines, without the prompts the terminal caller prints."""
    lines = []
    for line in output.splitlines():
        text = line.split("] > ")[-1]
        if text.startswith(("Say: ", "Keys: ", "Hangup", "Dial", "Record")):
            lines.append(text)
    menus = ("Say: For our opening", "Say: To go back")
    return [line for line in lines if not line.startswith(menus)]


def test_call_walks_the_demo_workflow_in_process(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("1\n2\n"))
    assert main(["call", "--from", "+15551112222"]) == 0
    output = capsys.readouterr().out
    assert heard(output) == DEMO_WALK
    assert "ended (hangup-verb)" in output

    assert main(["calls"]) == 0
    log = capsys.readouterr().out.splitlines()
    assert log[0].split() == [
        "time",
        "(UTC)",
        "from",
        "to",
        "workflow",
        "path",
        "keys",
        "outcome",
        "secs",
    ]
    assert "+15551112222" in log[1]
    assert "welcome > main > hours > anything_else > bye" in log[1]
    assert log[1].split()[-2:] == ["self_service", log[1].split()[-1]]


def test_a_caller_who_hangs_up_is_logged_as_abandoned(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["call"]) == 0
    assert "ended (caller-hangup)" in capsys.readouterr().out
    assert main(["calls"]) == 0
    assert "abandoned" in capsys.readouterr().out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(*options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``ringflow serve --port P *options`` in its own process (stdout and stderr, i.e. the
    banner and the log, together), stopped with SIGINT afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [RINGFLOW, "serve", "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=15)


@pytest.fixture
def running_server(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``ringflow serve`` (the demo, 127.0.0.1, no auth token) in its own process."""
    with serving() as running:
        yield running


def test_serve_prints_the_webhook_urls_and_answers_calls(
    running_server: tuple[str, subprocess.Popen[str]],
) -> None:
    base, process = running_server
    call = subprocess.run(
        [RINGFLOW, "call", "--url", base],
        input="1\n2\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert call.returncode == 0, call.stderr
    assert heard(call.stdout) == DEMO_WALK
    # What the server (and ffmpeg, which it starts) creates is readable by its owner only.
    status = Path(f"/proc/{process.pid}/status").read_text().splitlines()
    assert "Umask:\t0077" in status

    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert f"Ringflow is answering on {base}" in output
    assert f"A call comes in (HTTP POST):       {base}/twilio/voice" in output
    assert f"Call status changes (HTTP POST):   {base}/twilio/voice/status" in output
    assert "workflow demo-line: call.incoming (any number)" in output
    # Unsigned webhooks are allowed on loopback, and the log says so (not only the banner).
    assert " WARNING ringflow: TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT" in output


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "ivr.example.com"])  # noqa: S104
def test_serve_refuses_unsigned_webhooks_on_an_address_others_reach(
    data_dir: Path, host: str
) -> None:
    refused = subprocess.run(
        [RINGFLOW, "serve", "--host", host, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,  # a server that started would never return
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: TWILIO_AUTH_TOKEN is not set")
    assert f"listen on {host!r}" in refused.stderr
    assert "RINGFLOW_INSECURE_WEBHOOKS=true" in refused.stderr
    assert not data_dir.exists(), "refused before anything was created"


def served_and_stopped(*args: str) -> str:
    """Start ``ringflow serve ARGS``, check /healthz answers, stop it with SIGINT; its output
    (it must have exited cleanly)."""
    with serving(*args) as (base, process):
        with urllib.request.urlopen(base + "/healthz", timeout=5) as response:  # noqa: S310
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    return output


def test_serve_on_all_addresses_unsigned_only_when_allowed_and_logged(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RINGFLOW_INSECURE_WEBHOOKS", "true")
    output = served_and_stopped("--host", "0.0.0.0")  # noqa: S104
    assert (
        " WARNING ringflow: TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked"
        " (listening on 0.0.0.0, RINGFLOW_INSECURE_WEBHOOKS=true)"
    ) in output


def test_serve_on_all_addresses_with_a_token_needs_no_permission(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "12345678901234567890123456789012")
    output = served_and_stopped("--host", "0.0.0.0")  # noqa: S104
    assert "NOT checked" not in output


def test_serve_refuses_a_missing_flows_folder(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--flows", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{tmp_path / 'nowhere'}: no such folder of workflow files"
    )


def test_serve_refuses_a_bad_workflow_file_with_its_line(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "main.yaml").write_text(
        "id: main\ntrigger: {event: call.incoming}\nstart: hi\n"
        "steps:\n  hi: {say: hello, next: bye}\n"
    )
    assert main(["serve", "--flows", str(flows)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"{flows / 'main.yaml'}:5 steps.hi.next: unknown step 'bye'"
    )


def test_the_demo_texts_the_address(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("2\n2\n"))
    assert main(["call", "--from", "+12025550143"]) == 0
    assert "We have also texted you the address." in capsys.readouterr().out

    assert main(["messages"]) == 0
    log = capsys.readouterr().out.splitlines()
    assert len(log) == 2, log
    assert "+12025550143" in log[1]
    assert "Acme: 1 Example Street, Springfield." in log[1]


def test_tokens_are_created_shown_once_listed_and_revoked(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "alice"]) == 0
    token = capsys.readouterr().out.splitlines()[0]
    assert token.startswith("rf_")
    assert len(token) == 46
    assert main(["token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "alice" in listed
    assert token not in listed
    with pytest.raises(SystemExit, match="exists already"):
        main(["token", "create", "alice"])
    assert main(["token", "revoke", "alice"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["token", "list"]) == 0
    assert "REVOKED" in capsys.readouterr().out
    assert main(["token", "create"]) == 2


def test_hours_shows_and_overrides_schedules(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = tmp_path / "flows"
    (flows / "schedules").mkdir(parents=True)
    (flows / "schedules" / "office.yaml").write_text(
        'timezone: Asia/Seoul\nweekly: {mon: ["09:00-18:00"]}\n'
    )
    assert main(["hours", "--flows", str(flows)]) == 0
    assert capsys.readouterr().out.startswith("office: ")
    assert main(["hours", "office", "open", "--flows", str(flows)]) == 0
    assert "open until" in capsys.readouterr().out
    assert main(["hours", "office", "auto", "--flows", str(flows)]) == 0
    assert "by a manual override" not in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no schedule 'ofice'"):
        main(["hours", "ofice", "--flows", str(flows)])


@pytest.fixture
async def sqlite_servers(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Servers on a SQLite file of the test's own."""
    factory = ServerFactory(f"sqlite:///{tmp_path / 'ringflow.db'}", tmp_path)
    yield factory
    await factory.stop()


# Another process that takes SQLite's write lock and keeps it (as a long `ringflow` command
# or a second server on the same file could).
HOLD_WRITE_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def incoming_call(number: int) -> dict[str, str]:
    return {"CallSid": f"CA{number:032x}", "From": "+15551230000", "To": "+15559870000"}


async def timed_health(
    session: aiohttp.ClientSession, server: RunningServer, path: str = "/healthz"
) -> float:
    started = time.perf_counter()
    async with session.get(server.base_url + path) as response:
        assert response.status == 200, await response.text()
    return time.perf_counter() - started


def answered_by_the_demo(reply: Reply) -> bool:
    return reply.status == 200 and "Thank you for calling Acme" in reply.text


async def test_health_answers_at_once_while_another_process_holds_the_write_lock(
    sqlite_servers: ServerFactory, tmp_path: Path
) -> None:
    server = await sqlite_servers.start()
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_WRITE_LOCK,
        str(tmp_path / "ringflow.db"),
        "3",
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert await holder.stdout.readline() == b"locked\n"
    locked_at = time.perf_counter()
    call = asyncio.create_task(signed_post(server, "/twilio/voice", incoming_call(1)))
    await asyncio.sleep(0.3)
    assert not call.done(), "the call's write waits for the lock"

    async with aiohttp.ClientSession() as session:
        answer_times = [
            await timed_health(session, server, path)
            for path in ("/healthz", "/readyz")
            for _ in range(3)
        ]
    # Alive, and ready too: the writer waits for the lock (bounded), it is not stuck.
    assert max(answer_times) < 0.05, answer_times
    assert time.perf_counter() - locked_at < 2, "answered while the lock was still held"
    assert not call.done()

    assert answered_by_the_demo(await call), "the waiting write committed after the lock"
    assert await holder.wait() == 0


class Meltdown(BaseException):
    """Not an ``Exception``: it ends the thread that runs it."""


async def test_a_dead_writer_fails_the_waiting_webhook_at_once_and_is_replaced(
    sqlite_servers: ServerFactory,
) -> None:
    # No job worker: its claims are writes too, and one queued behind the held write would
    # pass for the call's (CI failed so: the call's write then went to the new writer).
    server = await sqlite_servers.start(worker=False)
    gate, started = threading.Event(), threading.Event()

    def held(conn: Connection) -> None:
        started.set()
        gate.wait(10)

    def meltdown(conn: Connection) -> None:
        raise Meltdown

    async with asyncio.timeout(15):
        holding = asyncio.ensure_future(server.db.write(held))
        assert await asyncio.to_thread(started.wait, 5)
        call = asyncio.create_task(signed_post(server, "/twilio/voice", incoming_call(2)))
        database = server.db
        assert isinstance(database, SqliteDatabase)
        await eventually(lambda: database.queued_writes == 1, what="the call's write queued")
        dying = asyncio.ensure_future(server.db.write(meltdown))
        await asyncio.sleep(0)
        gate.set()
        await holding

        reply = await call
        assert reply.status == 200
        assert "We are sorry" in reply.text, "the caller hears the apology, not silence"
        with pytest.raises(Exception, match="writer died"):
            await dying

        async with aiohttp.ClientSession() as session:
            await timed_health(session, server)
            await timed_health(session, server, "/readyz")
        assert answered_by_the_demo(await signed_post(server, "/twilio/voice", incoming_call(3)))
    assert await server.count("calls") == 1


async def test_a_stuck_writer_makes_the_server_unready_but_it_stays_alive(
    sqlite_servers: ServerFactory,
) -> None:
    server = await sqlite_servers.start()
    database = server.db
    assert isinstance(database, SqliteDatabase)
    database._stall_after = 0.2  # not the 10 s of a real server: a short test
    gate, started = threading.Event(), threading.Event()

    def stuck(conn: Connection) -> None:
        started.set()
        gate.wait(10)

    holding = asyncio.ensure_future(database.write(stuck))
    try:
        assert await asyncio.to_thread(started.wait, 5)
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as session:
            assert await timed_health(session, server) < 0.05
            async with session.get(server.base_url + "/readyz") as response:
                assert response.status == 503
                problem = (await response.json())["checks"]["database"]
                assert problem.startswith("the database writer has been on one transaction")
    finally:
        gate.set()
        await holding
    async with aiohttp.ClientSession() as session:
        await timed_health(session, server, "/readyz")


async def test_sqlite_syncs_every_commit_by_default(sqlite_servers: ServerFactory) -> None:
    server = await sqlite_servers.start()

    def synchronous(conn: Connection) -> int:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

    assert await server.db.write(synchronous) == 2  # FULL
    assert await server.db.read(synchronous) == 2
