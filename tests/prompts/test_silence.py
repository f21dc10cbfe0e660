"""Leading and trailing silence of uploads is trimmed (pydub finds it), with a margin, a cap
and a threshold judged after the gain, so speech is never cut: real speech from espeak-ng
(the server's own voice), silence around it added with ffmpeg, stored prompts measured."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from prompts.service import PromptService
from prompts.silence import KEEP_SECONDS, MAX_TRIM_SECONDS
from prompts.tts import TtsPool
from tests.prompts.media import stream_info, tone

TOLERANCE_S = 0.03


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence spoken by espeak-ng (16-bit mono WAV), as the recorded part of an upload."""
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    asyncio.run(_speak(path))
    return path


async def _speak(path: Path) -> None:
    async with TtsPool(workers=1) as tts:
        text = "Thank you for calling. Please hold, we will be with you shortly."
        await tts.synthesize(text, "en", None, None, path)


def with_silence(
    speech: Path, out: Path, before: float, after: float, volume_db: float = 0
) -> Path:
    """``speech`` with digital silence before and after it (and its level changed)."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(speech),
         "-af", f"volume={volume_db}dB,adelay={int(before * 1000)}:all=1,apad=pad_dur={after}",
         "-c:a", "pcm_s16le", str(out)],
        check=True,
    )  # fmt: skip
    return out


def seconds(path: Path) -> float:
    return float(stream_info(path)["duration"])


async def stored_seconds(service: PromptService, upload: Path) -> float:
    """The duration of the prompt stored from ``upload``: as recorded and as in its file."""
    prompt = await service.add_audio(upload, upload.name)
    media = await service.media(prompt.media_key, "wav")
    assert media is not None
    assert abs(seconds(media) - prompt.duration_ms / 1000) < 0.002
    return prompt.duration_ms / 1000


async def test_silence_around_a_recording_is_trimmed_to_the_margin(
    service: PromptService, speech: Path, tmp_path: Path
) -> None:
    bare = await stored_seconds(service, speech)
    padded = with_silence(speech, tmp_path / "padded.wav", before=2.0, after=2.5)
    assert seconds(padded) > bare + 4.4

    trimmed = await stored_seconds(service, padded)

    # Nothing of the speech went (it is at least as long as the recording without the added
    # silence, whose own short pauses are under the margin), and only the margins stayed.
    assert bare - TOLERANCE_S <= trimmed <= bare + 2 * KEEP_SECONDS + TOLERANCE_S


async def test_long_silence_is_trimmed_by_the_cap_at_most(
    service: PromptService, speech: Path, tmp_path: Path
) -> None:
    bare = await stored_seconds(service, speech)
    padded = with_silence(speech, tmp_path / "long.wav", before=8.0, after=9.0)

    trimmed = await stored_seconds(service, padded)

    # 3 s and 4 s of silence stay: the cap took 5 s from each end, then stopped.
    left = (8.0 - MAX_TRIM_SECONDS) + (9.0 - MAX_TRIM_SECONDS)
    assert bare + left - TOLERANCE_S <= trimmed <= bare + left + 2 * KEEP_SECONDS + TOLERANCE_S


async def test_quiet_speech_is_judged_after_the_gain_and_kept_whole(
    service: PromptService, speech: Path, tmp_path: Path
) -> None:
    bare = await stored_seconds(service, speech)
    quiet = with_silence(speech, tmp_path / "quiet.wav", before=1.0, after=1.0, volume_db=-20)

    trimmed = await stored_seconds(service, quiet)

    assert bare - TOLERANCE_S <= trimmed <= bare + 2 * KEEP_SECONDS + TOLERANCE_S


async def test_audio_without_silence_is_left_as_it_is(
    service: PromptService, tmp_path: Path
) -> None:
    assert await stored_seconds(service, tone(tmp_path, "tone.wav", 2.0)) == 2.0
