"""A speech engine for tests: real WAV audio (an ffmpeg sine tone), no espeak-ng."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from pathlib import Path

from prompts.errors import SpeechFailed, UnknownVoice


class ToneSynthesizer:
    """ "Says" a text as a tone whose pitch depends on the text and whose length on its
    length (22,050 Hz mono 16-bit PCM, like pyttsx3); counts the calls. Each synthesis takes
    ``delay`` seconds, or until :meth:`release` (a slow engine the test can let finish)."""

    def __init__(self, delay: float = 0.0, voices: tuple[str, ...] = ("en", "ko")) -> None:
        self.calls: list[str] = []
        self.delay = delay
        self.voices = voices
        self._released = asyncio.Event()

    def release(self) -> None:
        """End the delay of the syntheses under way and of every later one."""
        self._released.set()

    async def synthesize(
        self, text: str, language: str, voice: str | None, rate: int | None, out_path: Path
    ) -> None:
        self.calls.append(text)
        if voice is not None and voice not in self.voices:
            raise UnknownVoice(f"no voice {voice!r}", self.voices)
        if self.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self.delay)
        pitch = 300 + int(hashlib.sha256(text.encode()).hexdigest()[:4], 16) % 600
        seconds = max(0.5, 0.05 * len(text)) * (150 / (rate or 150))
        process = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
            "-i", f"sine=frequency={pitch}:duration={seconds:.3f}:sample_rate=22050",
            "-c:a", "pcm_s16le", "-ac", "1", str(out_path),
        )  # fmt: skip
        if await process.wait() != 0:
            raise SpeechFailed("ffmpeg could not make the tone")
