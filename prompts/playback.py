"""Where a call's audio is: a prompt's public address, and text the server speaks itself.

The voice channel (``ivr.service.VoiceService``) asks :class:`PromptPlayback` for
``play: pr_...`` (a prompt id) and ``say: {render: server}`` (text spoken with the server's
voice). Answers are remembered for a short while: a prompt's address changes when it is
replaced (its audio is cached for a year under the old address), and a turn on the webhook
path should not wait for the database every time.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from prompts.errors import PromptError, PromptNotFound
from prompts.service import PromptService, media_path

log = logging.getLogger(__name__)

REMEMBER_FOR = 10.0
"""Seconds a prompt's address is reused before it is read again (a replaced prompt's new
audio is heard within this long on every server process)."""


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

    async def prompt_path(self, prompt_id: str) -> str | None:
        """The prompt's audio path, or None when there is no such prompt."""
        return await self._remembered(("prompt", prompt_id), lambda: self._prompt(prompt_id))

    async def speech_path(self, text: str, language: str) -> str | None:
        """The audio path of ``text`` spoken by the server; None if it cannot be spoken."""
        return await self._remembered((language, text), lambda: self._speech(text, language))

    async def _prompt(self, prompt_id: str) -> str | None:
        try:
            prompt = await self._service.get(prompt_id)
        except PromptNotFound:
            return None
        return media_path(prompt.media_key, "wav")

    async def _speech(self, text: str, language: str) -> str | None:
        try:
            prompt = await self._service.spoken(text, language)
        except PromptError as error:
            log.warning("could not speak a say step's text (%s): %s", language, error)
            return None
        return media_path(prompt.media_key, "wav")

    async def _remembered(
        self, key: tuple[str, str], find: Callable[[], Awaitable[str | None]]
    ) -> str | None:
        now = self._clock()
        known = self._known.get(key)
        if known is not None and known[1] > now:
            self._known.move_to_end(key)
            return known[0]
        path = await find()
        self._known[key] = (path, now + REMEMBER_FOR)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)
        return path
