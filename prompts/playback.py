"""Where a call's audio is: a prompt's public address, and text the server speaks itself.

The voice channel (``ivr.service.VoiceService``) asks :class:`PromptPlayback` for
``play: pr_...`` (a prompt id) and ``say: {render: server}`` (text spoken with the server's
voice). Answers are remembered for a short while: a prompt's address changes when it is
replaced (its audio is cached for a year under the old address), and a turn on the webhook
path should not wait for the database every time.

**A caller never waits for speech.** Synthesis takes from a fraction of a second to the
speech engine's time limit, far more than a turn may take, so it never runs on a caller's
turn: :meth:`PromptPlayback.prepare` synthesises a workflow's server-spoken texts in the
background when it is published or installed and when the server starts, and
:meth:`PromptPlayback.speech_path` only says whether the audio is ready. When it is not, the
turn falls back to Twilio's ``<Say>`` and the synthesis is started (or left to finish).
The background syntheses are tasks this object owns, a few at a time; :meth:`close` (the
server's cleanup) ends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from prompts.errors import PromptError, PromptNotFound
from prompts.service import PromptService, media_path

log = logging.getLogger(__name__)

REMEMBER_FOR = 10.0
"""Seconds a prompt's address is reused before it is read again. On PostgreSQL every process
forgets the addresses at once when a prompt is replaced or deleted (:meth:`PromptPlayback.forget`,
subscribed to the ``prompts`` change topic); on SQLite a replaced prompt's new audio is heard
within this long."""
RETRY_FAILED_AFTER = 60.0
"""Seconds before a text the engine could not speak is tried again (turns meanwhile use
Twilio's voice without asking the engine each time)."""
SYNTHESES_AT_ONCE = 2
"""Background syntheses under way at once (the speech engine has two workers)."""

Speech = tuple[str, str]
"""``(text, language)`` of a ``say`` the server speaks."""


class PromptPlayback:
    """Public paths (``/media/prompts/<key>.wav``) of prompts and of server-spoken text."""

    def __init__(
        self,
        service: PromptService,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = 4096,
    ) -> None:
        self._service = service
        self._clock = clock
        self._capacity = capacity
        self._known: OrderedDict[tuple[str, str], tuple[str | None, float]] = OrderedDict()
        self._preparing: dict[Speech, asyncio.Task[None]] = {}
        self._failed: dict[Speech, float] = {}
        self._slots = asyncio.Semaphore(SYNTHESES_AT_ONCE)
        self._closed = False

    async def prompt_path(self, prompt_id: str) -> str | None:
        """The prompt's audio path, or None when there is no such prompt."""
        return await self._remembered(("prompt", prompt_id), lambda: self._prompt(prompt_id))

    async def speech_path(self, text: str, language: str) -> str | None:
        """The audio path of ``text`` spoken by the server if it is ready; None when it is
        not (its synthesis is then under way in the background) or cannot be spoken."""
        key = (language, text)
        known = self._known.get(key)
        if known is not None and known[1] > self._clock():
            self._known.move_to_end(key)
            return known[0]
        if key in self._preparing or self._failed_lately(key):
            return None
        path = await self._ready(text, language)
        if path is None:
            self._start(key)
            return None
        self._remember(key, path)
        return path

    def prepare(self, speeches: Iterable[Speech]) -> None:
        """Synthesise each ``(text, language)`` in the background unless its audio is known
        or already being made; returns at once."""
        for text, language in speeches:
            key = (language, text)
            known = self._known.get(key)
            if known is None or known[0] is None:
                self._start(key)

    async def forget(self) -> None:
        """Forget every address known (a prompt was replaced or deleted, maybe by another
        process): the next turns read them again."""
        self._known.clear()

    async def close(self) -> None:
        """Stop the background syntheses."""
        self._closed = True
        tasks = list(self._preparing.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _prompt(self, prompt_id: str) -> str | None:
        try:
            prompt = await self._service.get(prompt_id)
        except PromptNotFound:
            return None
        return media_path(prompt.media_key, "wav")

    async def _ready(self, text: str, language: str) -> str | None:
        prompt = await self._service.spoken_if_made(text, language)
        return None if prompt is None else media_path(prompt.media_key, "wav")

    def _failed_lately(self, key: Speech) -> bool:
        until = self._failed.get(key)
        if until is None:
            return False
        if until > self._clock():
            return True
        del self._failed[key]
        return False

    def _start(self, key: Speech) -> None:
        if self._closed or key in self._preparing or self._failed_lately(key):
            return
        task = asyncio.create_task(self._synthesise(key), name=f"speech:{key[0]}")
        self._preparing[key] = task
        task.add_done_callback(lambda _done: self._preparing.pop(key, None))

    async def _synthesise(self, key: Speech) -> None:
        language, text = key
        try:
            async with self._slots:
                prompt = await self._service.spoken(text, language)
        except PromptError as error:
            log.warning("could not speak a say step's text (%s): %s", language, error)
            self._failed[key] = self._clock() + RETRY_FAILED_AFTER
            return
        except Exception:
            log.exception("could not speak a say step's text (%s)", language)
            self._failed[key] = self._clock() + RETRY_FAILED_AFTER
            return
        self._remember(key, media_path(prompt.media_key, "wav"))

    async def _remembered(
        self, key: tuple[str, str], find: Callable[[], Awaitable[str | None]]
    ) -> str | None:
        known = self._known.get(key)
        if known is not None and known[1] > self._clock():
            self._known.move_to_end(key)
            return known[0]
        path = await find()
        self._remember(key, path)
        return path

    def _remember(self, key: tuple[str, str], path: str | None) -> None:
        self._known[key] = (path, self._clock() + REMEMBER_FOR)
        self._known.move_to_end(key)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)
