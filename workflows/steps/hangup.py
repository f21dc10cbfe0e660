"""``hangup``: optionally say or play something, then end the call."""

from __future__ import annotations

from workflows.instructions import Hangup
from workflows.names import AudioUrl, Language, SpokenText, Voice
from workflows.steps.base import CHAT, SMS, VOICE, End, RunContext, StepKind, StepParams, StepResult
from workflows.steps.say import prompts


class HangupParams(StepParams):
    """``hangup: {}``, ``hangup: "Goodbye."`` or ``hangup: {say, play, language, voice}``."""

    shorthand = "say"
    say: SpokenText | None = None
    play: AudioUrl | None = None
    language: Language | None = None
    voice: Voice | None = None


class HangupKind(StepKind[HangupParams]):
    name = "hangup"
    params = HangupParams
    channels = frozenset({VOICE, SMS, CHAT})
    terminal = True
    summary = "Say or play a last message (optional) and end the call."

    def enter(self, params: HangupParams, ctx: RunContext) -> StepResult:
        for prompt in prompts(ctx, params.say, params.play, params.language, params.voice):
            ctx.emit(prompt)
        ctx.emit(Hangup())
        return End()


KIND = HangupKind()
