"""Server processes of the webhook benchmark: commands pinned to one CPU, on a loopback port.

Each server is a command of its own (``python -m server serve`` for Ringflow, exactly what
``ringflow serve`` runs; ``python -m bench.baselines`` for the baselines), started with this
process's CPU affinity set to the server's CPU for the moment of the start, so that it and
every thread it ever makes stay on that CPU (a child inherits its parent thread's affinity).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from bench.harness import HOST, STARTUP_TIMEOUT_S, STOP_TIMEOUT_S, BenchError, Server

ROOT = Path(__file__).resolve().parents[1]
"""The project folder: servers run from it, so ``server`` and ``bench`` import from here."""
FOREIGN_SETTINGS = ("RINGFLOW_", "TWILIO_")
"""Prefixes of environment variables the caller may have set that must not reach a server."""


def usable_cpus() -> set[int]:
    """The CPUs this process may run on."""
    return set(os.sched_getaffinity(0))


def check_cpus(server_cpu: int, load_cpu: int) -> None:
    """BenchError unless the two CPUs differ and this process may use both."""
    cpus = usable_cpus()
    if server_cpu == load_cpu:
        raise BenchError(f"the server and the load need different CPUs (both are {server_cpu})")
    missing = sorted({server_cpu, load_cpu} - cpus)
    if missing:
        raise BenchError(
            f"CPU {', '.join(map(str, missing))} is not available here (usable: "
            f"{', '.join(map(str, sorted(cpus)))}); choose with --server-cpu / --load-cpu"
        )


def set_niceness(nice: int) -> None:
    """This thread's niceness, which the processes it starts inherit (wrk, the servers);
    BenchError when it may not be lowered (below 0 needs root)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        raise BenchError(f"may not set niceness {nice} (below 0 needs root)") from None


def set_session_niceness(pid: int, nice: int) -> None:
    """Niceness ``nice`` for the session that process ``pid`` leads, where the kernel
    schedules sessions as groups (autogroup, /proc/<pid>/autogroup): there a process's own
    niceness counts only against processes of its session, and other sessions (other people's
    test runs) get their share of the CPU whatever it is. Nothing to do without autogroup."""
    group = Path(f"/proc/{pid}/autogroup")
    if not group.exists():
        return
    try:
        group.write_text(f"{nice}\n")
    except PermissionError:
        raise BenchError(f"may not set niceness {nice} (below 0 needs root)") from None


@contextlib.contextmanager
def running_on(cpu: int) -> Iterator[None]:
    """This thread on ``cpu`` only, for the block (processes started meanwhile inherit it)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without the caller's Ringflow/Twilio settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(FOREIGN_SETTINGS)
    }
    env.update(extra)
    return env


def python_command(*args: str) -> list[str]:
    """``args`` run by this Python (the project's virtual environment)."""
    return [sys.executable, *args]


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_listening(proc: subprocess.Popen[bytes], name: str, port: int, log: Path) -> None:
    """Return once ``port`` accepts connections; BenchError if the process dies or is slow."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(
                f"{name}: exited with status {proc.returncode} on start-up; its log:\n{_tail(log)}"
            )
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1.0):
            return
        time.sleep(0.05)
    raise BenchError(f"{name}: not listening after {STARTUP_TIMEOUT_S:.0f} s; log:\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean shutdown, which also writes a profile), SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)


@contextlib.contextmanager
def pinned_server(
    name: str,
    command: Sequence[str],
    env: Mapping[str, str],
    port: int,
    cpu: int | None,
    log: Path,
    nice: int = 0,
) -> Iterator[Server]:
    """Run ``command`` (which listens on ``port`` of 127.0.0.1) on ``cpu`` (None: wherever
    the kernel puts it), in a session of its own (at niceness ``nice`` when not 0), its output
    in ``log``, until the block ends; BenchError when it does not come up or is not pinned."""
    pinning = contextlib.nullcontext() if cpu is None else running_on(cpu)
    with log.open("wb") as out, pinning:
        proc = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if nice:
            set_session_niceness(proc.pid, nice)
        _wait_listening(proc, name, port, log)
        pinned = os.sched_getaffinity(proc.pid)
        if cpu is not None and pinned != {cpu}:
            raise BenchError(f"{name}: runs on CPUs {sorted(pinned)}, not only on CPU {cpu}")
        yield Server(name, proc.pid, f"http://{HOST}:{port}")
    finally:
        _stop(proc)


@contextlib.contextmanager
def background_process(
    name: str, command: Sequence[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (one that listens on no port, e.g. ``ringflow worker``) in a session of
    its own, its output in ``log``, until the block ends; BenchError if it exits early."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
        if proc.poll() is not None:
            raise BenchError(f"{name}: exited with status {proc.returncode}; log:\n{_tail(log)}")
    finally:
        _stop(proc)
