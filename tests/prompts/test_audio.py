"""Checks and conversion of uploads: real files made by ffmpeg, outputs checked by ffprobe."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from pathlib import Path

import pytest

from prompts import audio
from prompts.audio import (
    Converted,
    Loudness,
    ToolTimedOut,
    check_wav,
    gain_db,
    prepare_upload,
    run_tool,
    sniff,
)
from prompts.errors import AudioTooLarge, AudioTooLong, AudioTooShort, InvalidAudio
from tests.prompts.media import mean_volume_db, stream_info, tone


def make_folder(path: Path) -> None:
    path.mkdir(exist_ok=True)


async def prepare(
    path: Path,
    work: Path,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    min_seconds: float = 0.3,
    max_seconds: float = 600,
) -> Converted:
    make_folder(work)
    return await prepare_upload(
        path,
        work,
        max_bytes=max_bytes,
        min_seconds=min_seconds,
        max_seconds=max_seconds,
        time_limit=30,
        probe_limit=10,
    )


@pytest.mark.parametrize("name", ["tone.mp3", "tone.ogg", "tone.wav", "tone.m4a"])
async def test_each_format_becomes_8khz_mono_pcm_and_mulaw(tmp_path: Path, name: str) -> None:
    source = tone(tmp_path, name, 2.0)
    converted = await prepare(source, tmp_path / "work")
    assert converted.original_format == name.split(".")[1]
    pcm, ulaw = stream_info(converted.pcm), stream_info(converted.ulaw)
    assert (pcm["codec"], pcm["sample_rate"], pcm["channels"]) == ("pcm_s16le", "8000", "1")
    assert (ulaw["codec"], ulaw["sample_rate"], ulaw["channels"]) == ("pcm_mulaw", "8000", "1")
    assert pcm["format"] == ulaw["format"] == "wav"
    assert 1950 <= converted.duration_ms <= 2100  # encoders pad a little
    assert converted.size_bytes == converted.pcm.stat().st_size
    assert float(pcm["duration"]) == pytest.approx(converted.duration_ms / 1000, abs=0.01)


async def test_the_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    source = tone(tmp_path, "tone.mp3", 1.0)
    first = await prepare(source, tmp_path / "work")
    second = await prepare(source, tmp_path / "work")
    assert first.digest == second.digest
    assert first.pcm != second.pcm
    assert first.ulaw.read_bytes() == second.ulaw.read_bytes()


async def test_loudness_is_normalised(tmp_path: Path) -> None:
    # ffmpeg's sine is at -18 dBFS (amplitude 1/8): these are ~-33 and ~-8 dBFS
    quiet = tone(tmp_path, "quiet.wav", 2.0, volume_db=-15)
    loud = tone(tmp_path, "loud.wav", 2.0, frequency=600, volume_db=10)
    quiet_out = await prepare(quiet, tmp_path / "work")
    loud_out = await prepare(loud, tmp_path / "work")
    assert mean_volume_db(loud) - mean_volume_db(quiet) > 20
    # both end up near the same level, whatever they started at
    assert abs(mean_volume_db(quiet_out.pcm) - mean_volume_db(loud_out.pcm)) < 3
    assert quiet_out.gain_db > 10
    assert loud_out.gain_db < 0


def test_gain_stays_under_the_peak_ceiling_and_the_maximum() -> None:
    assert gain_db(Loudness(-30.0, -20.0)) == pytest.approx(12.0)
    assert gain_db(Loudness(-30.0, -3.0)) == pytest.approx(audio.PEAK_CEILING_DBFS + 3.0)
    assert gain_db(Loudness(-55.0, -50.0)) == audio.MAX_GAIN_DB
    assert gain_db(Loudness(-70.0, -math.inf)) == 0.0
    assert gain_db(Loudness(-math.inf, -math.inf)) == 0.0


def test_formats_are_sniffed_from_the_bytes() -> None:
    assert sniff(b"RIFF\x24\x00\x00\x00WAVEfmt ") == "wav"
    assert sniff(b"ID3\x04\x00") == "mp3"
    assert sniff(b"\xff\xfb\x90\x64" + b"\x00" * 8) == "mp3"
    assert sniff(b"OggS\x00\x02") == "ogg"
    assert sniff(b"\x00\x00\x00\x1cftypM4A ") == "m4a"
    with pytest.raises(InvalidAudio, match="unsupported format: use WAV, MP3, OGG or M4A"):
        sniff(b"\xff\xf1\x50\x80" + b"\x00" * 8)  # AAC in ADTS: not one we take
    with pytest.raises(InvalidAudio, match="unsupported format"):
        sniff(b"\x89PNG\r\n\x1a\n\x00\x00")


async def test_a_text_file_named_wav_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "greeting.wav"
    fake.write_text("Hello, thanks for calling!\nPress 1 for sales.\n")
    with pytest.raises(InvalidAudio) as caught:
        await prepare(fake, tmp_path / "work")
    assert caught.value.reason == "not an audio file (it looks like text)"


async def test_a_truncated_wav_is_refused(tmp_path: Path) -> None:
    whole = tone(tmp_path, "whole.wav", 2.0).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InvalidAudio) as caught:
        await prepare(cut, tmp_path / "work")
    assert caught.value.reason == "the WAV file is truncated"
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(whole[:30])
    with pytest.raises(InvalidAudio, match="the WAV file is truncated"):
        check_wav(header_only)


async def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(InvalidAudio) as caught:
        await prepare(empty, tmp_path / "work")
    assert caught.value.reason == "empty file"


async def test_an_oversized_file_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tone(tmp_path, "big.wav", 2.0)

    async def no_tools(args: list[str], time_limit: float) -> tuple[int, bytes, bytes]:
        raise AssertionError(f"{args[0]} ran")

    monkeypatch.setattr(audio, "run_tool", no_tools)
    with pytest.raises(AudioTooLarge) as caught:
        await prepare(big, tmp_path / "work", max_bytes=100_000)
    assert "too large" in caught.value.reason
    assert "limit is 0.1 MiB" in caught.value.reason


async def test_too_short_and_too_long_audio_are_refused(tmp_path: Path) -> None:
    short = tone(tmp_path, "short.mp3", 0.1)
    with pytest.raises(AudioTooShort) as too_short:
        await prepare(short, tmp_path / "work", min_seconds=0.5)
    assert "it must last at least 0.5 s" in too_short.value.reason
    long = tone(tmp_path, "long.ogg", 4.0)
    with pytest.raises(AudioTooLong) as too_long:
        await prepare(long, tmp_path / "work", max_seconds=3.5)
    assert "it may last at most 3.5 s" in too_long.value.reason
    far_too_long = tone(tmp_path, "longer.wav", 12.0)
    with pytest.raises(AudioTooLong, match="at most 3 s"):
        await prepare(far_too_long, tmp_path / "work", max_seconds=3)
    assert list((tmp_path / "work").iterdir()) == []  # nothing left behind


async def test_an_undecodable_file_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "noise.mp3"
    garbage.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40)
    with pytest.raises(InvalidAudio, match=r"could not be decoded|holds no audio"):
        await prepare(garbage, tmp_path / "work")


async def test_a_tool_past_its_time_is_killed(tmp_path: Path) -> None:
    marker = tmp_path / "alive"
    started = time.monotonic()
    script = f"import time, pathlib; time.sleep(0.5); pathlib.Path({str(marker)!r}).touch()"
    with pytest.raises(ToolTimedOut):
        await run_tool([sys.executable, "-c", script], 0.1)
    assert time.monotonic() - started < 0.4
    await asyncio.sleep(0.6)
    assert not marker.exists()  # killed, not left running


async def test_a_cancelled_caller_leaves_no_tool_running(tmp_path: Path) -> None:
    marker = tmp_path / "alive"
    script = f"import time, pathlib; time.sleep(0.5); pathlib.Path({str(marker)!r}).touch()"
    running = asyncio.create_task(run_tool([sys.executable, "-c", script], 10))
    await asyncio.sleep(0.2)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await asyncio.sleep(0.6)
    assert not marker.exists()


async def test_a_tool_that_floods_its_output_is_still_ended_on_time() -> None:
    # Its unread output fills the pipe: ending it must not wait for an end-of-file that a
    # paused pipe never sees (this used to hang the caller for good).
    script = "import sys\nwhile True: sys.stdout.buffer.write(b'x' * 65536)"
    started = time.monotonic()
    with pytest.raises(ToolTimedOut):
        await asyncio.wait_for(run_tool([sys.executable, "-c", script], 0.3), 20)
    assert time.monotonic() - started < 5
