"""The default hold music: made by ffmpeg at start, and never left running behind a server
that stops before it is done."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
from pathlib import Path

import pytest

from ivr.hold import generate_music
from tests.conftest import eventually

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


async def test_the_default_music_is_a_wav_of_the_length_asked() -> None:
    music = await generate_music(seconds=2)
    assert music is not None
    assert music[:4] == b"RIFF"
    assert music[8:12] == b"WAVE"
    assert 2 * 8000 * 2 <= len(music) < 2 * 8000 * 2 + 1024  # 8 kHz, 16-bit, mono + header


async def test_a_server_stopping_while_ffmpeg_works_leaves_no_process_behind() -> None:
    making = asyncio.create_task(generate_music(seconds=7200, limit=60))
    # Cancelled once ffmpeg runs (two hours of music take it seconds), however long a busy
    # machine takes to start it.
    await eventually(lambda: _ffmpeg_children() != [], what="ffmpeg started")
    assert not making.done(), f"ffmpeg ended before it was cancelled: {making.result()!r}"
    making.cancel()
    with pytest.raises(asyncio.CancelledError):
        await making
    assert _ffmpeg_children() == []
    gc.collect()  # and no transport of it left to warn when collected (warnings are errors)
    await asyncio.sleep(0)


def _ffmpeg_children() -> list[int]:
    """The ffmpeg processes this test process started that still run (or are unreaped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name, _, rest = stat.partition(") ")
        if name.endswith("(ffmpeg") and int(rest.split()[1]) == os.getpid():
            found.append(int(entry.name))
    return found
