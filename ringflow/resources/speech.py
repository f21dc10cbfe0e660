"""Speech and prompts: the server's voice (text-to-speech), the prompt store and the audio
that calls play, made ahead of the calls that need it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from functools import partial

from aiohttp import web

from ivr.media import server_speech
from prompts.playback import PromptPlayback
from prompts.routes import PROMPT_SERVICE
from prompts.service import PromptService, Synthesizer
from prompts.tts import LazyTtsPool
from ringflow.changes import PROMPTS
from ringflow.resources import Resource
from ringflow.resources.catalog import CATALOG, CHANGES
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from workflows.catalog import ActiveWorkflow

PLAYBACK = web.AppKey("playback", PromptPlayback)


def _prepare_speech(playback: PromptPlayback, active: Sequence[ActiveWorkflow]) -> None:
    """Have the server's voice say every enabled workflow's ``render: server`` texts in the
    background, so that no caller waits for them."""
    playback.prepare(speech for each in active for speech in server_speech(each.workflow))


def prompts_and_speech(voice: Synthesizer | None) -> Resource:
    """``app[PROMPT_SERVICE]`` and ``app[PLAYBACK]``. ``voice`` is the server's voice; None:
    espeak-ng worker processes, started when first needed and closed with this resource (a
    voice given here is the caller's to close)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        async with contextlib.AsyncExitStack() as opened:  # closed in reverse
            synthesizer = voice
            if synthesizer is None:
                pool = LazyTtsPool(workers=2, timeout=10.0)
                opened.push_async_callback(pool.close)
                synthesizer = pool
            service = PromptService(
                app[DATABASE],
                settings.data_dir,
                synthesizer,
                max_bytes=settings.prompt_max_bytes,
                min_seconds=settings.prompt_min_seconds,
                max_seconds=settings.prompt_max_seconds,
                clock=app[CLOCK],
            )
            opened.push_async_callback(service.close)
            await service.adopt_cached_files()  # audio made before it was kept in the database
            playback = PromptPlayback(service)
            opened.push_async_callback(playback.close)
            app[PROMPT_SERVICE] = service
            app[PLAYBACK] = playback
            # A prompt replaced or deleted through another instance is not played from here.
            app[CHANGES].subscribe(PROMPTS, playback.forget)
            # Server speech is made when a workflow is published or installed and now, at
            # start, for every enabled one: never first on a caller's turn.
            catalog = app[CATALOG]
            catalog.on_change(partial(_prepare_speech, playback))
            _prepare_speech(playback, catalog.active)
            yield

    return context
