"""``menu``: an IVR menu. Play a greeting, take a key (or a spoken keyword), branch on it.

On SMS the greeting and the numbered options go out as one text ("Reply with a number:" is
up to the greeting); the answer is the option's key, or a text holding its label or one of
its keywords.

Semantics follow FreeSWITCH's IVR menus: the full greeting plays first and the shorter
``repeat_say``/``repeat_play`` on every repeat; a wrong key plays ``invalid`` and repeats;
silence plays ``no_input`` (if given) and repeats. Wrong keys and silences are counted
separately against ``max_failures`` and ``max_timeouts``; reaching either goes to
``on_failure`` (or ends the call when there is none).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import Annotated, Self

from pydantic import Field, StrictInt, StringConstraints, model_validator

from workflows.events import DigitsReceived, InputTimedOut, Reply
from workflows.instructions import Gather, Prompt
from workflows.names import (
    AudioUrl,
    Language,
    PhoneKeys,
    SpokenText,
    StepName,
    VarName,
    Voice,
)
from workflows.steps.base import (
    CHAT,
    SMS,
    VOICE,
    End,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
    UnexpectedReply,
    Wait,
)
from workflows.steps.say import prompts, spoken

Keyword = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MenuOption(StepParams):
    """``"1": sales`` or ``"1": {next: sales, label: Sales, keywords: [sales, buy]}``.

    ``label`` is what an SMS menu shows ("1. Sales"); without one it shows the first keyword,
    else the step name. On SMS the label's words also pick the option.
    """

    shorthand = "next"
    next: StepName
    label: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    keywords: tuple[Keyword, ...] = ()

    @property
    def shown(self) -> str:
        """The option as an SMS menu lists it."""
        return self.label or (self.keywords[0] if self.keywords else self.next)


class MenuParams(StepParams):
    """The menu's prompts, options and retry policy."""

    say: SpokenText | None = None
    play: AudioUrl | None = None
    repeat_say: SpokenText | None = None
    repeat_play: AudioUrl | None = None
    options: dict[PhoneKeys, MenuOption] = Field(min_length=1, max_length=64)
    invalid: SpokenText = "Sorry, that is not a valid choice."
    no_input: SpokenText | None = None
    timeout: StrictInt = Field(default=5, ge=1, le=60)
    max_failures: StrictInt = Field(default=3, ge=1, le=10)
    max_timeouts: StrictInt = Field(default=3, ge=1, le=10)
    on_failure: StepName | None = None
    save_as: VarName | None = None
    language: Language | None = None
    voice: Voice | None = None

    @model_validator(mode="after")
    def _needs_a_greeting(self) -> Self:
        if self.say is None and self.play is None:
            raise ValueError("a menu needs a greeting: `say` or `play`")
        return self

    @cached_property
    def num_digits(self) -> int | None:
        """Submit as soon as this many keys are pressed (when every option is that long)."""
        lengths = {len(key) for key in self.options}
        return lengths.pop() if len(lengths) == 1 else None

    @cached_property
    def finish_on_key(self) -> str:
        """``#`` ends the caller's input, unless an option uses ``#`` itself."""
        return "" if any("#" in key for key in self.options) else "#"

    @cached_property
    def speech_hints(self) -> tuple[str, ...]:
        """Every keyword of every option, for the speech recogniser."""
        return tuple(word for option in self.options.values() for word in option.keywords)

    @cached_property
    def choices(self) -> tuple[tuple[str, str], ...]:
        """(key, what an SMS menu shows) of each option. Cached, like the properties above:
        a menu is rendered on every call that reaches it, and its parameters never change."""
        return tuple((key, option.shown) for key, option in self.options.items())


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


class MenuKind(StepKind[MenuParams]):
    name = "menu"
    params = MenuParams
    channels = frozenset({VOICE, SMS, CHAT})
    waits = True
    summary = "Play a greeting and branch on the key pressed (or keyword said)."

    def targets(self, params: MenuParams) -> Iterator[tuple[tuple[str, ...], str]]:
        for key, option in params.options.items():
            yield ("menu", "options", key), option.next
        if params.on_failure is not None:
            yield ("menu", "on_failure"), params.on_failure

    def falls_through(self, params: MenuParams) -> bool:
        return False

    def may_end(self, params: MenuParams) -> bool:
        return params.on_failure is None

    def enter(self, params: MenuParams, ctx: RunContext) -> StepResult:
        ctx.step_state.update(failures=0, timeouts=0)
        greeting = prompts(ctx, params.say, params.play, params.language, params.voice)
        return self._ask(params, ctx, greeting)

    def resume(self, params: MenuParams, ctx: RunContext, reply: Reply) -> StepResult:
        if isinstance(reply, DigitsReceived) and (reply.digits or reply.speech):
            return self._answer(params, ctx, reply)
        if isinstance(reply, InputTimedOut | DigitsReceived):
            ctx.step_state["timeouts"] = ctx.step_state.get("timeouts", 0) + 1
            if ctx.step_state["timeouts"] >= params.max_timeouts:
                return self._give_up(params)
            lead = (
                (spoken(params.no_input, ctx, params.language, params.voice),)
                if params.no_input
                else ()
            )
            return self._ask(params, ctx, lead + self._repeat(params, ctx))
        raise UnexpectedReply(f"menu got {type(reply).__name__}")

    def _answer(self, params: MenuParams, ctx: RunContext, reply: DigitsReceived) -> StepResult:
        choice = self._match(params, reply)
        ctx.keys.append(reply.digits or f"({reply.speech})")
        if choice is not None:
            if params.save_as:
                ctx.vars[params.save_as] = choice
            return Next(target=params.options[choice].next)
        ctx.step_state["failures"] = ctx.step_state.get("failures", 0) + 1
        if ctx.step_state["failures"] >= params.max_failures:
            return self._give_up(params)
        lead = (spoken(params.invalid, ctx, params.language, params.voice),)
        return self._ask(params, ctx, lead + self._repeat(params, ctx))

    @staticmethod
    def _match(params: MenuParams, reply: DigitsReceived) -> str | None:
        if reply.digits in params.options:
            return reply.digits
        heard = _words(reply.speech)
        if not heard:
            return None
        for key, option in params.options.items():
            # What an SMS menu shows ("3. billing") is an answer too, as are the keywords.
            words = [*option.keywords, option.shown]
            if any(_words(word) and _words(word) <= heard for word in words):
                return key
        return None

    @staticmethod
    def _repeat(params: MenuParams, ctx: RunContext) -> tuple[Prompt, ...]:
        say = params.repeat_say or (None if params.repeat_play else params.say)
        play = params.repeat_play or (None if params.repeat_say else params.play)
        return prompts(ctx, say, play, params.language, params.voice)

    @staticmethod
    def _give_up(params: MenuParams) -> StepResult:
        return Next(target=params.on_failure) if params.on_failure else End()

    @staticmethod
    def _ask(params: MenuParams, ctx: RunContext, audio: tuple[Prompt, ...]) -> StepResult:
        hints = params.speech_hints
        ctx.emit(
            Gather(
                prompts=audio,
                timeout=params.timeout,
                num_digits=params.num_digits,
                finish_on_key=params.finish_on_key,
                speech=bool(hints),
                speech_hints=hints,
                language=params.language or ctx.language,
                choices=params.choices,
            )
        )
        return Wait()


KIND = MenuKind()
