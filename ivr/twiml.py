"""Render neutral instructions as TwiML with the twilio library's ``VoiceResponse``.

Waiting instructions (``Gather``, ``Dial``, ``Record``) get an ``action`` URL that resumes the
run: ``<resume>/gather``, ``<resume>/dial`` or ``<resume>/record``, where ``<resume>`` names the
run and the turn. Twilio skips a Gather's action when nothing was entered unless told otherwise,
and skips a Record's action when nothing was recorded, so each is followed by a ``<Redirect>``
to the same URL: silence never drops the call.

Rendering with ``VoiceResponse`` costs a few hundred microseconds; the same instructions render
to the same document but for the resume URL, so documents are cached with a placeholder in its
place and the URL (XML-escaped) is substituted per request.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from xml.sax.saxutils import escape

from twilio.twiml.voice_response import Gather as TwimlGather
from twilio.twiml.voice_response import VoiceResponse

from workflows.instructions import (
    Dial,
    Gather,
    Hangup,
    Instruction,
    Pause,
    Play,
    Record,
    Say,
)

WaitKind = Literal["gather", "dial", "record"]
WAIT_KINDS: tuple[WaitKind, ...] = ("gather", "dial", "record")
_RESUME = "__ringflow_resume__"


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
    node = response.dial(
        action=f"{_RESUME}/dial", method="POST", timeout=dial.timeout, caller_id=dial.caller_id
    )
    for target in dial.targets:
        if target.kind == "number":
            node.number(target.address)
        elif target.kind == "sip":
            node.sip(target.address)
        else:
            node.client(target.address)


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
        elif isinstance(instruction, Hangup):
            response.hangup()
    if finished and not (instructions and isinstance(instructions[-1], Hangup)):
        response.hangup()
    return str(response)


def render(instructions: tuple[Instruction, ...], resume_url: str, *, finished: bool) -> str:
    """TwiML for one turn. ``finished`` ends the call after the instructions."""
    return _template(instructions, finished).replace(_RESUME, escape(resume_url, {'"': "&quot;"}))


def apology(message: str) -> str:
    """The safe ending of a turn that failed: a short apology, then hang up."""
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)
