"""Filters: the ``when`` conditions of a workflow trigger, compiled once into checks.

A filter is a mapping with exactly one *kind* key, as a step is::

    when:
      all:
        - open: office
        - contact: {attribute: tier, in: [VIP, Gold]}
        - not: {contact: {attribute: member, eq: true}}
        - any: [{keywords: [refund, "구독 해지"]}, {channel: sms}]

:func:`parse_filter` validates the data an admin wrote (``FilterInvalid`` lists every problem
with its path); :func:`compile_filter` turns the validated tree into one ``Check``, a closure
over closures, checking once that every schedule it names exists; :func:`explain` says which
sub-filters failed for a context and why (for logs, not the hot path). Every kind is one row
of ``FILTER_KINDS``: its model, its compiler and its failure wording. The language is
documented in ``docs/filters.md``. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from workflows.problems import Path, Problem, WorkflowInvalid, dotted
from workflows.schedules import Schedule
from workflows.schedules.spec import WEEKDAYS, Weekday
from workflows.steps.base import CHAT, SMS, VOICE
from workflows.steps.names import E164, PATTERN_MESSAGES, VAR_NAME

__all__ = [
    "CALL_OUTCOMES",
    "CHANNELS",
    "FILTER_KINDS",
    "Check",
    "Filter",
    "FilterContext",
    "FilterInvalid",
    "FilterKind",
    "FilterModel",
    "compile_filter",
    "explain",
    "filter_json_schema",
    "keyword_matcher",
    "normalize_text",
    "parse_filter",
]

CHANNELS = (VOICE, SMS, CHAT)
CALL_OUTCOMES = ("answered", "missed", "ended", "after_hours", "voicemail")
ROOT: Path = ("when",)
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_FILTER_PATTERN_MESSAGES = {
    VAR_NAME: "must be an attribute name: a letter or _, then letters, digits or _ (64 at most)",
}


class FilterInvalid(WorkflowInvalid):
    """A filter has problems (bad shape, unknown schedules); ``problems`` lists every one."""


@dataclass(frozen=True, slots=True)
class FilterContext:
    """What a filter can look at: the moment, the channel, the message, the contact.

    ``now`` is timezone-aware; ``contact`` holds the contact's attributes (its name under
    ``"name"``); ``schedules`` are the compiled schedules by name.
    """

    now: datetime
    channel: str
    called: str | None = None
    text: str | None = None
    contact: Mapping[str, object] = field(default_factory=dict)
    outcome: str | None = None
    duration: int | None = None
    schedules: Mapping[str, Schedule] = field(default_factory=dict)


Check = Callable[[FilterContext], bool]


# --- value types -------------------------------------------------------------------------


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"must be text, a number or true/false, not {value!r}")


def _choice(what: str, options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"unknown {what} {value!r}: use {_words(options, 'or')}")
        return str(value)

    return check


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str | int | float | bool) else value


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


def _clock(value: Any, *, is_end: bool) -> int:
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"must be a time such as '09:00', not {value!r}")
    hours, minutes = int(match[1]), int(match[2])
    if (hours, minutes) == (24, 0) and is_end:
        return 24 * 60
    if hours > 23 or minutes > 59:
        end = ", or 24:00" if is_end else ""
        raise ValueError(f"bad time '{value}': use 00:00 to 23:59{end}")
    return hours * 60 + minutes


Scalar = Annotated[
    str | int | float | bool,
    PlainValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]
Channel = Annotated[
    str, PlainValidator(_choice("channel", CHANNELS)), WithJsonSchema({"enum": list(CHANNELS)})
]
Outcome = Annotated[
    str,
    PlainValidator(_choice("call outcome", CALL_OUTCOMES)),
    WithJsonSchema({"enum": list(CALL_OUTCOMES)}),
]
AttributeName = Annotated[str, StringConstraints(pattern=VAR_NAME)]
ScheduleName = Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
Keyword = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)]
TimeText = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["09:00"]})
]


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


if TYPE_CHECKING:
    Channels = tuple[str, ...]
    Outcomes = tuple[str, ...]
    Numbers = tuple[str, ...]
    Keywords = tuple[str, ...]
else:
    Channels = _many(Channel)
    Outcomes = _many(Outcome)
    Numbers = _many(E164)
    Keywords = _many(Keyword)


# --- models ------------------------------------------------------------------------------


class Strict(BaseModel):
    """Filter models reject unknown keys and are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FilterModel(Strict):
    """One filter: a single kind key holding the kind's parameters."""

    kind_name: ClassVar[str]


