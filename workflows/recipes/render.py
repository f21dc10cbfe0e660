"""Recipe parameters and the substitution of ``{{name}}`` placeholders in a parsed workflow.

Deliberately not a template language: a placeholder names one declared parameter
(``{{agents}}``), nothing else. A string that is exactly a placeholder becomes the parameter's
typed value (a number stays a number, ``phones`` a list); a placeholder inside a longer string,
or in a mapping key, becomes the value's text. Only bare names count as recipe placeholders:
runtime templates always name a dotted path (``{{call.from}}``, ``{{contact.name | there}}``)
and are left exactly as written. The substitution is one pass: a parameter's value is never
searched for placeholders again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from workflows.names import E164_NUMBER, SCHEDULE_NAME, WORKFLOW_ID

ParameterType = Literal[
    "text", "number", "phone", "phones", "texts", "boolean", "schedule", "choice"
]
PARAMETER_TYPES: tuple[str, ...] = (
    "text",
    "number",
    "phone",
    "phones",
    "texts",
    "boolean",
    "schedule",
    "choice",
)
RECIPE_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
"""``{{name}}``: a bare name, no dot, no fallback (runtime templates always have a dot)."""
PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
WORKFLOW_ID_PARAMETER = "workflow_id"
MAX_TEXT = 4096
MAX_LIST = 50
MAX_PHONES = 10
MAX_LIST_ITEM = 200
_E164 = re.compile(E164_NUMBER)
_SCHEDULE = re.compile(SCHEDULE_NAME)
_WORKFLOW_ID = re.compile(WORKFLOW_ID)

Path = tuple[str | int, ...]


class ParameterError(ValueError):
    """A value a parameter does not take; the message says why (never echoes the value)."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """One declared parameter of a recipe."""

    name: str
    type: str
    description: str
    has_default: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    pattern: str | None = None

    @property
    def required(self) -> bool:
        return not self.has_default

    @property
    def nullable(self) -> bool:
        """Optional with ``default: null``: may be left unset (only as a whole value)."""
        return self.has_default and self.default is None

    def check(self, value: Any, schedules: Sequence[str] | None = None) -> Any:
        """``value`` as this parameter takes it; ``ParameterError`` otherwise. With
        ``schedules``, a schedule must be one of them."""
        if value is None:
            if self.nullable:
                return None
            raise ParameterError("must not be null")
        checked = _CHECKS[self.type](self, value)
        if self.type == "schedule" and schedules is not None and checked not in schedules:
            known = ", ".join(sorted(schedules)) or "none"
            raise ParameterError(f"unknown schedule {checked!r} (schedules: {known})")
        return checked


def _text(parameter: Parameter, value: Any) -> str:
    if not isinstance(value, str):
        raise ParameterError("must be a text")
    if parameter.pattern is not None and not re.fullmatch(parameter.pattern, value):
        raise ParameterError(
            "must be 1 to 64 lower-case letters, digits, - or _, not starting with - or _"
        )
    low = int(parameter.min) if parameter.min is not None else 1
    high = int(parameter.max) if parameter.max is not None else MAX_TEXT
    if not value.strip():
        raise ParameterError("must not be empty")
    if not low <= len(value) <= high:
        raise ParameterError(f"must be {low} to {high} characters long")
    return value


def _number(parameter: Parameter, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError("must be a finite number")
    if parameter.min is not None and value < parameter.min:
        raise ParameterError(f"must be at least {_number_text(parameter.min)}")
    if parameter.max is not None and value > parameter.max:
        raise ParameterError(f"must be at most {_number_text(parameter.max)}")
    return value


def _phone(parameter: Parameter, value: Any) -> str:
    if not isinstance(value, str) or not _E164.fullmatch(value):
        raise ParameterError("must be a phone number in E.164 form, such as +15550001111")
    return value


def _count(parameter: Parameter, value: Any, low: int, high: int, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ParameterError(f"must be a list of {what}")
    low = int(parameter.min) if parameter.min is not None else low
    high = int(parameter.max) if parameter.max is not None else high
    if not low <= len(value) <= high:
        raise ParameterError(f"must hold {low} to {high} {what}")
    return value


def _phones(parameter: Parameter, value: Any) -> list[str]:
    items = _count(parameter, value, 0, MAX_PHONES, "phone numbers")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not _E164.fullmatch(item):
            raise ParameterError(
                f"item {index}: must be a phone number in E.164 form, such as +15550001111"
            )
    if len(set(items)) != len(items):
        raise ParameterError("lists a number twice")
    return list(items)


def _texts(parameter: Parameter, value: Any) -> list[str]:
    items = _count(parameter, value, 1, MAX_LIST, "texts")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_LIST_ITEM:
            raise ParameterError(f"item {index}: must be a text of 1 to {MAX_LIST_ITEM} characters")
    return list(items)


def _boolean(parameter: Parameter, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParameterError("must be true or false")
    return value


def _schedule(parameter: Parameter, value: Any) -> str:
    if not isinstance(value, str) or not _SCHEDULE.fullmatch(value):
        raise ParameterError("must be a schedule name: lower-case letters, digits, - and _")
    return value


def _choice(parameter: Parameter, value: Any) -> str:
    if not isinstance(value, str) or value not in parameter.choices:
        raise ParameterError(f"must be one of {', '.join(parameter.choices)}")
    return value


_CHECKS: dict[str, Callable[[Parameter, Any], Any]] = {
    "text": _text,
    "number": _number,
    "phone": _phone,
    "phones": _phones,
    "texts": _texts,
    "boolean": _boolean,
    "schedule": _schedule,
    "choice": _choice,
}

WORKFLOW_ID_SPEC = Parameter(
    name=WORKFLOW_ID_PARAMETER,
    type="text",
    description=(
        "The id of the installed workflow: 1 to 64 lower-case letters, digits, - and _,"
        " starting with a letter or digit."
    ),
    min=1,
    max=64,
    pattern=WORKFLOW_ID,
)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def as_text(value: Any) -> str:
    """How a typed value reads inside a longer text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, list):
        return ", ".join(as_text(item) for item in value)
    if value is None:
        raise ParameterError("an unset value cannot be part of a text")
    return str(value)


