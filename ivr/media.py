"""A turn's audio made playable: ``play: pr_...`` becomes the prompt's public address, and a
``say`` rendered by the server becomes the audio of its text (``prompts/playback.py``).

Never fails or holds up a call: a prompt that no longer exists is left out (and logged with
the call id); a text whose audio is not ready yet, or that the server cannot speak, goes to
Twilio's ``<Say>`` with the same text, voice and language. The texts to have ready are those
of :func:`server_speech`, synthesised when a workflow is published or installed and when the
server starts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Protocol

from workflows.instructions import Gather, Instruction, Play, Prompt, Say
from workflows.loader import Workflow
from workflows.steps.base import VOICE
from workflows.steps.say import SayParams
from workflows.triggers import trigger_kind

log = logging.getLogger(__name__)

_PROMPT_ID = re.compile(r"^pr_[0-9a-f]{16}$")
DEFAULT_LANGUAGE = "en"


class Playback(Protocol):
    """Public paths of prompts and of server-spoken text (``prompts.playback``)."""

    async def prompt_path(self, prompt_id: str) -> str | None:
        """The prompt's audio path, or None when there is no such prompt."""
        ...

    async def speech_path(self, text: str, language: str) -> str | None:
        """The audio path of ``text`` spoken by the server if it is ready, else None (never
        waits for a synthesis)."""
        ...


def server_speech(workflow: Workflow) -> set[tuple[str, str]]:
    """The ``(text, language)`` of every ``say`` the server speaks in ``workflow``
    (``render: server``), in the language a call would ask for: what to synthesise before
    the first call needs it."""
    spoken: set[tuple[str, str]] = set()
    if trigger_kind(workflow.spec.trigger.event).channel != VOICE:
        return spoken  # texted, not spoken
    default = workflow.spec.defaults.language or DEFAULT_LANGUAGE
    for step in workflow.spec.steps.values():
        params = step.params
        if isinstance(params, SayParams) and params.render == "server":
            spoken.add((params.text, params.language or default))
    return spoken


async def with_media(
    instructions: tuple[Instruction, ...], playback: Playback, base_url: str, call_sid: str
) -> tuple[Instruction, ...]:
    """``instructions`` with prompt ids and server-spoken texts turned into audio URLs."""
    out: list[Instruction] = []
    for instruction in instructions:
        if isinstance(instruction, Gather):
            prompts = [await _audio(p, playback, base_url, call_sid) for p in instruction.prompts]
            out.append(replace(instruction, prompts=tuple(p for p in prompts if p is not None)))
        elif isinstance(instruction, Play | Say):
            audio = await _audio(instruction, playback, base_url, call_sid)
            if audio is not None:
                out.append(audio)
        else:
            out.append(instruction)
    return tuple(out)


async def _audio(prompt: Prompt, playback: Playback, base_url: str, call_sid: str) -> Prompt | None:
    if isinstance(prompt, Play) and _PROMPT_ID.match(prompt.url):
        path = await playback.prompt_path(prompt.url)
        if path is None:
            log.warning("call %s: prompt %s does not exist; not played", call_sid, prompt.url)
            return None
        return replace(prompt, url=base_url + path)
    if isinstance(prompt, Say) and prompt.server:
        path = await playback.speech_path(prompt.text, prompt.language or DEFAULT_LANGUAGE)
        if path is None:
            return replace(prompt, server=False)  # Twilio's voice rather than silence
        return Play(url=base_url + path, loop=prompt.loop)
    return prompt
