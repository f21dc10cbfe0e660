"""Hold queues and agents' legs on the voice channel.

- ``POST /twilio/voice/queue/wait`` is every queue's ``waitUrl``: the caller's place and an
  estimate ("You are number 3 in line; about 4 minutes.") and the keys when an announcement
  is due, then the hold music, while 1 (call me back) or 2 (voicemail) can be pressed; past
  the queue's maximum wait, ``<Leave/>`` with the queue's fallback. The queue requests it
  again each time the music ends, so announcements come every ``announce_every`` seconds or
  every piece of music, whichever is longer.
- ``POST /twilio/voice/queue/key``: the key a waiting caller pressed.
- ``POST /twilio/voice/agents/{agent}/status``: an agent leg's status (``answered``,
  ``completed``): presence follows the call (:mod:`workflows.people.presence`).
- ``GET /twilio/voice/queue/music.wav``: the default hold music, generated at start with
  ffmpeg (a quiet, slow arpeggio); without ffmpeg callers hear silence between
  announcements.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from ivr.media import Playback, with_media
from ivr.twiml import QUEUE_KEY_PATH, hold, leave
from ringflow.clock import Clock
from ringflow.database import Database
from workflows.callbacks.queued import leave_for_callback, wait_turn_or_callback
from workflows.instructions import Play
from workflows.people.presence import leg_answered, leg_ended
from workflows.people.queue import leave_queue as leave_entry

log = logging.getLogger(__name__)

MUSIC_PATH: Final = "/twilio/voice/queue/music.wav"
MUSIC_SECONDS: Final = 20
_ENDED: Final = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
CALLBACK_SAID: Final = "Thank you. We will call you back as soon as an agent is free."
VOICEMAIL_SAID: Final = "Please leave a message after the tone."


KEYS_SAID: Final = "Press 1 to be called back without losing your place, or 2 to leave a message."


def announcement(position: int, minutes: int) -> str:
    """What a waiting caller is told about their place, and the keys they may press (a key
    nobody announces is a key nobody presses)."""
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    return f"You are number {position} in line; about {wait}. {KEYS_SAID}"


async def generate_music(seconds: int = MUSIC_SECONDS, limit: float = 20) -> bytes | None:
    """Default hold music as 8 kHz mono 16-bit WAV from ffmpeg's tone generator, or None when
    ffmpeg is missing or fails."""
    notes = (262, 330, 392, 523, 392, 330)
    inputs: list[str] = []
    for note in notes:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency={note}:duration=0.5:sample_rate=8000"]
    graph = "".join(f"[{i}:a]" for i in range(len(notes)))
    graph += f"concat=n={len(notes)}:v=0:a=1,volume=0.25,aloop=loop=-1:size={8000 * 3},"
    graph += f"atrim=duration={seconds},afade=t=in:d=1,afade=t=out:st={seconds - 1}:d=1[out]"
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *inputs,
        "-filter_complex", graph, "-map", "[out]", "-ac", "1", "-ar", "8000",
        "-c:a", "pcm_s16le", "-f", "wav", "pipe:1",
    ]  # fmt: skip
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        log.warning("no default hold music (ffmpeg: %s); callers hear silence", error)
        return None
    try:
        async with asyncio.timeout(limit):
            out, err = await process.communicate()
    except TimeoutError:
        log.warning("no default hold music: ffmpeg took over %g s", limit)
        return None
    finally:
        # Timed out, or cancelled because the server stops before ffmpeg is done: never
        # leave it running (nor its pipes open) behind the server. Drain its pipes to the end
        # rather than only wait(): a pipe nobody reads is paused once its buffer fills, never
        # sees end-of-file, and wait() (which waits for the pipes to close) would hang forever.
        if process.returncode is None:
            process.kill()
            await process.communicate()
    if process.returncode != 0 or not out:
        log.warning("no default hold music: ffmpeg failed: %s", err.decode(errors="replace")[:200])
        return None
    return out


class HoldQueues:
    """The voice side of hold queues and presence (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        playback: Playback | None = None,
        media_base: str = "",
        music: bytes | None = None,
        events: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._playback = playback
        self._media_base = media_base
        self.music = music
        self._wake = events
        """Wakes the job worker (a queue may be served now)."""

    async def make_music(self, make: Callable[[], Awaitable[bytes | None]]) -> None:
        """Make the default hold music with ``make`` (see :func:`generate_music`)."""
        self.music = await make()

    async def wait(self, call_sid: str, base_url: str) -> str:
        """The next thing the waiting caller ``call_sid`` hears."""
        now = self._clock()
        turn = await self._db.write(lambda conn: wait_turn_or_callback(conn, call_sid, now))
        if turn is None:
            log.warning("call %s: asks for hold music but waits in no queue", call_sid)
            return leave()
        if turn.leave is not None and turn.status == "left":
            log.info("call %s: leaves the hold queue: %s", call_sid, turn.leave)
            return leave()
        said = None
        if turn.position is not None and turn.minutes is not None:
            said = announcement(turn.position, turn.minutes)
        music = await self._music_url(turn.hold_music, call_sid, base_url)
        return hold(said, music, base_url + QUEUE_KEY_PATH, MUSIC_SECONDS)

    async def key(self, call_sid: str, digits: str, base_url: str) -> str:
        """A waiting caller pressed ``digits``: 1 asks for a callback, 2 for voicemail;
        anything else goes back to the music."""
        now = self._clock()
        if digits == "1":
            if await self._db.write(lambda conn: leave_for_callback(conn, call_sid, now)):
                log.info("call %s: asked to be called back", call_sid)
                return leave(CALLBACK_SAID)
        elif digits == "2" and await self._db.write(
            lambda conn: leave_entry(conn, call_sid, "voicemail", now)
        ):
            return leave()
        return await self.wait(call_sid, base_url)

    async def agent_leg(self, agent: str, team: str | None, form: Mapping[str, str]) -> bool:
        """Apply an agent leg's status callback; whether it changed anything."""
        leg = form.get("CallSid", "").strip()
        call = form.get("ParentCallSid", "").strip()
        status = form.get("CallStatus", "").strip().lower()
        if not leg:
            return False
        now = self._clock()
        if status in _ENDED:
            changed = await self._db.write(lambda conn: leg_ended(conn, agent, leg, now))
            if changed and self._wake is not None:
                self._wake()  # the queue may be served now
            return bool(changed)
        if status == "in-progress" and call:
            answered: bool = await self._db.write(
                lambda conn: leg_answered(conn, agent, leg, call, team, now)
            )
            return answered
        return False

    async def _music_url(self, music: str | None, call_sid: str, base_url: str) -> str | None:
        if music is None:
            return base_url + MUSIC_PATH if self.music is not None else None
        if music.startswith("pr_") and self._playback is not None:
            played = await with_media((Play(music),), self._playback, self._media_base, call_sid)
            first = played[0] if played else None
            return first.url if isinstance(first, Play) else None
        return music
