"""Validation errors as problems: paths as the admin wrote them, messages in plain words."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from workflows.names import PATTERN_MESSAGES, VAR_NAME
from workflows.problems import Path

_FILTER_PATTERN_MESSAGES = {
    VAR_NAME: "must be an attribute name: a letter or _, then letters, digits or _ (64 at most)",
}


def _location(loc: tuple[int | str, ...], root: Path, kinds: Collection[str]) -> Path:
    """Drop the union tags pydantic puts into locations, so paths match what was written."""
    path: list[str | int] = list(root)
    i = 0
    while i < len(loc) and loc[i] in kinds:
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
