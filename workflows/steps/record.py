"""``record``: voicemail. Say or play a prompt, record after the beep, keep the recording URL.

Goes to ``next`` afterwards; ``on_empty`` (if given) when the caller left nothing.
"""

from __future__ import annotations

from pydantic import Field, StrictBool, StrictInt

from workflows.events import RecordingFinished, Reply
from workflows.instructions import Record
from workflows.names import ONE_KEY_OR_NONE, AudioUrl, Language, SpokenText, Voice
from workflows.steps.base import (
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
    UnexpectedReply,
    Wait,
)
from workflows.steps.say import prompts


class RecordParams(StepParams):
    """``record: {say, play, max_seconds, silence_timeout, finish_on_key, beep}``."""

    say: SpokenText | None = None
    play: AudioUrl | None = None
    max_seconds: StrictInt = Field(default=120, ge=1, le=3600)
    silence_timeout: StrictInt = Field(default=5, ge=1, le=60)
    finish_on_key: str = Field(default="#", pattern=ONE_KEY_OR_NONE)
    beep: StrictBool = True
    language: Language | None = None
    voice: Voice | None = None


class RecordKind(StepKind[RecordParams]):
    name = "record"
    params = RecordParams
    waits = True
    outcomes = ("empty",)
    summary = "Record a voicemail after a beep; the recording URL is kept with the call."

    def enter(self, params: RecordParams, ctx: RunContext) -> StepResult:
        for prompt in prompts(ctx, params.say, params.play, params.language, params.voice):
            ctx.emit(prompt)
        ctx.emit(
            Record(
                max_seconds=params.max_seconds,
                silence_timeout=params.silence_timeout,
                finish_on_key=params.finish_on_key,
                play_beep=params.beep,
            )
        )
        return Wait()

    def resume(self, params: RecordParams, ctx: RunContext, reply: Reply) -> StepResult:
        if not isinstance(reply, RecordingFinished):
            raise UnexpectedReply(f"record got {type(reply).__name__}")
        if not reply.url:
            return Next(outcome="empty")
        recordings: list[dict[str, object]] = ctx.facts.setdefault("recordings", [])
        recordings.append({"url": reply.url, "duration": reply.duration})
        return Next()


KIND = RecordKind()
