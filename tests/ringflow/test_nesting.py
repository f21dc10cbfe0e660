"""Nesting depth, counted without recursion (the values it guards against break recursion)."""

from __future__ import annotations

from typing import Any

from ringflow.nesting import MAX_DEPTH, deeper_than


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_the_limit_is_inclusive() -> None:
    assert not deeper_than(nested(MAX_DEPTH))
    assert deeper_than(nested(MAX_DEPTH + 1))
    assert not deeper_than("text")
    assert not deeper_than({"a": [1, 2, {"b": None}]}, limit=3)
    assert deeper_than({"a": [1, 2, {"b": []}]}, limit=3)


def test_a_value_far_deeper_than_the_stack_is_measured_without_recursion() -> None:
    assert deeper_than(nested(100_000))