class ContactTest(Strict):
    """A test on one contact attribute: exactly one of eq, in, contains, exists."""

    attribute: AttributeName
    eq: Scalar | None = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in", min_length=1)
    contains: Scalar | None = None
    exists: StrictBool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> ContactTest:
        given = self._given()
        if not given:
            raise ValueError("needs one test: eq, in, contains or exists")
        if len(given) > 1:
            raise ValueError(
                f"use only one of eq, in, contains or exists, not {_words(given, 'and')}"
            )
        return self

    def _given(self) -> list[str]:
        return [name for name, key in _CONTACT_FIELDS.items() if getattr(self, key) is not None]


_CONTACT_FIELDS = {"eq": "eq", "in": "in_", "contains": "contains", "exists": "exists"}


class TimeWindow(Strict):
    """Days of the week and an optional local time window, read in ``timezone``."""

    days: Annotated[tuple[Weekday, ...], Field(min_length=1)] = WEEKDAYS
    from_: TimeText | None = Field(default=None, alias="from")
    to: TimeText | None = None
    timezone: StrictStr

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return _zone(name)

    @field_validator("from_")
    @classmethod
    def _start(cls, value: str) -> str:
        _clock(value, is_end=False)
        return value

    @field_validator("to")
    @classmethod
    def _end(cls, value: str) -> str:
        _clock(value, is_end=True)
        return value

    @model_validator(mode="after")
    def _both_ends(self) -> TimeWindow:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("give both from and to, or neither")
        if self.minutes is not None and self.minutes[0] == self.minutes[1] % (24 * 60):
            raise ValueError("from and to are the same time (leave both out for whole days)")
        return self

    @property
    def minutes(self) -> tuple[int, int] | None:
        """``(from, to)`` in minutes after local midnight, or None for whole days."""
        if self.from_ is None or self.to is None:
            return None
        return _clock(self.from_, is_end=False), _clock(self.to, is_end=True)


class DurationRange(Strict):
    """Bounds in seconds, both inclusive; at least one."""

    min: StrictInt | None = Field(default=None, ge=0)
    max: StrictInt | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> DurationRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both (seconds)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class AllFilter(FilterModel):
    kind_name: ClassVar[str] = "all"
    all: tuple[Filter, ...] = Field(min_length=1, description="every filter matches")


class AnyFilter(FilterModel):
    kind_name: ClassVar[str] = "any"
    any: tuple[Filter, ...] = Field(min_length=1, description="at least one filter matches")


class NotFilter(FilterModel):
    kind_name: ClassVar[str] = "not"
    not_: Filter = Field(alias="not", description="the filter does not match")


class OpenFilter(FilterModel):
    kind_name: ClassVar[str] = "open"
    open: ScheduleName = Field(description="the named schedule is open now")


class ClosedFilter(FilterModel):
    kind_name: ClassVar[str] = "closed"
    closed: ScheduleName = Field(description="the named schedule is closed now")


class ContactFilter(FilterModel):
    kind_name: ClassVar[str] = "contact"
    contact: ContactTest


class KeywordsFilter(FilterModel):
    kind_name: ClassVar[str] = "keywords"
    keywords: Keywords = Field(description="the message contains one of these words or phrases")

    @field_validator("keywords")
    @classmethod
    def _not_blank(cls, keywords: tuple[str, ...]) -> tuple[str, ...]:
        if any(not normalize_text(keyword) for keyword in keywords):
            raise ValueError("a keyword cannot be blank")
        return keywords


class ChannelFilter(FilterModel):
    kind_name: ClassVar[str] = "channel"
    channel: Channels = Field(description="the conversation is on one of these channels")


class CalledFilter(FilterModel):
    kind_name: ClassVar[str] = "called"
    called: Numbers = Field(description="the number called or texted is one of these (E.164)")


class TimeFilter(FilterModel):
    kind_name: ClassVar[str] = "time"
    time: TimeWindow


class OutcomeFilter(FilterModel):
    kind_name: ClassVar[str] = "outcome"
    outcome: Outcomes = Field(description="the call ended with one of these outcomes")


class DurationFilter(FilterModel):
    kind_name: ClassVar[str] = "duration"
    duration: DurationRange


# --- compiling and explaining -----------------------------------------------------------


