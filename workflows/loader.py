"""Turn workflow text into a validated ``Workflow``, or every problem with file, line and path."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from workflows.checks import check_graph
from workflows.conditions import FILTER_KINDS
from workflows.conditions.errors import _echo as filter_echo
from workflows.conditions.errors import _location as filter_location
from workflows.conditions.errors import _message as filter_message
from workflows.names import PATTERN_MESSAGES
from workflows.problems import Path, Problem, WorkflowInvalid
from workflows.source import Document, parse
from workflows.spec import STEP_MODELS, WorkflowSpec

WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class Workflow:
    """A validated workflow definition and the digest that identifies this exact version."""

    spec: WorkflowSpec
    digest: str
    source: str | None = None

    @property
    def id(self) -> str:
        """The workflow's id."""
        return self.spec.id

    def definition(self) -> dict[str, Any]:
        """The definition as plain data, as it is stored (JSON-compatible)."""
        return self.spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def _location(loc: tuple[int | str, ...]) -> Path:
    # A tagged union puts the step kind into the location (steps.main.menu.menu.options);
    # drop it so that paths match what the author wrote. A bad mapping key is reported at
    # the key itself, not at pydantic's "[key]" marker.
    if len(loc) >= 3 and loc[0] == "steps" and loc[2] in STEP_MODELS:
        loc = (*loc[:2], *loc[3:])
    if loc[:2] == ("trigger", "when"):
        return filter_location(loc[2:], ("trigger", "when"), FILTER_KINDS)
    return tuple(part for part in loc if part != "[key]")


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        described = PATTERN_MESSAGES.get(pattern)
        message = described if described is not None else f"does not match {pattern}"
    else:
        message = error["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
    if "[key]" in error["loc"]:
        return f"bad key: {message}"
    return message


def from_data(data: Any, source: str | None = None, document: Document | None = None) -> Workflow:
    """Validate already-parsed ``data``; raise ``WorkflowInvalid`` listing every problem."""
    line_of = document.line_of if document is not None else (lambda _path: None)
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as error:
        problems = []
        details = error.errors()
        for detail in details:
            path = _location(detail["loc"])
            if path[:2] == ("trigger", "when"):
                if filter_echo(detail, details):
                    continue  # an empty list only because its items failed: those say why
                message = filter_message(detail)
            else:
                message = _message(detail)
            problems.append(Problem(path, message, line_of(path)))
        raise WorkflowInvalid(source, problems) from None
    graph_problems = sorted(
        (Problem(p.path, p.message, line_of(p.path)) for p in check_graph(spec)),
        key=lambda problem: problem.line or 0,
    )
    if graph_problems:
        raise WorkflowInvalid(source, graph_problems)
    canonical = json.dumps(
        spec.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return Workflow(spec=spec, digest=digest, source=source)


def from_text(text: str, source: str | None = None, *, fmt: str | None = None) -> Workflow:
    """Parse and validate a YAML or JSON workflow."""
    document = parse(text, source, fmt=fmt)
    return from_data(document.data, source, document)


def from_file(path: FsPath) -> Workflow:
    """Read, parse and validate one workflow file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise WorkflowInvalid(str(path), [Problem((), f"cannot read the file: {reason}")]) from None
    return from_text(text, str(path))


def from_folder(folder: FsPath) -> list[Workflow]:
    """Every workflow file in ``folder`` (not recursive), sorted by name.

    Raises ``WorkflowInvalid`` for the first bad file, and for two files with the same id.
    """
    workflows: list[Workflow] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in WORKFLOW_SUFFIXES or not path.is_file():
            continue
        workflow = from_file(path)
        if workflow.id in seen:
            problem = Problem(("id",), f"id {workflow.id!r} is already used by {seen[workflow.id]}")
            raise WorkflowInvalid(str(path), [problem])
        seen[workflow.id] = path.name
        workflows.append(workflow)
    return workflows
