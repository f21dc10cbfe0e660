"""What every step kind provides, and what the engine hands a step while it runs.

A step kind is one module under ``workflows/steps`` that defines a ``StepKind`` instance: its
parameter model (validated when a workflow is loaded), the channels it supports, the named
outcomes it can branch on (``on_<outcome>`` keys in the definition), and ``enter``/``resume``.
Kinds never touch the database or the network themselves: they read and write the
``RunContext`` and return a ``StepResult``. What they may look up is handed to them in it by
the session layer: the named schedules, and the knowledge base (a search over the turn's own
database connection, for kinds that set ``reads_knowledge``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from workflows.channels import CHAT, SMS, VOICE
from workflows.events import Reply
from workflows.instructions import Instruction
from workflows.knowledge import KnowledgeBase
from workflows.schedules.book import OpenHours

__all__ = ["CHAT", "SMS", "VOICE"]  # the channel names, where step kinds long found them


class StepParams(BaseModel):
    """Base of every step's parameters: unknown keys are errors, values are immutable.

    ``shorthand`` names the field a bare scalar fills, so ``say: "Hello"`` means
    ``say: {text: "Hello"}``; the JSON Schema documents both spellings.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    shorthand: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, value: Any) -> Any:
        if cls.shorthand is not None and not isinstance(value, dict):
            return {cls.shorthand: value}
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        if cls.shorthand is None:
            return schema
        field_schema = handler.resolve_ref_schema(schema)["properties"][cls.shorthand]
        short = {k: v for k, v in field_schema.items() if k not in ("title", "default")}
        if not cls._accepts_nothing():
            # A bare null would leave a required value unset: only documented where valid.
            options = [o for o in short.get("anyOf", [short]) if o.get("type") != "null"]
            short = options[0] if len(options) == 1 else {"anyOf": options}
        return {"anyOf": [short, schema]}

    @classmethod
    def _accepts_nothing(cls) -> bool:
        try:
            cls.model_validate({})
        except ValueError:
            return False
        return True


class UnexpectedReply(Exception):
    """A waiting step got a reply of a kind it never asked for."""


@dataclass(frozen=True, slots=True)
class Next:
    """Leave the step. ``target`` jumps to a named step; otherwise ``outcome`` picks the
    ``on_<outcome>`` transition, falling back to ``next`` (and to the end of the workflow)."""

    outcome: str | None = None
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Stay on the step until the channel replies; the last instruction emitted waits."""


@dataclass(frozen=True, slots=True)
class End:
    """End the conversation now."""


StepResult = Next | Wait | End


@dataclass
class RunContext:
    """What a step may read and change while it runs.

    ``vars`` are the workflow's variables; ``step_state`` is private to the current step and
    reset each time the step is entered; ``facts`` are what the run learned that outlives it
    (agent reached, recording URL...) for the call log and later triggers. ``call`` holds the
    facts of the call or text the run is about (``from`` is always the contact's number);
    ``roots`` the other read-only values templates and branches may name (``contact``,
    ``schedule``, ``message``); ``now`` is the moment of the turn (aware), given by the channel.
    """

    channel: str
    vars: dict[str, Any]
    step_state: dict[str, Any]
    facts: dict[str, Any]
    call: Mapping[str, Any]
    language: str | None = None
    voice: str | None = None
    keys: list[str] = field(default_factory=list)
    instructions: list[Instruction] = field(default_factory=list)
    now: datetime | None = None
    roots: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    schedules: Mapping[str, OpenHours] = field(default_factory=dict)
    """Every named schedule, open or not at a moment (what ``open``/``closed`` filters ask)."""
    knowledge: KnowledgeBase | None = None
    """The knowledge base, for kinds that ``reads_knowledge`` (None: the channel gives none)."""

    def emit(self, instruction: Instruction) -> None:
        """Queue ``instruction`` for the channel renderer."""
        self.instructions.append(instruction)

    def lookup(self, path: str) -> Any:
        """Value at a dotted ``path`` such as ``vars.tier`` or ``call.from``; None if absent."""
        head, _, rest = path.partition(".")
        value: Any = self.values().get(head)
        for part in rest.split(".") if rest else ():
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    def values(self) -> dict[str, Any]:
        """Every root a template or a branch can name, by name."""
        return {**self.roots, "vars": self.vars, "call": self.call, "facts": self.facts}

    def clock(self) -> datetime:
        """The moment of this turn; the channel must give one to steps that need it."""
        if self.now is None:
            raise RuntimeError("this channel gives no time to its runs")
        return self.now


P = TypeVar("P", bound=StepParams)


class StepKind(Generic[P]):
    """One kind of step. Subclasses set the class attributes and override ``enter``."""

    name: ClassVar[str]
    params: type[P]
    channels: ClassVar[frozenset[str]] = frozenset({VOICE})
    outcomes: ClassVar[tuple[str, ...]] = ()
    outcome_fallbacks: ClassVar[Mapping[str, str]] = {}
    waits: ClassVar[bool] = False
    terminal: ClassVar[bool] = False
    summary: ClassVar[str] = ""
    reads_knowledge: ClassVar[bool] = False
    """Whether the kind searches the knowledge base (the session then gives its runs one)."""

    def targets(self, params: P) -> Iterator[tuple[tuple[str, ...], str]]:
        """Step names this step can jump to from inside its parameters, with their paths."""
        return iter(())

    def falls_through(self, params: P) -> bool:
        """Whether the step can leave without naming a target itself."""
        return not self.terminal

    def exits(self, params: P) -> tuple[str | None, ...]:
        """The outcomes the step can leave with when it names no target: ``None`` is the
        plain way out (``next``); any other picks ``on_<outcome>`` first."""
        return (None, *self.outcomes) if self.falls_through(params) else ()

    def may_end(self, params: P) -> bool:
        """Whether the step itself can end the conversation."""
        return self.terminal

    def needs_hours(self, params: P) -> bool:
        """Whether the step reads the workflow's ``hours`` schedule (it must then have one)."""
        return False

    def problem_on(self, channel: str, params: P) -> str | None:
        """What keeps these settings from working on ``channel`` (a step kind the channel
        runs), or None."""
        return None

    def enter(self, params: P, ctx: RunContext) -> StepResult:
        """Run the step when the workflow arrives at it."""
        raise NotImplementedError

    def resume(self, params: P, ctx: RunContext, reply: Reply) -> StepResult:
        """Continue a waiting step with the channel's ``reply``."""
        raise NotImplementedError(f"step kind {self.name!r} does not wait")
