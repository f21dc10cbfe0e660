"""Text-to-speech benchmark: Ringflow's TtsPool against bare pyttsx3, interleaved in one run.

Per short prompt (an IVR sentence of 8-33 characters, en-US voice, written to a WAV file):

* ``baseline``: a bare pyttsx3 engine in a separate process (``multiprocessing`` "spawn"),
  started once for the whole run: ``save_to_file()`` + ``runAndWait()`` and the wait for the
  ``finished-utterance`` notification (``runAndWait()`` alone can return before the file
  exists). Timed inside that process around those calls only: the engine's own cost, the floor.
* ``pool (warm)``: ``await TtsPool.synthesize(...)`` on a pool started once for the whole run
  (2 workers), one prompt at a time, timed by the caller: validation, queue, the JSON-lines
  round trip to the worker process, the engine, the rename into place.
* ``cold start``: once per round, a new ``TtsPool(workers=2)``: ``start()`` (2 processes, each
  importing pyttsx3 and warming its engine up) and then the first prompt; and, in the
  baseline process's own start, ``pyttsx3.init()`` and its first prompt (once).

The machine is noisy, so rounds interleave the two (baseline prompts, then pool prompts, then
a cold start; again); each round's ratio is its pool median over its baseline median; the
summary gives the median of the rounds' medians and ratios, and p50/p99 over all timed prompts
pooled. Every WAV written is checked (16-bit mono 22050 Hz, 0.3-10 s); a bad one is an error.

Usage: ``python -m bench.tts [--rounds R] [--prompts N] [--no-check]``. The exit status is 1
when a prompt failed or, unless ``--no-check``, when the target (median warm pool prompt
<= 100 ms) does not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from prompts.tts import TtsError, TtsPool

PROMPTS = (
    "Thank you for calling Acme.",
    "For our opening hours, press 1.",
    "Please hold while we connect you.",
    "Our office is closed today.",
    "Goodbye.",
    "Sorry, I did not get that.",
    "To leave a message, press 2.",
    "Your call is important to us.",
)
LANGUAGE = "en-US"
VOICE = "gmw/en-us"
RATE = 175
WORKERS = 2
TARGET_MS = 100.0
MAX_ROUNDS = 100
MAX_PROMPTS = 10_000
CHILD_TIMEOUT_S = 30.0

BASELINE = "baseline (bare pyttsx3)"
POOL = "pool (warm)"


class BenchError(RuntimeError):
    """The benchmark could not run as planned."""


# --- the baseline process ----------------------------------------------------------------


def baseline_child(conn: Connection) -> None:
    """Child process: one bare pyttsx3 engine; ``(text, path)`` in, seconds out."""
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - "Audio saved to ..."
    started = time.perf_counter()
    import pyttsx3

    engine: Any = pyttsx3.init("espeak")
    engine.setProperty("voice", VOICE)
    engine.setProperty("rate", RATE)
    finished = threading.Event()

    def on_finished(name: str | None = None, completed: bool = True) -> None:
        if completed:
            finished.set()

    engine.connect("finished-utterance", on_finished)
    init_s = time.perf_counter() - started

    def speak(text: str, path: str) -> float:
        finished.clear()
        t0 = time.perf_counter()
        engine.save_to_file(text, path)
        engine.runAndWait()
        if not finished.wait(CHILD_TIMEOUT_S):
            raise BenchError("pyttsx3 never finished the utterance")
        return time.perf_counter() - t0

    conn.send(("ready", init_s, speak(PROMPTS[0], conn.recv())))
    while True:
        request = conn.recv()
        if request is None:
            return
        text, path = request
        try:
            conn.send(("ok", speak(text, path)))
        except Exception as error:
            conn.send(("error", repr(error)))


class Baseline:
    """The baseline process, driven over a pipe."""

    def __init__(self, folder: Path) -> None:
        import multiprocessing

        spawn = multiprocessing.get_context("spawn")
        self.conn, child = spawn.Pipe()
        self.proc = spawn.Process(target=baseline_child, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.conn.send(str(folder / "baseline-first.wav"))
        reply = self._recv()
        if reply[0] != "ready":
            raise BenchError(f"baseline did not start: {reply}")
        self.init_s = float(reply[1])
        self.first_s = float(reply[2])

    def _recv(self) -> tuple[Any, ...]:
        if not self.conn.poll(CHILD_TIMEOUT_S):
            raise BenchError("the baseline process did not answer")
        try:
            reply: tuple[Any, ...] = self.conn.recv()
        except EOFError:
            raise BenchError("the baseline process ended, see its errors above") from None
        return reply

    def speak(self, text: str, path: Path) -> float:
        self.conn.send((text, str(path)))
        reply = self._recv()
        if reply[0] != "ok":
            raise BenchError(f"baseline prompt failed: {reply[1]}")
        return float(reply[1])

    def close(self) -> None:
        if self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


# --- measuring ---------------------------------------------------------------------------


def wav_ok(path: Path) -> bool:
    """16-bit mono 22050 Hz and 0.3-10 s long."""
    try:
        with wave.open(str(path), "rb") as wav:
            seconds = wav.getnframes() / wav.getframerate()
            shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
    except (OSError, wave.Error, EOFError):
        return False
    return shape == (1, 2, 22050) and 0.3 <= seconds <= 10.0


@dataclass
class Phase:
    """One scenario in one round: the seconds per prompt, and the failures."""

    round: int
    scenario: str
    seconds: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000 if self.seconds else float("nan")


@dataclass
class Cold:
    """A new pool: ``start()`` and its first prompt."""

    start_s: float
    first_s: float


@dataclass
class Run:
    phases: list[Phase]
    colds: list[Cold]
    baseline_init_s: float
    baseline_first_s: float


def baseline_phase(base: Baseline, round_no: int, prompts: int, folder: Path) -> Phase:
    phase = Phase(round_no, BASELINE)
    for i in range(prompts):
        path = folder / f"base-{i % 4}.wav"
        try:
            phase.seconds.append(base.speak(PROMPTS[i % len(PROMPTS)], path))
        except BenchError as error:
            print(f"baseline: {error}", file=sys.stderr)
            phase.errors += 1
            continue
        if not wav_ok(path):
            phase.errors += 1
    return phase


async def pool_phase(pool: TtsPool, round_no: int, prompts: int, folder: Path) -> Phase:
    phase = Phase(round_no, POOL)
    for i in range(prompts):
        path = folder / f"pool-{i % 4}.wav"
        t0 = time.perf_counter()
        try:
            await pool.synthesize(PROMPTS[i % len(PROMPTS)], LANGUAGE, None, RATE, path)
        except TtsError as error:
            print(f"pool: {error}", file=sys.stderr)
            phase.errors += 1
            continue
        phase.seconds.append(time.perf_counter() - t0)
        if not wav_ok(path):
            phase.errors += 1
    return phase


async def cold_start(folder: Path) -> Cold:
    pool = TtsPool(workers=WORKERS)
    try:
        t0 = time.perf_counter()
        await pool.start()
        t1 = time.perf_counter()
        path = folder / "cold.wav"
        await pool.synthesize(PROMPTS[0], LANGUAGE, None, RATE, path)
        t2 = time.perf_counter()
    finally:
        await pool.close()
    if not wav_ok(path):
        raise BenchError("the cold pool's first prompt is not a valid WAV")
    return Cold(t1 - t0, t2 - t1)


async def bench(rounds: int, prompts: int, folder: Path) -> Run:
    base = Baseline(folder)
    try:
        async with TtsPool(workers=WORKERS) as pool:
            # Warm-up, untimed: a few prompts each.
            for i in range(8):
                base.speak(PROMPTS[i % len(PROMPTS)], folder / "warm-base.wav")
                await pool.synthesize(
                    PROMPTS[i % len(PROMPTS)], LANGUAGE, None, RATE, folder / "warm-pool.wav"
                )
            phases: list[Phase] = []
            colds: list[Cold] = []
            for r in range(1, rounds + 1):
                phases.append(baseline_phase(base, r, prompts, folder))
                phases.append(await pool_phase(pool, r, prompts, folder))
                colds.append(await cold_start(folder))
                print(f"round {r}/{rounds} done", file=sys.stderr)
        return Run(phases, colds, base.init_s, base.first_s)
    finally:
        base.close()


# --- report ------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def ratios(run: Run) -> list[float]:
    by_round: dict[int, dict[str, Phase]] = {}
    for phase in run.phases:
        by_round.setdefault(phase.round, {})[phase.scenario] = phase
    return [p[POOL].median_ms / p[BASELINE].median_ms for p in by_round.values()]


def median_pool_ms(run: Run) -> float:
    return statistics.median(p.median_ms for p in run.phases if p.scenario == POOL)


def report(run: Run, rounds: int, prompts: int, load: Sequence[Sequence[float]]) -> str:
    header = (
        f"{'round':<6}{'scenario':<26}{'prompts':>8}{'median ms':>11}{'vs base':>9}{'errors':>8}"
    )
    per_round = ratios(run)
    lines = [
        f"Ringflow TTS benchmark: {rounds} rounds x {prompts} prompts per scenario (one at a "
        f"time), pool of {WORKERS} workers, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}",
        "load average (1/5/15 min) before: "
        + " ".join(f"{x:.2f}" for x in load[0])
        + "; after: "
        + " ".join(f"{x:.2f}" for x in load[1]),
        "",
        header,
        "-" * len(header),
    ]
    for phase in run.phases:
        ratio = per_round[phase.round - 1] if phase.scenario == POOL else 1.0
        lines.append(
            f"{phase.round:<6}{phase.scenario:<26}{len(phase.seconds):>8}"
            f"{phase.median_ms:>11.1f}{ratio:>8.2f}x{phase.errors:>8}"
        )
    lines += ["", "summary: median of the rounds' medians; p50/p99 over all prompts pooled"]
    for scenario in (BASELINE, POOL):
        mine = [p for p in run.phases if p.scenario == scenario]
        pooled = [s * 1000 for p in mine for s in p.seconds]
        lines.append(
            f"  {scenario:<26} median {statistics.median(p.median_ms for p in mine):6.1f} ms"
            f" (rounds {min(p.median_ms for p in mine):.1f}-{max(p.median_ms for p in mine):.1f})"
            f"  p50 {percentile(pooled, 0.5):6.1f}  p99 {percentile(pooled, 0.99):6.1f} ms"
        )
    lines.append(
        f"  pool vs baseline: {statistics.median(per_round):.2f}x "
        f"(rounds {min(per_round):.2f}-{max(per_round):.2f})"
    )
    starts = [c.start_s * 1000 for c in run.colds]
    firsts = [c.first_s * 1000 for c in run.colds]
    lines += [
        f"cold pool ({len(run.colds)} new pools): start() median "
        f"{statistics.median(starts):.0f} ms ({min(starts):.0f}-{max(starts):.0f}); "
        "first prompt after start median "
        f"{statistics.median(firsts):.1f} ms ({min(firsts):.1f}-{max(firsts):.1f})",
        f"cold baseline (once): pyttsx3.init() {run.baseline_init_s * 1000:.0f} ms; first prompt "
        f"{run.baseline_first_s * 1000:.1f} ms",
        "target:",
        f"  [{'ok' if target_ok(run) else 'FAIL'}] median warm pool prompt "
        f"{median_pool_ms(run):.1f} ms <= {TARGET_MS:.0f} ms",
    ]
    return "\n".join(lines)


def target_ok(run: Run) -> bool:
    return median_pool_ms(run) <= TARGET_MS


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tts", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--prompts", type=int, default=100, help="prompts/scenario/round")
    parser.add_argument("--no-check", action="store_true", help="report only; exit 0")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be 1-{MAX_ROUNDS}")
    if not 1 <= args.prompts <= MAX_PROMPTS:
        parser.error(f"--prompts must be 1-{MAX_PROMPTS}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the report; the exit status says whether it passed."""
    args = parse_options(argv)
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="ringflow-tts-bench-") as folder:
            run = asyncio.run(bench(args.rounds, args.prompts, Path(folder)))
    except (BenchError, TtsError) as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(report(run, args.rounds, args.prompts, (load_before, os.getloadavg())))
    if any(p.errors for p in run.phases):
        return 1
    if not args.no_check and not target_ok(run):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
