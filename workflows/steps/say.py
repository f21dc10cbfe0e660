"""``say``: speak a text with the channel's text-to-speech voice, then go on."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt

from workflows.instructions import Play, Prompt, Say
from workflows.names import AudioUrl, Language, SpokenText, Voice
from workflows.steps.base import (
    CHAT,
    SMS,
    VOICE,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
)


class SayParams(StepParams):
    """``say: "text"`` or ``say: {text, language, voice, loop, render}``."""

    shorthand = "text"
    text: SpokenText
    language: Language | None = None
    voice: Voice | None = None
    loop: StrictInt = Field(default=1, ge=1, le=10)
    render: Literal["channel", "server"] = Field(
        default="channel",
        description=(
            "channel: the channel's own text-to-speech; server: spoken once by the server's own"
            " voice (espeak-ng, in `language`), cached and played as audio"
        ),
    )


def spoken(
    text: str, ctx: RunContext, language: str | None = None, voice: str | None = None
) -> Say:
    """A ``Say`` of ``text`` in the step's language and voice, else the workflow's defaults."""
    return Say(text=text, language=language or ctx.language, voice=voice or ctx.voice)


def prompts(
    ctx: RunContext,
    say: str | None,
    play: AudioUrl | None,
    language: str | None = None,
    voice: str | None = None,
) -> tuple[Prompt, ...]:
    """The audio a step plays before it waits: a recording, a spoken text, or both."""
    out: list[Prompt] = []
    if play:
        out.append(Play(url=play))
    if say:
        out.append(spoken(say, ctx, language, voice))
    return tuple(out)


class SayKind(StepKind[SayParams]):
    name = "say"
    params = SayParams
    channels = frozenset({VOICE, SMS, CHAT})
    summary = "Speak a text, then continue with `next`."

    def enter(self, params: SayParams, ctx: RunContext) -> StepResult:
        ctx.emit(
            Say(
                text=params.text,
                language=params.language or ctx.language,
                voice=params.voice or ctx.voice,
                loop=params.loop,
                server=params.render == "server",
            )
        )
        return Next()


KIND = SayKind()
