"""``play``: play an audio file by URL, then go on."""

from __future__ import annotations

from pydantic import Field, StrictInt

from workflows.instructions import Play
from workflows.names import AudioUrl
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult


class PlayParams(StepParams):
    """``play: "https://..."`` or ``play: {url, loop}``."""

    shorthand = "url"
    url: AudioUrl
    loop: StrictInt = Field(default=1, ge=1, le=10)


class PlayKind(StepKind[PlayParams]):
    name = "play"
    params = PlayParams
    summary = "Play an audio file (http or https URL), then continue with `next`."

    def enter(self, params: PlayParams, ctx: RunContext) -> StepResult:
        ctx.emit(Play(url=params.url, loop=params.loop))
        return Next()


KIND = PlayKind()
