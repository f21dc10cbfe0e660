"""Load from wrk (a C load generator): each pre-signed request sent once, figures as JSON.

The Python side writes the requests to a file (:func:`write_requests`); ``bench/webhooks.lua``
makes wrk send each exactly once on ``connections`` keep-alive connections, check every
answer, and stop when the last one is in (:func:`run_wrk`). wrk itself would sleep out its
``-d`` duration even then, so this module sends it SIGINT on the script's "all answered" line;
``-d`` stays as the upper bound of a phase that does not finish.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import BenchError, Job
from bench.processes import set_session_niceness

SCRIPT = Path(__file__).with_name("webhooks.lua")
ALL_ANSWERED = "ringflow-bench: all answered"
RESULT = "ringflow-bench: result "
INSTALL_HINT = (
    "wrk (a C HTTP load generator) is not installed: on Debian/Ubuntu `apt-get install wrk` "
    "(as root; `./run bench webhooks` does it), elsewhere see https://github.com/wg/wrk"
)
SIGINT_RETRIES = 5
"""SIGINTs sent, a second apart, should wrk not stop on the first (it ignores SIGINT for the
first moments of its start-up)."""


def find_wrk() -> str:
    """The wrk executable; BenchError saying how to install it when there is none."""
    found = shutil.which("wrk")
    if found is None:
        raise BenchError(INSTALL_HINT)
    return found


def wrk_version(wrk: str) -> str:
    """wrk's version line (``wrk -v`` prints it, then its usage, and exits 1)."""
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
    lines = (done.stdout + done.stderr).splitlines()
    return lines[0].strip() if lines else "wrk (version unknown)"


def _field(value: str, what: str) -> str:
    if "\t" in value or "\n" in value or "\r" in value:
        raise ValueError(f"{what} must not contain tabs or line breaks: {value[:80]!r}")
    return value


def request_lines(jobs: Iterable[Job], rejects: Sequence[str] = ()) -> Iterable[str]:
    """The lines of a requests file (see ``bench/webhooks.lua``) for ``jobs``."""
    for text in rejects:
        yield f"reject\t{_field(text, 'a reject text')}\n"
    for job in jobs:
        url = urlsplit(job.url)
        target = url.path + (f"?{url.query}" if url.query else "")
        signature = job.headers.get("X-Twilio-Signature", "")
        body = job.body.decode()
        fields = (
            _field(target, "a path"),
            _field(signature, "a signature"),
            _field(body, "a body"),
        )
        yield "post\t" + "\t".join(fields) + "\n"


def write_requests(path: Path, jobs: Sequence[Job], rejects: Sequence[str] = ()) -> Path:
    """Write ``jobs`` (each sent once, in order) and the ``rejects`` texts to ``path``."""
    if not jobs:
        raise ValueError("no requests to write")
    with path.open("w", encoding="utf-8") as out:
        out.writelines(request_lines(jobs, rejects))
    return path


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one wrk run reported (latencies in µs, from wrk's own histogram)."""

    duration_s: float
    completed: int
    sent: int
    answered: int
    bad: int
    first_bad: str
    socket_errors: int
    timeouts: int
    status_errors: int
    latency_us: tuple[tuple[int, int], ...]
    """wrk's latency histogram: (µs, how many), ascending."""
    wrk_cpu_s: float
    """wrk's own CPU time from the moment its script had read the requests file."""

    @property
    def rps(self) -> float:
        """Answered requests per second of the run."""
        return self.answered / self.duration_s if self.duration_s else 0.0

    def errors(self, expected: int) -> int:
        """Requests that did not get a good answer, of the ``expected`` in the file."""
        return self.bad + max(0, expected - self.answered)


def parse_result(output: str) -> WrkResult:
    """The result line the script's ``done()`` printed; BenchError when there is none."""
    for line in output.splitlines():
        if line.startswith(RESULT):
            data = json.loads(line.removeprefix(RESULT))
            return WrkResult(
                duration_s=data["duration_us"] / 1e6,
                completed=int(data["completed"]),
                sent=int(data["sent"]),
                answered=int(data["answered"]),
                bad=int(data["bad"]),
                first_bad=str(data["first_bad"]),
                socket_errors=int(data["socket_errors"]),
                timeouts=int(data["timeouts"]),
                status_errors=int(data["status_errors"]),
                latency_us=tuple((int(value), int(count)) for value, count in data["latency_us"]),
                wrk_cpu_s=float(data["wrk_cpu_s"]),
            )
    raise BenchError(f"wrk printed no result; its output:\n{output[-2000:]}")


def histogram_percentile(histogram: Iterable[tuple[int, int]], fraction: float) -> int:
    """Nearest-rank percentile of a (value, count) histogram; 0 when it is empty."""
    merged: dict[int, int] = {}
    for value, count in histogram:
        merged[value] = merged.get(value, 0) + count
    total = sum(merged.values())
    if not total:
        return 0
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for value in sorted(merged):
        seen += merged[value]
        if seen >= rank:
            return value
    return max(merged)


def run_wrk(
    wrk: str,
    base_url: str,
    requests_file: Path,
    connections: int,
    limit_s: float,
    nice: int = 0,
    pace_ms: int = 0,
) -> WrkResult:
    """Send every request of ``requests_file`` to ``base_url`` once, ``connections`` at a time,
    one wrk thread (on this process's CPUs; its session at niceness ``nice`` when not 0),
    stopping after ``limit_s`` seconds at the latest; each connection waits ``pace_ms``
    before each of its requests (0: full speed)."""
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{math.ceil(limit_s)}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(SCRIPT),
        base_url,
        "--",
        str(requests_file),
        str(pace_ms),
    ]
    output = []
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    ) as proc:
        if nice:
            set_session_niceness(proc.pid, nice)
        # wrk ends by itself after -d; this only guards against a wrk that hangs.
        watchdog = threading.Timer(limit_s + 30, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                output.append(line)
                if line.startswith(ALL_ANSWERED):
                    threading.Thread(target=_interrupt, args=(proc,), daemon=True).start()
            proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
    text = "".join(output)
    if proc.returncode != 0:
        raise BenchError(f"wrk exited with status {proc.returncode}:\n{text[-2000:]}")
    return parse_result(text)


def _interrupt(proc: subprocess.Popen[str]) -> None:
    """SIGINT wrk (it then stops sleeping out -d), again each second until it has ended."""
    for _ in range(SIGINT_RETRIES):
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=1.0)
            return
        except subprocess.TimeoutExpired:
            continue
