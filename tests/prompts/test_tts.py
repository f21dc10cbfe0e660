"""TtsPool against the real espeak-ng engine (pyttsx3 workers), no mocks.

Audio differs by a few samples from run to run, so the checks are on the WAV header and the
duration, never on bytes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prompts.tts import (
    MAX_TEXT_CHARS,
    WORKER_SCRIPT,
    InvalidSpeech,
    SpeechFailed,
    SpeechTimedOut,
    TtsClosed,
    TtsError,
    TtsOverloaded,
    TtsPool,
    UnknownVoice,
)

ENGLISH = "Thank you for calling Acme. Our office is open from nine to five."
KOREAN = "안녕하세요, 링플로우입니다"


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        assert wav.getframerate() == 22050
        assert wav.getcomptype() == "NONE"
        return wav.getnframes() / wav.getframerate()


def worker_children() -> list[int]:
    """Live (or zombie) child processes of this process that run the TTS worker."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == me and (b"tts_worker" in cmdline or state == "Z"):
            found.append(int(entry.name))
    return found


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


async def live_workers(pool: TtsPool, count: int, within: float = 10.0) -> list[int]:
    """Wait until ``count`` workers are up (after a replacement) and return their pids."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pids = pool.worker_pids()
        if len(pids) == count:
            return pids
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {pool.worker_pids()} of {count} workers came up")


@pytest.fixture
async def pool() -> AsyncIterator[TtsPool]:
    tts = TtsPool(workers=2, timeout=10.0)
    await tts.start()
    try:
        yield tts
    finally:
        await tts.close()


@pytest.fixture
async def hook_pool() -> AsyncIterator[TtsPool]:
    tts = TtsPool(workers=2, timeout=2.0, allow_test_hooks=True)
    await tts.start()
    try:
        yield tts
    finally:
        await tts.close()


async def test_english_prompt(pool: TtsPool, tmp_path: Path) -> None:
    out = tmp_path / "hours.wav"
    await pool.synthesize(ENGLISH, "en-US", None, None, out)
    assert 1.5 <= wav_seconds(out) <= 10.0
    assert leftovers(tmp_path) == []


async def test_korean_prompt(pool: TtsPool, tmp_path: Path) -> None:
    out = tmp_path / "welcome-ko.wav"
    await pool.synthesize(KOREAN, "ko-KR", None, None, out)
    assert 0.5 <= wav_seconds(out) <= 10.0


async def test_language_tags_map_to_engine_voices(pool: TtsPool) -> None:
    assert pool.resolve_voice("en-US") == "gmw/en-us"
    assert pool.resolve_voice("en_us") == "gmw/en-us"
    assert pool.resolve_voice("en-GB") == "gmw/en"
    assert pool.resolve_voice("en") == "gmw/en"
    assert pool.resolve_voice("ko") == "ko"
    assert pool.resolve_voice("ko-KR") == "ko"
    assert pool.resolve_voice("en-US", "gmw/en-us-nyc") == "gmw/en-us-nyc"
    assert pool.resolve_voice("en", "GMW/EN-GB-X-RP") == "gmw/en-gb-x-rp"


async def test_explicit_voice_is_used(pool: TtsPool, tmp_path: Path) -> None:
    out = tmp_path / "rp.wav"
    await pool.synthesize("Good morning.", "en-GB", "gmw/en-gb-x-rp", None, out)
    assert 0.5 <= wav_seconds(out) <= 10.0


async def test_unknown_language_is_refused(pool: TtsPool, tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    with pytest.raises(UnknownVoice, match="no voice speaks 'xx'") as info:
        await pool.synthesize("Hello.", "xx", None, None, out)
    assert "ko" in info.value.available
    assert not out.exists()


async def test_unknown_voice_is_refused_with_the_language_voices(
    pool: TtsPool, tmp_path: Path
) -> None:
    out = tmp_path / "x.wav"
    with pytest.raises(UnknownVoice, match="no voice 'gmw/en-klingon'") as info:
        await pool.synthesize("Hello.", "en-US", "gmw/en-klingon", None, out)
    assert "gmw/en-us" in str(info.value)
    assert "gmw/en-us" in info.value.available
    assert "ko" not in info.value.available
    # A real voice of another language is refused too: it would read the text wrongly.
    with pytest.raises(UnknownVoice, match="voices for it: ko"):
        await pool.synthesize(KOREAN, "ko", "gmw/en-us", None, out)
    assert not out.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("text", "language", "rate", "message"),
    [
        ("", "en", None, "empty"),
        ("   \n", "en", None, "empty"),
        ("x" * (MAX_TEXT_CHARS + 1), "en", None, "at most"),
        ("bad\x00byte", "en", None, "control character"),
        ("Hello.", "en", 79, "rate"),
        ("Hello.", "en", 401, "rate"),
        ("Hello.", "english please", None, "language tag"),
    ],
)
async def test_invalid_requests_are_refused(
    pool: TtsPool, tmp_path: Path, text: str, language: str, rate: int | None, message: str
) -> None:
    with pytest.raises(InvalidSpeech, match=message):
        await pool.synthesize(text, language, None, rate, tmp_path / "x.wav")


async def test_rate_is_applied_on_every_job(tmp_path: Path) -> None:
    """Regression: a rate change still pending in espeak-ng was cancelled by pyttsx3's stop()."""
    async with TtsPool(workers=1) as tts:
        durations: dict[int, list[float]] = {80: [], 400: []}
        for i in range(8):
            rate = 80 if i % 2 else 400
            out = tmp_path / f"rate-{i}.wav"
            await tts.synthesize(ENGLISH, "en-US", None, rate, out)
            durations[rate].append(wav_seconds(out))
    assert min(durations[80]) > 3 * max(durations[400]), durations


