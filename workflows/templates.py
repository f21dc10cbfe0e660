"""Message templates: ``{{contact.name}}``, ``{{call.from}}``, ``{{schedule.next_open}}``.

Deliberately not a template language: a template is text with placeholders that name a value
by a dotted path, optionally with a fallback after ``|`` (``{{contact.name | there}}``). There
are no expressions, filters, loops or attribute access, so no code can run and no object can
be reached that the caller did not put in the context. Templates are parsed once, when the
workflow is loaded; an unknown root name is an error then, not a blank in a customer's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


class TemplateError(ValueError):
    """A template cannot be parsed; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    """``{{path | fallback}}``."""

    path: tuple[str, ...]
    fallback: str


@dataclass(frozen=True, slots=True)
class Template:
    """Parsed text: literal strings and placeholders in order."""

    parts: tuple[str | Placeholder, ...]

    @classmethod
    def parse(cls, text: str, roots: Iterable[str] | None = None) -> Template:
        """Parse ``text``; with ``roots``, a placeholder must start with one of them."""
        allowed = set(roots) if roots is not None else None
        parts: list[str | Placeholder] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append(text[position : match.start()])
            parts.append(_placeholder(match, allowed))
            position = match.end()
        rest = text[position:]
        if "{{" in rest or "}}" in rest:
            where = rest.find("{{") if "{{" in rest else rest.find("}}")
            column = position + where + 1
            raise TemplateError(f"column {column}: '{{{{' and '}}}}' must come in pairs")
        parts.append(rest)
        return cls(tuple(part for part in parts if part != ""))

    @property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        """Every path the template reads."""
        return tuple(part.path for part in self.parts if isinstance(part, Placeholder))

    def render(self, context: Mapping[str, Any]) -> str:
        """The text with each placeholder replaced by its value, or its fallback when the
        value is missing or empty."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = _lookup(context, part.path)
            out.append(part.fallback if value in (None, "") else _as_text(value))
        return "".join(out)


def _placeholder(match: re.Match[str], allowed: set[str] | None) -> Placeholder:
    inside = match.group(1)
    path_text, bar, fallback = inside.partition("|")
    path_text = path_text.strip()
    column = match.start() + 1
    if "{{" in inside:
        raise TemplateError(f"column {column}: '{{{{' inside a placeholder")
    if not _PATH.fullmatch(path_text):
        raise TemplateError(
            f"column {column}: {{{{{inside}}}}} must name a value such as {{{{contact.name}}}}"
        )
    path = tuple(path_text.split("."))
    if allowed is not None and path[0] not in allowed:
        names = ", ".join(sorted(allowed))
        raise TemplateError(f"column {column}: unknown name {path[0]!r}: use one of {names}")
    return Placeholder(path, fallback.strip() if bar else "")


def _lookup(context: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = context
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list | tuple) and all(
        isinstance(item, str | int | float) and not isinstance(item, bool) for item in value
    ):
        return ", ".join(str(item) for item in value)  # the keys pressed: "1, 3"
    return ""  # mappings and nested lists are not text: never print a structure into a message
