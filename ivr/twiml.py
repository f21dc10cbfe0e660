"""Render neutral instructions as TwiML with the twilio library's ``VoiceResponse``.

Waiting instructions (``Gather``, ``Dial``, ``Record``, ``Enqueue``) get an ``action`` URL that
resumes the run: ``<resume>/gather``, ``<resume>/dial``, ``<resume>/record`` or
``<resume>/queue``, where ``<resume>`` names the run and the turn; ``NoAgents`` is a
``<Redirect>`` to ``<resume>/connect``. A ``connect`` step's ``Dial`` names the agents it rang
in its action's query (``?rung=alice&rung=bob``) and asks for each agent leg's status
(``statusCallbackEvent="answered completed"``), so presence follows the call.

Twilio skips a Gather's action when nothing was entered unless told otherwise, and skips a
Record's action when nothing was recorded, so each is followed by a ``<Redirect>`` to the same
URL: silence never drops the call.

Rendering with ``VoiceResponse`` costs a few hundred microseconds; the same instructions render
to the same document but for the resume URL, so documents are cached with a placeholder in its
place and the URL (XML-escaped) is substituted per request.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

from twilio.twiml.voice_response import Gather as TwimlGather
from twilio.twiml.voice_response import VoiceResponse

from workflows.instructions import (
    Dial,
    Enqueue,
    Gather,
    Hangup,
    Instruction,
    NoAgents,
    Pause,
    Play,
    Record,
    Say,
)

WaitKind = Literal["gather", "dial", "record", "queue", "connect"]
WAIT_KINDS: tuple[WaitKind, ...] = ("gather", "dial", "record", "queue", "connect")
_RESUME = "__ringflow_resume__"
_BASE = "__ringflow_base__"
AGENT_STATUS_PATH = "/twilio/voice/agents/{agent}/status"
"""Where the status of an agent's leg is reported (answered, completed)."""
QUEUE_WAIT_PATH = "/twilio/voice/queue/wait"
"""The ``waitUrl`` of every hold queue: what a waiting caller hears next."""
QUEUE_KEY_PATH = "/twilio/voice/queue/key"
"""Where a key a waiting caller pressed goes."""


def _prompt(parent: VoiceResponse | TwimlGather, instruction: Say | Play | Pause) -> None:
    if isinstance(instruction, Say):
        extra = {"loop": instruction.loop} if instruction.loop != 1 else {}
        parent.say(
            instruction.text, voice=instruction.voice, language=instruction.language, **extra
        )
    elif isinstance(instruction, Play):
        extra = {"loop": instruction.loop} if instruction.loop != 1 else {}
        parent.play(instruction.url, **extra)
    else:
        parent.pause(length=instruction.seconds)


def _gather(response: VoiceResponse, gather: Gather) -> None:
    action = f"{_RESUME}/gather"
    extra: dict[str, object] = {}
    if gather.num_digits is not None:
        extra["num_digits"] = gather.num_digits
    if gather.num_digits is None or gather.finish_on_key != "#":
        # Twilio's default is "#"; an empty value lets "#" be an answer of its own.
        extra["finish_on_key"] = gather.finish_on_key
    if gather.speech:
        extra["input"] = "dtmf speech"
        if gather.speech_hints:  # an empty hints="" is noise Twilio documents no meaning for
            extra["hints"] = ", ".join(gather.speech_hints)
        extra["speech_timeout"] = "auto"
    node = response.gather(
        action=action,
        method="POST",
        timeout=gather.timeout,
        action_on_empty_result=True,
        language=gather.language if gather.speech else None,
        **extra,
    )
    for prompt in gather.prompts:
        _prompt(node, prompt)
    response.redirect(action, method="POST")


def _dial(response: VoiceResponse, dial: Dial) -> None:
    agents = sorted({t.agent for t in dial.targets if t.agent is not None})
    action = f"{_RESUME}/dial"
    if agents:
        action += "?" + urlencode([("rung", agent) for agent in agents])
    node = response.dial(
        action=action, method="POST", timeout=dial.timeout, caller_id=dial.caller_id
    )
    for target in dial.targets:
        extra: dict[str, str] = {}
        if target.agent is not None:
            # Presence follows the agent's leg: answered makes them busy, completed frees them.
            path = AGENT_STATUS_PATH.format(agent=quote(target.agent, safe=""))
            query = "?" + urlencode({"team": dial.team}) if dial.team else ""
            extra = {
                "status_callback": f"{_BASE}{path}{query}",
                "status_callback_event": "answered completed",
                "status_callback_method": "POST",
            }
        if target.kind == "number":
            node.number(target.address, **extra)
        elif target.kind == "sip":
            node.sip(target.address, **extra)
        else:
            node.client(target.address, **extra)


def _enqueue(response: VoiceResponse, enqueue: Enqueue) -> None:
    response.enqueue(
        enqueue.queue,
        action=f"{_RESUME}/queue",
        method="POST",
        wait_url=f"{_BASE}{QUEUE_WAIT_PATH}",
        wait_url_method="POST",
    )


def _record(response: VoiceResponse, record: Record) -> None:
    action = f"{_RESUME}/record"
    response.record(
        action=action,
        method="POST",
        max_length=record.max_seconds,
        timeout=record.silence_timeout,
        finish_on_key=record.finish_on_key or None,
        play_beep=record.play_beep,
    )
    response.redirect(action, method="POST")


@lru_cache(maxsize=4096)
def _template(instructions: tuple[Instruction, ...], finished: bool) -> str:
    response = VoiceResponse()
    for instruction in instructions:
        if isinstance(instruction, Say | Play | Pause):
            _prompt(response, instruction)
        elif isinstance(instruction, Gather):
            _gather(response, instruction)
        elif isinstance(instruction, Dial):
            _dial(response, instruction)
        elif isinstance(instruction, Record):
            _record(response, instruction)
        elif isinstance(instruction, Enqueue):
            _enqueue(response, instruction)
        elif isinstance(instruction, NoAgents):
            response.redirect(f"{_RESUME}/connect", method="POST")
        elif isinstance(instruction, Hangup):
            response.hangup()
    if finished and not (instructions and isinstance(instructions[-1], Hangup)):
        response.hangup()
    return str(response)


def render(
    instructions: tuple[Instruction, ...], resume_url: str, *, finished: bool, base_url: str = ""
) -> str:
    """TwiML for one turn. ``finished`` ends the call after the instructions; ``base_url``
    prefixes the other webhooks' paths (agents' legs, the hold queue)."""
    document = _template(instructions, finished)
    document = document.replace(_RESUME, escape(resume_url, {'"': "&quot;"}))
    return document.replace(_BASE, escape(base_url, {'"': "&quot;"}))


def apology(message: str) -> str:
    """The safe ending of a turn that failed: a short apology, then hang up."""
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)


def hold(announcement: str | None, music: str | None, key_url: str, silence: int) -> str:
    """What a caller waiting in a hold queue hears next: ``announcement`` (their place), then
    ``music`` (an audio URL; None: ``silence`` seconds), while a key (1 or 2) can be pressed;
    the queue requests this again when it ends."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=key_url, method="POST", timeout=1)
    if announcement:
        gather.say(announcement)
    if music:
        gather.play(music)
    else:
        gather.pause(length=silence)
    return str(response)


def leave(message: str | None = None) -> str:
    """Take the caller out of the hold queue (its ``action`` resumes the run)."""
    response = VoiceResponse()
    if message:
        response.say(message)
    response.leave()
    return str(response)
