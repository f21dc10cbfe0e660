"""Reading workflow files: YAML 1.2 habits, line numbers, and no alias bombs."""

from __future__ import annotations

import pytest

from workflows.problems import WorkflowInvalid
from workflows.source import parse


def test_keys_are_text_and_only_true_false_are_booleans() -> None:
    document = parse("options:\n  1: sales\n  01: support\non: yes\nok: true\n", "f.yaml")
    assert document.data == {
        "options": {"1": "sales", "01": "support"},
        "on": "yes",
        "ok": True,
    }
    assert document.lines[("options", "01")] == 3
    assert document.line_of(("options", "01", "missing")) == 3


def test_a_key_written_twice_is_an_error_with_its_line() -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        parse("steps:\n  a: 1\n  a: 2\n", "f.yaml")
    assert raised.value.messages() == ["f.yaml:3: key 'a' is written twice"]


def test_a_file_that_expands_to_billions_of_values_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 12):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    with pytest.raises(WorkflowInvalid, match="expands to more than 100000 values"):
        parse("\n".join(lines) + "\n", "bomb.yaml")


def test_deep_nesting_is_refused_cleanly() -> None:
    with pytest.raises(WorkflowInvalid, match="nested too deeply"):
        parse("a: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml")


def test_merge_keys_still_work() -> None:
    document = parse("base: &base {timeout: 5}\nmenu: {<<: *base, say: hi}\n")
    assert document.data["menu"] == {"timeout": 5, "say": "hi"}


def test_json_duplicates_and_tab_indentation_keep_their_lines() -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        parse('{\n\t"id": "x",\n\t"id": "y"\n}\n', "f.json")
    assert raised.value.messages() == ["f.json:3: key 'id' is written twice"]
    assert parse('{\n\t"steps": {\n\t\t"a": 1\n\t}\n}\n', "t.json").lines[("steps", "a")] == 3


def test_json_errors_name_the_line() -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        parse('{\n  "id": "x",\n  "steps": {,}\n}\n', "f.json")
    assert raised.value.messages()[0].startswith("f.json:3: not valid JSON:")
