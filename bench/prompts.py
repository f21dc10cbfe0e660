"""Prompt benchmark: converting an upload, and a cached speech lookup.

Two scenarios, each measured against its target in the same run:

* **convert**: a 60 s MP3 (44.1 kHz stereo, 128 kbit/s, made with ffmpeg in a temporary folder)
  through the whole upload path, ``PromptService.add_audio`` (size check, sniff, ffprobe beside
  the first ffmpeg pass, loudness measured, second pass writing the PCM and mu-law WAVs,
  sha256, files placed, the row committed to SQLite), against the **bare ffmpeg commands doing
  the same conversion** (the same two passes, ``prompts.audio.pass_commands``, run one after the
  other with ``subprocess.run``, the gain parsed from the first). Rounds interleave the two
  (alternating which goes first); the summary is the median of each and the median of the
  rounds' ratios. Target: ratio <= 1.5.
* **cached speech**: ``add_speech`` of a text already in the speech cache (a tone-making fake
  engine, which must not be called again), ``--speech`` prompts one after another per round;
  per-prompt time = the round's time / prompts. Target: median <= 1 ms per prompt.

Usage: ``python -m bench.prompts [--rounds R] [--speech N] [--no-check]``. Exit status 1 when a
target does not hold (unless ``--no-check``) or the engine was called for a cached text.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from prompts.audio import gain_db, parse_loudness, pass_commands
from prompts.service import PromptService
from ringflow.clock import system_clock
from ringflow.database import Database, open_database
from ringflow.migrate import upgrade
from tests.prompts.fakes import ToneSynthesizer

CONVERT_RATIO_TARGET: Final = 1.5
CACHED_SPEECH_TARGET_MS: Final = 1.0
SECONDS: Final = 60
MAX_ROUNDS: Final = 100
SPEECH_TEXT: Final = "Thank you for calling. Please listen carefully as our options have changed."


def make_mp3(folder: Path) -> Path:
    """A 60 s MP3 like a typical upload: 44.1 kHz stereo, 128 kbit/s, a tone with some noise."""
    path = folder / "upload.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"sine=frequency=330:duration={SECONDS}:sample_rate=44100",
         "-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.05:duration={SECONDS}:r=44100",
         "-filter_complex", "amix=inputs=2:duration=shortest", "-ac", "2",
         "-c:a", "libmp3lame", "-b:a", "128k", str(path)],
        check=True,
    )  # fmt: skip
    return path


def bare_convert(source: Path, work: Path) -> float:
    """The same conversion as bare ffmpeg commands: seconds taken."""
    raw, pcm, ulaw = work / "bare.f32", work / "bare.wav", work / "bare.ulaw"
    started = time.perf_counter()
    first, _ = pass_commands(source, "mp3", raw, pcm, ulaw, gain=0.0, limit_seconds=601)
    measured = subprocess.run(first, check=True, capture_output=True)
    gain = gain_db(parse_loudness(measured.stderr.decode("utf-8", "replace")))
    _, second = pass_commands(source, "mp3", raw, pcm, ulaw, gain=gain, limit_seconds=None)
    subprocess.run(second, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    for path in (raw, pcm, ulaw):
        path.unlink()
    return elapsed


async def pipeline_convert(service: PromptService, source: Path) -> float:
    """``add_audio`` of ``source``: seconds taken."""
    started = time.perf_counter()
    await service.add_audio(source, "upload.mp3", "bench")
    return time.perf_counter() - started


async def cached_speech(service: PromptService, count: int) -> float:
    """Milliseconds per ``add_speech`` of a cached text, over ``count`` prompts."""
    started = time.perf_counter()
    for _ in range(count):
        await service.add_speech(SPEECH_TEXT, "en", "en", 150, "bench")
    return (time.perf_counter() - started) * 1000 / count


async def run(
    rounds: int, speech: int
) -> tuple[list[tuple[float, float, float]], list[float], int]:
    """Per round (bare s, pipeline s, ratio); per round cached-speech ms; engine calls."""
    with tempfile.TemporaryDirectory(prefix="ringflow-bench-prompts-") as tmp:
        folder = Path(tmp)
        source = make_mp3(folder)
        db: Database = await open_database(f"sqlite:///{folder / 'bench.db'}")
        try:
            await upgrade(db)
            engine = ToneSynthesizer()
            service = PromptService(
                db,
                folder / "data",
                engine,
                max_bytes=10 << 20,
                min_seconds=0.3,
                max_seconds=600,
                clock=system_clock,
            )
            work = folder / "bare"
            work.mkdir()
            bare_convert(source, work)  # warm-up: page cache, ffmpeg's libraries
            await pipeline_convert(service, source)
            await service.add_speech(SPEECH_TEXT, "en", "en", 150, "bench")  # fills the cache
            await cached_speech(service, 20)
            converts: list[tuple[float, float, float]] = []
            lookups: list[float] = []
            for index in range(rounds):
                if index % 2:
                    piped = await pipeline_convert(service, source)
                    bare = bare_convert(source, work)
                else:
                    bare = bare_convert(source, work)
                    piped = await pipeline_convert(service, source)
                converts.append((bare, piped, piped / bare))
                lookups.append(await cached_speech(service, speech))
                print(
                    f"round {index + 1}: bare {bare * 1000:.0f} ms, pipeline {piped * 1000:.0f} ms "
                    f"({piped / bare:.2f}x), cached speech {lookups[-1]:.3f} ms/prompt",
                    file=sys.stderr,
                )
            await service.close()
            return converts, lookups, len(engine.calls)
        finally:
            await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument(
        "--speech", type=int, default=500, help="cached add_speech calls per round (default 500)"
    )
    parser.add_argument("--no-check", action="store_true", help="report only")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= MAX_ROUNDS or not 1 <= args.speech <= 100_000:
        parser.error(f"--rounds must be 1-{MAX_ROUNDS} and --speech 1-100000")
    converts, lookups, calls = asyncio.run(run(args.rounds, args.speech))
    bare = statistics.median(c[0] for c in converts)
    piped = statistics.median(c[1] for c in converts)
    ratios = [c[2] for c in converts]
    ratio = statistics.median(ratios)
    lookup = statistics.median(lookups)
    print(f"Python {platform.python_version()}, {platform.machine()}, {args.rounds} rounds")
    print(f"{'scenario':<34}{'median':>12}{'min-max':>20}{'target':>12}")
    print(f"{'convert 60 s MP3: bare ffmpeg':<34}{bare * 1000:>9.0f} ms")
    print(f"{'convert 60 s MP3: add_audio':<34}{piped * 1000:>9.0f} ms")
    print(
        f"{'  ratio to bare ffmpeg':<34}{ratio:>11.2f}x"
        f"{f'{min(ratios):.2f}-{max(ratios):.2f}x':>20}{f'<= {CONVERT_RATIO_TARGET}x':>12}"
    )
    print(
        f"{'cached speech lookup':<34}{lookup:>9.3f} ms"
        f"{f'{min(lookups):.3f}-{max(lookups):.3f}':>20}{f'<= {CACHED_SPEECH_TARGET_MS} ms':>12}"
    )
    failures = []
    if calls != 1:
        failures.append(f"the speech engine was called {calls} times for one text")
    if ratio > CONVERT_RATIO_TARGET:
        failures.append(f"conversion ratio {ratio:.2f}x > {CONVERT_RATIO_TARGET}x")
    if lookup > CACHED_SPEECH_TARGET_MS:
        failures.append(f"cached speech {lookup:.3f} ms > {CACHED_SPEECH_TARGET_MS} ms")
    for failure in failures:
        print(f"FAILED: {failure}")
    if calls != 1:
        return 1
    return 1 if failures and not args.no_check else 0


if __name__ == "__main__":
    sys.exit(main())
