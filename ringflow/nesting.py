"""How deeply a parsed JSON (or YAML) value nests, measured without recursion.

Python's parsers and everything that walks their output recurse once per level: a body of
``[[[[...]]]]`` a few thousand deep raises ``RecursionError`` (a 500, if nobody catches it),
and one a few hundred deep that still parses can make validation or serialisation recurse too
far later. Bodies are refused above :data:`MAX_DEPTH` levels, far more than any real one has.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["MAX_DEPTH", "deeper_than"]

MAX_DEPTH: Final = 64
"""Levels of nested objects and arrays a body may have (a workflow's steps, conditions and
their ``all``/``any``/``not`` need a few dozen at the very most)."""


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (dicts and lists, as a JSON parser makes them) nests more than
    ``limit`` levels of dicts and lists."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
