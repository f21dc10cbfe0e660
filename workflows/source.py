"""Read workflow files (YAML or JSON) into plain data, remembering the line of every key.

YAML is read with YAML 1.2 habits: mapping keys are always text (so ``1: sales`` is the key
``"1"`` and ``on:`` stays ``"on"``), only ``true``/``false`` are booleans, and a key written
twice is an error instead of silently keeping the last.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ringflow.nesting import MAX_DEPTH, deeper_than
from workflows.problems import Path, Problem, WorkflowInvalid

MAX_NODES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKey(ConstructorError):
    """A mapping has the same key twice (PyYAML would silently keep the last)."""

    def __init__(self, key: str, mark: Mark) -> None:
        super().__init__(None, None, f"key {key!r} is written twice", mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader with text keys, strict booleans and duplicate-key errors."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        written: set[str] = set()
        for key_node, _value in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                raise ConstructorError(None, None, "a key must be plain text", key_node.start_mark)
            if key_node.value in written:
                raise DuplicateKey(key_node.value, key_node.start_mark)
            written.add(key_node.value)
        # Merged keys (`<<: *anchor`) come first; keys written beside them override them.
        self.flatten_mapping(node)
        return {
            key_node.value: self.construct_object(value_node, deep=deep)
            for key_node, value_node in node.value
        }


_BOOL_TAG = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Document:
    """A parsed file: its data and the line (1-based) where each path's key was written."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _expanded_size(node: Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for once aliases are expanded (linear time: aliases
    share their node, so each node's size is computed once)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, SequenceNode):
        size += sum(_expanded_size(item, sizes) for item in node.value)
    sizes[id(node)] = size
    return size


def _index_lines(node: Node, path: Path, lines: dict[Path, int]) -> None:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            lines[child] = key_node.start_mark.line + 1
            _index_lines(value_node, child, lines)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _index_lines(item, (*path, index), lines)


def _parse_yaml(text: str, source: str | None) -> Document:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise WorkflowInvalid(source, [Problem((), "the file is empty", 1)])
        if _expanded_size(node, {}) > MAX_NODES:
            # Aliases can make a small file stand for billions of values ("billion laughs").
            message = f"the file expands to more than {MAX_NODES} values (too many aliases)"
            raise WorkflowInvalid(source, [Problem((), message, 1)])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = " ".join(str(part) for part in (error.context, error.problem) if part)
        if not isinstance(error, DuplicateKey):
            message = f"not valid YAML: {message}"
        line = mark.line + 1 if mark else None
        raise WorkflowInvalid(source, [Problem((), message, line)]) from None
    except yaml.YAMLError as error:
        raise WorkflowInvalid(source, [Problem((), f"not valid YAML: {error}")]) from None
    except RecursionError:
        raise WorkflowInvalid(source, [Problem((), "the file is nested too deeply")]) from None
    finally:
        loader.dispose()
    lines: dict[Path, int] = {(): node.start_mark.line + 1}
    _index_lines(node, (), lines)
    return Document(data, lines)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} is written twice")
        result[key] = value
    return result


def _parse_json(text: str, source: str | None) -> Document:
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
    except RecursionError:
        raise WorkflowInvalid(source, [Problem((), "the file is nested too deeply")]) from None
    except json.JSONDecodeError as error:
        problem = Problem((), f"not valid JSON: {error.msg} (column {error.colno})", error.lineno)
        raise WorkflowInvalid(source, [problem]) from None
    except ValueError as error:
        duplicate = Problem((), str(error))
        # The YAML reader finds the same duplicate with its line.
        try:
            _parse_yaml(_as_yaml(text), source)
        except WorkflowInvalid as located:
            duplicate = located.problems[0]
        raise WorkflowInvalid(source, [duplicate]) from None
    try:
        lines = _parse_yaml(_as_yaml(text), source).lines
    except WorkflowInvalid:
        lines = {}
    return Document(data, lines)


def _as_yaml(json_text: str) -> str:
    """Valid JSON as YAML, for line numbers: a raw tab can only be white space in valid JSON
    (tabs inside strings must be escaped), but YAML refuses tabs as indentation."""
    return json_text.replace("\t", " ")


def parse(text: str, source: str | None = None, *, fmt: str | None = None) -> Document:
    """Parse ``text`` as JSON when ``fmt`` (or the source's extension) says so, else YAML."""
    if fmt is None:
        fmt = "json" if source and source.lower().endswith(".json") else "yaml"
    document = _parse_json(text, source) if fmt == "json" else _parse_yaml(text, source)
    if deeper_than(document.data):
        # Far deeper than any workflow; walking it further could exhaust the stack.
        message = f"the file is nested more than {MAX_DEPTH} levels deep"
        raise WorkflowInvalid(source, [Problem((), message)])
    return document