@dataclass
class _Compiler:
    """Compiles a tree, collecting unknown schedules (``None``: do not check names)."""

    schedule_names: Collection[str] | None
    problems: list[Problem] = field(default_factory=list)

    def compile(self, spec: FilterModel, path: Path) -> Check:
        return FILTER_KINDS[spec.kind_name].compile(spec, (*path, spec.kind_name), self)

    def schedule(self, name: str, path: Path) -> None:
        if self.schedule_names is not None and name not in self.schedule_names:
            self.problems.append(Problem(path, f"unknown schedule {name!r}"))


Compile = Callable[[Any, Path, _Compiler], Check]
Explain = Callable[[Any, FilterContext, Path], list[str]]


@dataclass(frozen=True, slots=True)
class FilterKind:
    """One kind of filter: its model, how it compiles, and how it explains a failure."""

    name: str
    model: type[FilterModel]
    compile: Compile
    explain: Explain
    summary: str


def _leaf(compile_: Compile, reason: Callable[[Any, FilterContext], str]) -> Explain:
    def explain_leaf(spec: Any, ctx: FilterContext, path: Path) -> list[str]:
        if compile_(spec, path, _Compiler(None))(ctx):
            return []
        return [f"{dotted(path)}: {reason(spec, ctx)}"]

    return explain_leaf


def _explain(spec: FilterModel, ctx: FilterContext, path: Path) -> list[str]:
    return FILTER_KINDS[spec.kind_name].explain(spec, ctx, (*path, spec.kind_name))


def _words(items: Collection[object], last: str = "or") -> str:
    shown = [_plain(item) for item in items]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} {last} {shown[-1]}"


