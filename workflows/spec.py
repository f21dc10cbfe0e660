"""The workflow definition format: pydantic models that validate files and export JSON Schema.

A workflow file is one trigger, a start step and named steps. Each step is a mapping with exactly
one *kind* key (``say``, ``menu``, ``dial``...) holding that kind's parameters, plus transitions:
``next`` and, for kinds with outcomes, ``on_<outcome>``. The per-kind step models are generated
from the step registry, so the schema, the validator and the engine cannot disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from workflows.conditions import Filter
from workflows.names import (
    E164,
    E164_NUMBER,
    Duration,
    Language,
    ScheduleName,
    StepName,
    Voice,
    WorkflowId,
)
from workflows.steps import STEP_KINDS
from workflows.steps.base import StepKind, StepParams
from workflows.triggers import EXTERNAL_EVENT_NAME, TRIGGER_KINDS, is_external, trigger_kind


def _event_kind(value: Any) -> str:
    if isinstance(value, str) and (value in TRIGGER_KINDS or is_external(value)):
        return value
    raise ValueError(
        f"unknown event {value!r}: one of {', '.join(TRIGGER_KINDS)}, or the dotted name of an"
        " event another system sends (e.g. checkout.idle), outside the namespaces"
        " call., sms., chat., conversation., message. and agent."
    )


EventKind = Annotated[
    str,
    PlainValidator(_event_kind),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": list(TRIGGER_KINDS)},
                {"type": "string", "pattern": EXTERNAL_EVENT_NAME},
            ]
        }
    ),
]


class Strict(BaseModel):
    """Definition models reject unknown keys and are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(Strict):
    """What starts the workflow: an event kind, the numbers it is for, a filter and a limit."""

    event: EventKind = Field(description="event kind, e.g. call.incoming")
    to: Annotated[
        tuple[E164, ...],
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "pattern": E164_NUMBER},
                    {"type": "array", "items": {"type": "string", "pattern": E164_NUMBER}},
                ]
            }
        ),
    ] = Field(
        default=(),
        description="only calls or texts to these numbers (E.164); none: any number",
    )
    when: Filter | None = Field(
        default=None,
        description="only events this filter matches (see docs/filters.md)",
    )
    once_per: Duration | None = Field(
        default=None,
        description=(
            "per-recipient limit: at most one run for the same contact in this long"
            " (default 10m for call.missed, call.ended and call.after_hours; 0: no limit)"
        ),
    )

    after: Duration | None = Field(
        default=None,
        description=(
            "timer triggers only (no_agent_reply, no_customer_reply, unanswered,"
            " idle_after_resolved): how long after their starting condition they fire"
        ),
    )

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _timer_needs_after(self) -> Self:
        timer = trigger_kind(self.event).timer
        if timer and not self.after:
            raise ValueError(f"after: a {self.event} trigger needs `after` (e.g. 30m)")
        if not timer and self.after is not None:
            raise ValueError(f"after: only timer triggers take `after`, not {self.event}")
        return self

    @property
    def limit_seconds(self) -> int:
        """The per-recipient limit in force: ``once_per``, else the event kind's default."""
        if self.once_per is not None:
            return self.once_per
        return trigger_kind(self.event).once_per


class Defaults(Strict):
    """Defaults for every step of the workflow."""

    language: Language | None = Field(default=None, description="e.g. en-US, ko-KR")
    voice: Voice | None = Field(default=None, description="e.g. Polly.Joanna, alice")


class StepModel(Strict):
    """Common part of every step: the default transition and a note for humans."""

    kind_name: ClassVar[str]
    next: StepName | None = None
    description: str | None = None

    @property
    def kind(self) -> StepKind[Any]:
        """The step kind, the one key that is not a transition."""
        return STEP_KINDS[self.kind_name]

    @property
    def params(self) -> StepParams:
        """The kind's validated parameters."""
        value: StepParams = getattr(self, self.kind_name)
        return value

    def transition(self, outcome: str) -> str | None:
        """The ``on_<outcome>`` target as written, or None."""
        target: str | None = getattr(self, f"on_{outcome}", None)
        return target

    def branch_for(self, outcome: str | None) -> str | None:
        """The ``on_<outcome>`` target, through the kind's fallbacks, ignoring ``next``."""
        while outcome is not None:
            target = self.transition(outcome)
            if target is not None:
                return target
            outcome = self.kind.outcome_fallbacks.get(outcome)
        return None

    def route(self, outcome: str | None) -> str | None:
        """Where ``outcome`` leads: its own branch, the kind's fallback branch, else ``next``."""
        return self.branch_for(outcome) or self.next

    def follows_next(self) -> bool:
        """Whether some way out of this step takes ``next``."""
        return any(self.branch_for(o) is None for o in self.kind.exits(self.params))

    def can_end(self) -> bool:
        """Whether the conversation can end at this step."""
        return self.kind.may_end(self.params) or (self.next is None and self.follows_next())


def _step_model(kind: StepKind[Any]) -> type[StepModel]:
    fields: dict[str, Any] = {kind.name: (kind.params, Field(description=kind.summary))}
    for outcome in kind.outcomes:
        fields[f"on_{outcome}"] = (StepName | None, None)
    model = create_model(f"{kind.name.title().replace('_', '')}Step", __base__=StepModel, **fields)
    model.kind_name = kind.name
    return model


STEP_MODELS: dict[str, type[StepModel]] = {name: _step_model(k) for name, k in STEP_KINDS.items()}


def step_kind_of(value: Any) -> str | None:
    """The tag of a raw step: its single kind key, or None when it has none or several."""
    if isinstance(value, StepModel):
        return value.kind_name
    if not isinstance(value, dict):
        return None
    kinds = [key for key in value if key in STEP_MODELS]
    return kinds[0] if len(kinds) == 1 else None


if TYPE_CHECKING:
    Step = StepModel
else:
    Step = Annotated[
        Union[tuple(Annotated[model, Tag(name)] for name, model in STEP_MODELS.items())],  # noqa: UP007
        Discriminator(
            step_kind_of,
            custom_error_type="step_kind",
            custom_error_message=(
                "a step needs exactly one kind key, one of: " + ", ".join(sorted(STEP_MODELS))
            ),
        ),
    ]


class WorkflowSpec(Strict):
    """A workflow file."""

    id: WorkflowId = Field(description="unique id: lower-case letters, digits, - and _")
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    trigger: Trigger
    hours: ScheduleName | None = Field(
        default=None,
        description=(
            "the named schedule of this line's business hours: a call while it is closed ends"
            " as after_hours, {{schedule.*}} reads it, its quiet hours hold automated texts"
        ),
    )
    start: StepName = Field(description="the first step")
    defaults: Defaults = Defaults()
    steps: dict[StepName, Step] = Field(min_length=1, max_length=500)

    def step(self, name: str) -> StepModel:
        """The step called ``name``."""
        step: StepModel = self.steps[name]
        return step


def _close_mappings(node: Any) -> None:
    """Mappings keyed by a pattern (steps, options, set) accept no other keys."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for child in node.values():
            _close_mappings(child)
    elif isinstance(node, list):
        for child in node:
            _close_mappings(child)


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the workflow file format."""
    schema = WorkflowSpec.model_json_schema()
    _close_mappings(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://ringflow.dev/schema/workflow.json"
    return schema