async def test_twenty_concurrent_requests(pool: TtsPool, tmp_path: Path) -> None:
    outs = [tmp_path / f"n{i}.wav" for i in range(20)]
    await asyncio.gather(
        *(
            pool.synthesize(
                f"You are caller number {i}.", "ko" if i % 5 == 0 else "en", None, None, out
            )
            for i, out in enumerate(outs)
        )
    )
    for out in outs:
        assert 0.5 <= wav_seconds(out) <= 10.0
    assert leftovers(tmp_path) == []


async def test_full_queue_fails_fast(tmp_path: Path) -> None:
    tts = TtsPool(workers=1, timeout=5.0, max_queue=2, allow_test_hooks=True)
    await tts.start()
    try:
        hang = asyncio.create_task(tts.run_test_job("hang"))
        await asyncio.sleep(0)  # queued...
        for _ in range(500):  # ...and taken by the only worker
            if not tts.queued:
                break
            await asyncio.sleep(0.01)
        waiting = [
            asyncio.create_task(tts.synthesize("Hello.", "en", None, None, tmp_path / f"{i}.wav"))
            for i in range(2)
        ]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(TtsOverloaded, match="queue is full"):
            await tts.synthesize("Hello.", "en", None, None, tmp_path / "over.wav")
        assert time.monotonic() - started < 0.1
    finally:
        await tts.close()
    with pytest.raises(TtsClosed):
        await hang
    for task in waiting:
        with pytest.raises(TtsClosed):
            await task
    assert worker_children() == []


async def test_stuck_worker_times_out_and_is_replaced(hook_pool: TtsPool, tmp_path: Path) -> None:
    before = set(await live_workers(hook_pool, 2))
    started = time.monotonic()
    hang = asyncio.create_task(hook_pool.run_test_job("hang"))
    served = 0
    while not hang.done():
        await hook_pool.synthesize("Still here.", "en", None, None, tmp_path / f"s{served}.wav")
        served += 1
    with pytest.raises(SpeechTimedOut, match="within 2 s"):
        await hang
    elapsed = time.monotonic() - started
    assert hook_pool.timeout - 0.05 <= elapsed < hook_pool.timeout + 0.5
    assert served >= 5  # the other worker kept serving while one was stuck

    after = set(await live_workers(hook_pool, 2))
    assert len(after & before) == 1  # exactly one worker was replaced
    assert hook_pool.restarts == 1
    outs = [tmp_path / f"after{i}.wav" for i in range(4)]
    await asyncio.gather(
        *(hook_pool.synthesize("Back again.", "en-US", None, None, out) for out in outs)
    )
    for out in outs:
        assert 0.5 <= wav_seconds(out) <= 10.0
    assert leftovers(tmp_path) == []


async def test_crashed_worker_is_replaced(hook_pool: TtsPool, tmp_path: Path) -> None:
    before = set(await live_workers(hook_pool, 2))
    started = time.monotonic()
    with pytest.raises(SpeechFailed, match="crashed"):
        await hook_pool.run_test_job("crash")
    assert time.monotonic() - started < 1.0  # fails at once, not at the timeout
    after = set(await live_workers(hook_pool, 2))
    assert len(after & before) == 1
    await hook_pool.synthesize("Recovered.", "en", None, None, tmp_path / "ok.wav")
    assert wav_seconds(tmp_path / "ok.wav") >= 0.5


async def test_idle_worker_killed_from_outside_is_replaced(pool: TtsPool, tmp_path: Path) -> None:
    victim, survivor = await live_workers(pool, 2)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while victim in pool.worker_pids() or len(pool.worker_pids()) < 2:
        assert time.monotonic() < deadline, pool.worker_pids()
        await asyncio.sleep(0.02)
    assert survivor in pool.worker_pids()
    outs = [tmp_path / f"k{i}.wav" for i in range(4)]
    await asyncio.gather(*(pool.synthesize("Hello.", "en", None, None, out) for out in outs))
    assert all(wav_seconds(out) >= 0.5 for out in outs)


async def test_close_leaves_no_child_processes(tmp_path: Path) -> None:
    tts = TtsPool(workers=2)
    await tts.start()
    pids = tts.worker_pids()
    assert len(pids) == 2
    assert set(pids) <= set(worker_children())
    await tts.synthesize("Goodbye.", "en", None, None, tmp_path / "bye.wav")
    await tts.close()
    assert worker_children() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(TtsClosed):
        await tts.synthesize("Hello.", "en", None, None, tmp_path / "late.wav")
    await tts.close()  # twice is fine


async def test_test_hooks_are_off_by_default(pool: TtsPool) -> None:
    with pytest.raises(TtsError, match="allow_test_hooks"):
        await pool.run_test_job("hang")


async def test_worker_refuses_test_jobs_without_the_flag(tmp_path: Path) -> None:
    """The worker process itself only hangs or crashes on request when started for tests."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER_SCRIPT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 20,
    )
    requests = [
        {"id": 1, "op": "hang"},
        {"id": 2, "op": "crash"},
        {
            "id": 3,
            "op": "synth",
            "text": "Hi.",
            "voice": "gmw/en",
            "rate": 175,
            "path": str(tmp_path / "w.wav"),
        },
    ]
    body = b"".join(json.dumps(r).encode() + b"\n" for r in requests)
    out, _ = await asyncio.wait_for(proc.communicate(body), 20)
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["ready"] is True
    assert lines[1] == {"id": 1, "ok": False, "error": "unknown op 'hang'", "fatal": False}
    assert lines[2]["id"] == 2
    assert lines[2]["ok"] is False
    assert lines[3]["id"] == 3
    assert lines[3]["ok"] is True
    assert len(lines) == 4  # pyttsx3's "Audio saved to ..." never reaches the protocol
    assert proc.returncode == 0