def _plain(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _show(value: object) -> str:
    if isinstance(value, bool):
        return _plain(value)
    return repr(value)


# all / any / not


def _compile_all(spec: AllFilter, path: Path, compiler: _Compiler) -> Check:
    checks = tuple(compiler.compile(child, (*path, i)) for i, child in enumerate(spec.all))

    def check_all(ctx: FilterContext) -> bool:
        return all(check(ctx) for check in checks)

    return check_all


def _explain_all(spec: AllFilter, ctx: FilterContext, path: Path) -> list[str]:
    return [line for i, child in enumerate(spec.all) for line in _explain(child, ctx, (*path, i))]


def _compile_any(spec: AnyFilter, path: Path, compiler: _Compiler) -> Check:
    checks = tuple(compiler.compile(child, (*path, i)) for i, child in enumerate(spec.any))

    def check_any(ctx: FilterContext) -> bool:
        return any(check(ctx) for check in checks)

    return check_any


def _explain_any(spec: AnyFilter, ctx: FilterContext, path: Path) -> list[str]:
    lines = [[*_explain(child, ctx, (*path, i))] for i, child in enumerate(spec.any)]
    return [] if any(not child for child in lines) else [line for child in lines for line in child]


def _compile_not(spec: NotFilter, path: Path, compiler: _Compiler) -> Check:
    inner = compiler.compile(spec.not_, path)

    def check_not(ctx: FilterContext) -> bool:
        return not inner(ctx)

    return check_not


def _explain_not(spec: NotFilter, ctx: FilterContext, path: Path) -> list[str]:
    if _explain(spec.not_, ctx, path):
        return []
    return [f"{dotted(path)}: the filter inside matched"]


# open / closed


def _compile_open(spec: OpenFilter, path: Path, compiler: _Compiler) -> Check:
    name = spec.open
    compiler.schedule(name, path)

    def check_open(ctx: FilterContext) -> bool:
        schedule = ctx.schedules.get(name)
        return schedule is not None and schedule.is_open(ctx.now)

    return check_open


def _compile_closed(spec: ClosedFilter, path: Path, compiler: _Compiler) -> Check:
    name = spec.closed
    compiler.schedule(name, path)

    def check_closed(ctx: FilterContext) -> bool:
        schedule = ctx.schedules.get(name)
        return schedule is not None and not schedule.is_open(ctx.now)

    return check_closed


def _schedule_reason(name: str, ctx: FilterContext, state: str) -> str:
    if name not in ctx.schedules:
        return f"schedule {name!r} is not defined"
    return f"schedule {name!r} is {state}"


def _why_not_open(spec: OpenFilter, ctx: FilterContext) -> str:
    return _schedule_reason(spec.open, ctx, "closed")


def _why_not_closed(spec: ClosedFilter, ctx: FilterContext) -> str:
    return _schedule_reason(spec.closed, ctx, "open")


# contact


def _same(value: object, wanted: object) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value is wanted
    if isinstance(value, str) and isinstance(wanted, str):
        return value.casefold() == wanted.casefold()
    if isinstance(value, int | float) and isinstance(wanted, int | float):
        return value == wanted
    return False


def _contains(value: object, wanted: object) -> bool:
    if isinstance(value, str):
        return isinstance(wanted, str) and wanted.casefold() in value.casefold()
    if isinstance(value, list | tuple | set | frozenset):
        return any(_same(item, wanted) for item in value)
    return False


def _contact_test(test: ContactTest) -> Callable[[object], bool]:
    if test.eq is not None:
        wanted = test.eq
        return lambda value: _same(value, wanted)
    if test.in_ is not None:
        options = test.in_
        return lambda value: any(_same(value, option) for option in options)
    if test.contains is not None:
        part = test.contains
        return lambda value: _contains(value, part)
    present = bool(test.exists)
    return lambda value: (value is not None) is present


def _compile_contact(spec: ContactFilter, path: Path, compiler: _Compiler) -> Check:
    attribute = spec.contact.attribute
    matches = _contact_test(spec.contact)

    def check_contact(ctx: FilterContext) -> bool:
        return matches(ctx.contact.get(attribute))

    return check_contact


def _why_not_contact(spec: ContactFilter, ctx: FilterContext) -> str:
    test = spec.contact
    name = test.attribute
    value = ctx.contact.get(name)
    if test.exists is not None:
        return f"{name} is not set" if test.exists else f"{name} is set ({_show(value)})"
    if value is None:
        return f"{name} is not set"
    if test.eq is not None:
        return f"{name} is {_show(value)}, not {_show(test.eq)}"
    if test.in_ is not None:
        return f"{name} is {_show(value)}, not one of {', '.join(map(_plain, test.in_))}"
    return f"{name} is {_show(value)}, which does not contain {_show(test.contains)}"


# keywords

_UNSPACED_SCRIPTS = (
    "CJK",
    "HANGUL",
    "HIRAGANA",
    "KATAKANA",
    "HALFWIDTH",
    "BOPOMOFO",
    "THAI",
    "LAO",
    "KHMER",
    "MYANMAR",
    "TIBETAN",
    "YI ",
)


def normalize_text(text: str) -> str:
    """``text`` in NFKC, case-folded, with every run of whitespace made one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _unspaced(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_UNSPACED_SCRIPTS)


def keyword_matcher(keywords: Collection[str]) -> Callable[[str], bool]:
    """A test of whether a text contains one of ``keywords`` (see ``docs/filters.md``).

    Keywords written only in scripts that separate words with spaces (Latin, Cyrillic...)
    match whole words or phrases; keywords with a character of a script without reliable
    word boundaries (Korean, Japanese, Chinese, Thai...) match anywhere in the text.
    """
    words = [normalize_text(keyword) for keyword in keywords]
    spaced = [word for word in words if not any(map(_unspaced, word))]
    parts = tuple(word for word in words if any(map(_unspaced, word)))
    pattern = (
        re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, spaced)) + r")(?!\w)")
        if spaced
        else None
    )

    def matches(text: str) -> bool:
        normal = normalize_text(text)
        if pattern is not None and pattern.search(normal):
            return True
        return any(part in normal for part in parts)

    return matches


def _compile_keywords(spec: KeywordsFilter, path: Path, compiler: _Compiler) -> Check:
    matches = keyword_matcher(spec.keywords)

    def check_keywords(ctx: FilterContext) -> bool:
        return ctx.text is not None and matches(ctx.text)

    return check_keywords


def _why_not_keywords(spec: KeywordsFilter, ctx: FilterContext) -> str:
    if ctx.text is None:
        return "there is no message text"
    return f"the text has none of {', '.join(spec.keywords)}"


# channel / called / outcome


def _compile_channel(spec: ChannelFilter, path: Path, compiler: _Compiler) -> Check:
    channels = frozenset(spec.channel)

    def check_channel(ctx: FilterContext) -> bool:
        return ctx.channel in channels

    return check_channel


def _why_not_channel(spec: ChannelFilter, ctx: FilterContext) -> str:
    return f"channel is {ctx.channel!r}, not {_words(spec.channel)}"


def _compile_called(spec: CalledFilter, path: Path, compiler: _Compiler) -> Check:
    numbers = frozenset(spec.called)

    def check_called(ctx: FilterContext) -> bool:
        return ctx.called in numbers

    return check_called


def _why_not_called(spec: CalledFilter, ctx: FilterContext) -> str:
    if ctx.called is None:
        return "no called number"
    return f"called number is {ctx.called}, not {_words(spec.called)}"


def _compile_outcome(spec: OutcomeFilter, path: Path, compiler: _Compiler) -> Check:
    outcomes = frozenset(spec.outcome)

    def check_outcome(ctx: FilterContext) -> bool:
        return ctx.outcome in outcomes

    return check_outcome


def _why_not_outcome(spec: OutcomeFilter, ctx: FilterContext) -> str:
    if ctx.outcome is None:
        return "no call outcome"
    return f"outcome is {ctx.outcome!r}, not {_words(spec.outcome)}"


# time


def _compile_time(spec: TimeFilter, path: Path, compiler: _Compiler) -> Check:
    zone = ZoneInfo(spec.time.timezone)
    days = frozenset(WEEKDAYS.index(day) for day in spec.time.days)
    window = spec.time.minutes

    def check_time(ctx: FilterContext) -> bool:
        local = ctx.now.astimezone(zone)
        if window is None:
            return local.weekday() in days
        start, end = window
        minute = local.hour * 60 + local.minute
        if start < end:
            return local.weekday() in days and start <= minute < end
        yesterday = (local - timedelta(days=1)).weekday()
        return (local.weekday() in days and minute >= start) or (yesterday in days and minute < end)

    return check_time


def _why_not_time(spec: TimeFilter, ctx: FilterContext) -> str:
    time = spec.time
    local = ctx.now.astimezone(ZoneInfo(time.timezone))
    wanted = "/".join(time.days)
    if time.from_ is not None:
        wanted = f"{wanted} {time.from_}-{time.to}"
    now = WEEKDAYS[local.weekday()]
    return f"it is {now} {local:%H:%M} in {time.timezone}, not {wanted}"


# duration


def _compile_duration(spec: DurationFilter, path: Path, compiler: _Compiler) -> Check:
    low = spec.duration.min
    high = spec.duration.max

    def check_duration(ctx: FilterContext) -> bool:
        seconds = ctx.duration
        return (
            seconds is not None
            and (low is None or seconds >= low)
            and (high is None or seconds <= high)
        )

    return check_duration


def _why_not_duration(spec: DurationFilter, ctx: FilterContext) -> str:
    seconds = ctx.duration
    if seconds is None:
        return "no duration"
    low = spec.duration.min
    if low is not None and seconds < low:
        return f"duration is {seconds}s, under the minimum {low}s"
    return f"duration is {seconds}s, over the maximum {spec.duration.max}s"


# --- the registry --------------------------------------------------------------------------

FILTER_KINDS: Mapping[str, FilterKind] = {
    kind.name: kind
    for kind in (
        FilterKind("all", AllFilter, _compile_all, _explain_all, "every filter in the list"),
        FilterKind("any", AnyFilter, _compile_any, _explain_any, "at least one in the list"),
        FilterKind("not", NotFilter, _compile_not, _explain_not, "the filter does not match"),
        FilterKind(
            "open",
            OpenFilter,
            _compile_open,
            _leaf(_compile_open, _why_not_open),
            "the named schedule is open now",
        ),
        FilterKind(
            "closed",
            ClosedFilter,
            _compile_closed,
            _leaf(_compile_closed, _why_not_closed),
            "the named schedule is closed now",
        ),
        FilterKind(
            "contact",
            ContactFilter,
            _compile_contact,
            _leaf(_compile_contact, _why_not_contact),
            "a contact attribute equals, is one of, contains or exists",
        ),
        FilterKind(
            "keywords",
            KeywordsFilter,
            _compile_keywords,
            _leaf(_compile_keywords, _why_not_keywords),
            "the message text contains one of the words or phrases",
        ),
        FilterKind(
            "channel",
            ChannelFilter,
            _compile_channel,
            _leaf(_compile_channel, _why_not_channel),
            "the conversation's channel",
        ),
        FilterKind(
            "called",
            CalledFilter,
            _compile_called,
            _leaf(_compile_called, _why_not_called),
            "the number called or texted",
        ),
        FilterKind(
            "time",
            TimeFilter,
            _compile_time,
            _leaf(_compile_time, _why_not_time),
            "days of the week and a local time window",
        ),
        FilterKind(
            "outcome",
            OutcomeFilter,
            _compile_outcome,
            _leaf(_compile_outcome, _why_not_outcome),
            "how the call ended",
        ),
        FilterKind(
            "duration",
            DurationFilter,
            _compile_duration,
            _leaf(_compile_duration, _why_not_duration),
            "the call lasted between min and max seconds",
        ),
    )
}


def filter_kind_of(value: Any) -> str | None:
    """The tag of a raw filter: its single kind key, or None when it has none or several."""
    if isinstance(value, FilterModel):
        return value.kind_name
    if not isinstance(value, dict):
        return None
    kinds = [key for key in value if key in FILTER_KINDS]
    return kinds[0] if len(kinds) == 1 else None


FILTER_KIND_ERROR = "a filter needs exactly one kind key, one of: " + ", ".join(
    sorted(FILTER_KINDS)
)

if TYPE_CHECKING:
    Filter = FilterModel
else:
    Filter = Annotated[
        Union[tuple(Annotated[k.model, Tag(name)] for name, k in FILTER_KINDS.items())],  # noqa: UP007
        Discriminator(
            filter_kind_of,
            custom_error_type="filter_kind",
            custom_error_message=FILTER_KIND_ERROR,
        ),
    ]

for _model in (AllFilter, AnyFilter, NotFilter):
    _model.model_rebuild()

_ADAPTER: TypeAdapter[FilterModel] = TypeAdapter(Filter)


# --- public functions ----------------------------------------------------------------------


def _location(loc: tuple[int | str, ...], root: Path) -> Path:
    """Drop the union tags pydantic puts into locations, so paths match what was written."""
    path: list[str | int] = list(root)
    i = 0
    while i < len(loc) and loc[i] in FILTER_KINDS:
        i += 1  # the tag
        if i >= len(loc):
            break
        key = loc[i]
        path.append(key)
        i += 1
        if key in ("all", "any") and i < len(loc) and isinstance(loc[i], int):
            path.append(loc[i])
            i += 1
        elif key != "not":
            break
    path.extend(part for part in loc[i:] if part != "[key]")
    return tuple(path)


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    if kind == "too_short":
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        described = _FILTER_PATTERN_MESSAGES.get(pattern) or PATTERN_MESSAGES.get(pattern)
        return described if described is not None else f"does not match {pattern}"
    message: str = error["msg"]
    return message.removeprefix("Value error, ")


def _echo(detail: Any, details: list[Any]) -> bool:
    """A list is "too short" after validation when its items failed: report those alone."""
    loc = detail["loc"]
    return detail["type"] == "too_short" and any(
        len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in details
    )


def parse_filter(data: Any, *, source: str | None = None, path: Path = ROOT) -> FilterModel:
    """Validate the filter ``data``; raise ``FilterInvalid`` listing every problem.

    Problems are placed under ``path`` (``when`` by default): ``when.all.1.contact: ...``.
    """
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as error:
        details = error.errors()
        problems = [
            Problem(_location(detail["loc"], path), _message(detail))
            for detail in details
            if not _echo(detail, details)
        ]
        raise FilterInvalid(source, problems) from None


def compile_filter(
    spec: FilterModel,
    schedule_names: Collection[str],
    *,
    source: str | None = None,
    path: Path = ROOT,
) -> Check:
    """Compile ``spec`` once into a check; every schedule it names must be in ``schedule_names``.

    Raises ``FilterInvalid`` listing each unknown schedule with its path
    (``when.all.0.open: unknown schedule 'ofice'``). A schedule missing from a context at run
    time (it was removed since) makes ``open`` and ``closed`` false, never an error.
    """
    compiler = _Compiler(frozenset(schedule_names))
    check = compiler.compile(spec, path)
    if compiler.problems:
        raise FilterInvalid(source, compiler.problems)
    return check


def explain(spec: FilterModel, ctx: FilterContext, *, path: Path = ROOT) -> list[str]:
    """Why ``spec`` does not match ``ctx``: ``path: reason`` for each failing sub-filter.

    Empty when the filter matches. For logs and debugging: it walks the tree again.
    """
    return _explain(spec, ctx, path)


def filter_json_schema() -> dict[str, Any]:
    """JSON Schema of one filter (the value of ``when``)."""
    return _ADAPTER.json_schema()
