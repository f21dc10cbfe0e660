"""What every filter kind shares: the context, the check, the model base, the compiler.

Each kind is a ``FilterKind`` (its model, a compiler to a ``Check`` and the wording of a
failure), defined in the module of its group and listed in ``FILTER_KINDS`` in ``__init__``.
``_Compiler`` carries the registry down the tree, so the kinds that hold other filters (all,
any, not) compile and explain them without importing the package.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, WithJsonSchema

from workflows.problems import Path, Problem, WorkflowInvalid, dotted
from workflows.schedules import OpenHours

ROOT: Path = ("when",)


class FilterInvalid(WorkflowInvalid):
    """A filter has problems (bad shape, unknown schedules); ``problems`` lists every one."""


@dataclass(frozen=True, slots=True)
class FilterContext:
    """What a filter can look at: the moment, the channel, the message, the contact.

    ``now`` is timezone-aware; ``contact`` holds the contact's attributes (its name under
    ``"name"``); ``schedules`` answer "open at this moment?" by name (compiled schedules, or
    a ``ScheduleBook.view()`` with the admins' overrides applied).
    """

    now: datetime
    channel: str
    called: str | None = None
    text: str | None = None
    contact: Mapping[str, object] = field(default_factory=dict)
    outcome: str | None = None
    duration: int | None = None
    schedules: Mapping[str, OpenHours] = field(default_factory=dict)
    conversation: Mapping[str, Any] | None = None
    """The conversation's state (status, priority, assignee, team, tags, answered), when the
    event or the run is about one."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """What an external event carried (``POST /api/events``), for the ``data`` filter."""


Check = Callable[[FilterContext], bool]


# --- value types -------------------------------------------------------------------------


def _choice(what: str, options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"unknown {what} {value!r}: use {_words(options, 'or')}")
        return str(value)

    return check


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str | int | float | bool) else value


def _many(item: Any) -> Any:
    """A non-empty tuple of ``item`` that also accepts one bare value."""
    return Annotated[
        tuple[item, ...],
        BeforeValidator(_one_or_many),
        Field(min_length=1),
        WithJsonSchema(
            {
                "anyOf": [
                    TypeAdapter(item).json_schema(),
                    {"type": "array", "items": TypeAdapter(item).json_schema(), "minItems": 1},
                ]
            }
        ),
    ]


# --- models ------------------------------------------------------------------------------


class Strict(BaseModel):
    """Filter models reject unknown keys and are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FilterModel(Strict):
    """One filter: a single kind key holding the kind's parameters."""

    kind_name: ClassVar[str]


# --- compiling and explaining -----------------------------------------------------------


@dataclass
class _Compiler:
    """Compiles a tree, collecting unknown schedules (``None``: do not check names).

    ``kinds`` is the registry (``FILTER_KINDS``): the kinds holding other filters compile and
    explain them through it.
    """

    kinds: Mapping[str, FilterKind]
    schedule_names: Collection[str] | None
    problems: list[Problem] = field(default_factory=list)

    def compile(self, spec: FilterModel, path: Path) -> Check:
        return self.kinds[spec.kind_name].compile(spec, (*path, spec.kind_name), self)

    def explain(self, spec: FilterModel, ctx: FilterContext, path: Path) -> list[str]:
        return self.kinds[spec.kind_name].explain(spec, ctx, (*path, spec.kind_name), self)

    def schedule(self, name: str, path: Path) -> None:
        if self.schedule_names is not None and name not in self.schedule_names:
            self.problems.append(Problem(path, f"unknown schedule {name!r}"))


Compile = Callable[[Any, Path, _Compiler], Check]
Explain = Callable[[Any, FilterContext, Path, _Compiler], list[str]]


@dataclass(frozen=True, slots=True)
class FilterKind:
    """One kind of filter: its model, how it compiles, and how it explains a failure."""

    name: str
    model: type[FilterModel]
    compile: Compile
    explain: Explain
    summary: str


def _leaf(compile_: Compile, reason: Callable[[Any, FilterContext], str]) -> Explain:
    def explain_leaf(spec: Any, ctx: FilterContext, path: Path, compiler: _Compiler) -> list[str]:
        if compile_(spec, path, _Compiler(compiler.kinds, None))(ctx):
            return []
        return [f"{dotted(path)}: {reason(spec, ctx)}"]

    return explain_leaf


def _words(items: Collection[object], last: str = "or") -> str:
    shown = [_plain(item) for item in items]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} {last} {shown[-1]}"


def _plain(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _show(value: object) -> str:
    if isinstance(value, bool):
        return _plain(value)
    return repr(value)