def sample_value(parameter: Parameter) -> Any:
    """A value the parameter takes, to check a recipe when it is loaded."""
    if parameter.has_default and parameter.default is not None:
        return parameter.default
    low = int(parameter.min) if parameter.min is not None else None
    samples: dict[str, Any] = {
        "text": "Example" if low is None or low <= 7 else "x" * low,
        "number": parameter.min if parameter.min is not None else 1,
        "phone": "+15550001111",
        "phones": [f"+1555000111{index}" for index in range(max(1, low or 0))],
        "texts": ["example"] * 1,
        "boolean": True,
        "schedule": "office",
        "choice": parameter.choices[0] if parameter.choices else "",
    }
    return samples[parameter.type]


def placeholders(text: str) -> list[str]:
    """The recipe parameters ``text`` names, in order."""
    return [match.group(1) for match in RECIPE_PLACEHOLDER.finditer(text)]


def walk_strings(tree: Any, path: Path = ()) -> list[tuple[Path, str, bool]]:
    """Every string of ``tree``: (path, text, is_key)."""
    found: list[tuple[Path, str, bool]] = []
    if isinstance(tree, str):
        found.append((path, tree, False))
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            if isinstance(key, str):
                found.append(((*path, key), key, True))
            found.extend(walk_strings(value, (*path, str(key))))
    elif isinstance(tree, list | tuple):
        for index, item in enumerate(tree):
            found.extend(walk_strings(item, (*path, index)))
    return found


@dataclass
class Rendered:
    """A rendered workflow and which parameter each substituted path came from."""

    data: Any
    origins: dict[Path, str] = field(default_factory=dict)

    def origin_of(self, path: Sequence[str | int]) -> str | None:
        """The parameter that produced ``path`` or the value holding it, if any."""
        for end in range(len(path), -1, -1):
            name = self.origins.get(tuple(path[:end]))
            if name is not None:
                return name
        return None


class DuplicateKey(ParameterError):
    """Two keys of one mapping read the same once their placeholders are substituted."""


def render(tree: Any, values: Mapping[str, Any]) -> Rendered:
    """``tree`` with every ``{{name}}`` of ``values`` substituted (see the module docstring).

    Placeholders that ``values`` does not name are an error (``KeyError``); unknown ones must
    have been rejected when the recipe was loaded.
    """
    rendered = Rendered(None)
    rendered.data = _render(tree, values, (), rendered.origins)
    return rendered


def _render(tree: Any, values: Mapping[str, Any], path: Path, origins: dict[Path, str]) -> Any:
    if isinstance(tree, str):
        return _render_text(tree, values, path, origins, whole=True)
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            new_key = _render_text(str(key), values, (*path, str(key)), origins, whole=False)
            if new_key in out:
                raise DuplicateKey(f"{'.'.join(map(str, path))}: the key {new_key!r} twice")
            out[new_key] = _render(value, values, (*path, new_key), origins)
        return out
    if isinstance(tree, list | tuple):
        return [_render(item, values, (*path, index), origins) for index, item in enumerate(tree)]
    return tree


def _render_text(
    text: str, values: Mapping[str, Any], path: Path, origins: dict[Path, str], *, whole: bool
) -> Any:
    names = placeholders(text)
    if not names:
        return text
    if whole:
        match = RECIPE_PLACEHOLDER.fullmatch(text)
        if match is not None:
            name = match.group(1)
            origins[path] = name
            value = values[name]
            return list(value) if isinstance(value, list) else value
    result = RECIPE_PLACEHOLDER.sub(lambda match: as_text(values[match.group(1)]), text)
    target = path if whole else (*path[:-1], result)
    origins[target] = names[0]
    return result
