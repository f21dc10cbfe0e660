"""``say``: speak a text with the channel's text-to-speech voice, then go on."""

from __future__ import annotations

from pydantic import Field, StrictInt

from workflows.instructions import Play, Prompt, Say
from workflows.steps.base import SMS, VOICE, Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.names import AudioUrl, Language, SpokenText, Voice


class SayParams(StepParams):
    """``say: "text"`` or ``say: {text, language, voice, loop}``."""

    shorthand = "text"
    text: SpokenText
    language: Language | None = None
    voice: Voice | None = None
    loop: StrictInt = Field(default=1, ge=1, le=10)


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
    channels = frozenset({VOICE, SMS})
    summary = "Speak a text, then continue with `next`."

    def enter(self, params: SayParams, ctx: RunContext) -> StepResult:
        ctx.emit(
            Say(
                text=params.text,
                language=params.language or ctx.language,
                voice=params.voice or ctx.voice,
                loop=params.loop,
            )
        )
        return Next()


KIND = SayKind()
