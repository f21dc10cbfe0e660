"""A workflow as a diagram (SVG): what an admin reads instead of the YAML.

Every step is a node showing its name, its kind and its words (what it says or asks); every
transition written in the definition is an edge labelled as written: ``next``, an option's key
(``1``), an outcome (``on_no_answer``, ``on_failure``), a branch's ``else``. The start is
marked by an arrow from a dot. The graph checks' problems (:func:`workflows.checks.check_graph`:
steps unreachable from the start, loops with no exit, steps the trigger's channel cannot run)
are drawn on their nodes in red, and a transition to a step that does not exist ends on a
dashed red node named after it.

Graphviz lays it out: :func:`diagram` builds the graph with the ``graphviz`` package (the
source is data, nothing is executed) and :func:`render_svg` runs Graphviz's ``dot`` program
(Debian package ``graphviz``) on it.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Final

import graphviz
from pydantic import BaseModel, ValidationError

from workflows.checks import check_graph, written_targets
from workflows.loader import from_data
from workflows.problems import Problem
from workflows.source import Document
from workflows.spec import StepModel, WorkflowSpec

WORD_FIELDS: Final = ("say", "text", "question", "body", "note", "greeting", "message")
"""The parameters whose text a node shows, the first one set (``menu.say``, ``say.text``...)."""
WRAP: Final = 32
"""Characters per line of a node's words."""
MAX_WORDS: Final = 120
"""Longer words are cut (the YAML has them whole)."""
START: Final = "__start__"
"""The start marker's node id (step names cannot begin with an underscore twice)."""
PROBLEM_COLOUR: Final = "#c62828"


class DiagramError(RuntimeError):
    """Graphviz could not draw the diagram (``dot`` missing or failed)."""


def parse_for_diagram(
    data: Any, source: str | None = None, document: Document | None = None
) -> tuple[WorkflowSpec, list[Problem]]:
    """The definition ``data`` (already parsed YAML or JSON; ``document`` gives the lines)
    and its graph problems: a workflow whose steps and settings are valid is drawn even when
    its graph is not (the problems are what the diagram shows). Raises
    :class:`WorkflowInvalid`, as the loader words it, for the rest."""
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError:
        from_data(data, source, document)  # raises WorkflowInvalid with every problem
        raise
    line_of = document.line_of if document is not None else (lambda _path: None)
    return spec, [Problem(p.path, p.message, line_of(p.path)) for p in check_graph(spec)]


def diagram(spec: WorkflowSpec, problems: Iterable[Problem] = ()) -> graphviz.Digraph:
    """The graph of ``spec`` with ``problems`` marked on their steps (see the module
    docstring); ``.source`` is its DOT text."""
    by_step: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        if len(problem.path) >= 2 and problem.path[0] == "steps":
            by_step[str(problem.path[1])].append(problem.message)
    graph = graphviz.Digraph(
        name=spec.id,
        graph_attr={"rankdir": "TB", "fontname": "Helvetica", "nodesep": "0.4"},
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": "#f5f7fa",
            "fontname": "Helvetica",
        },
        edge_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    graph.attr(label=spec.name or spec.id, labelloc="t", fontsize="16")
    graph.node(START, label="", shape="circle", width="0.2", fillcolor="black", style="filled")
    graph.edge(START, spec.start, label="start")
    missing: set[str] = set()
    for name, step in spec.steps.items():
        _add_step(graph, name, step, by_step.get(name, ()))
        for path, target in written_targets(name, step):
            graph.edge(name, target, label=str(path[-1]))
            if target not in spec.steps:
                missing.add(target)
    if spec.start not in spec.steps:
        missing.add(spec.start)
    for target in sorted(missing):
        graph.node(
            target,
            label=f"{target}\n(no such step)",
            color=PROBLEM_COLOUR,
            fontcolor=PROBLEM_COLOUR,
            style="dashed",
        )
    return graph


def render_svg(graph: graphviz.Digraph) -> bytes:
    """``graph`` laid out by ``dot``, as SVG. Raises :class:`DiagramError`."""
    try:
        svg: bytes = graphviz.pipe("dot", "svg", graph.source.encode(), quiet=True)
    except graphviz.ExecutableNotFound:
        raise DiagramError("Graphviz is not installed (Debian package graphviz)") from None
    except graphviz.CalledProcessError as error:
        raise DiagramError(f"Graphviz failed: {error.stderr!r}") from None
    return svg


def _add_step(graph: graphviz.Digraph, name: str, step: StepModel, problems: Sequence[str]) -> None:
    lines = [name, f"[{step.kind_name}]"]
    words = _words(step.params)
    if words:
        lines.extend(textwrap.wrap(_cut(words), WRAP))
    attributes: dict[str, str] = {}
    if problems:
        lines.extend(f"⚠ {line}" for p in problems for line in textwrap.wrap(p, WRAP))
        attributes = {"color": PROBLEM_COLOUR, "fontcolor": PROBLEM_COLOUR, "penwidth": "2"}
    graph.node(name, label="\n".join(lines), **attributes)


def _words(params: BaseModel) -> str:
    """The first text a step says or asks, looking into nested settings (a ``record``'s
    ``say``); a menu shows its options' labels too."""
    for field in WORD_FIELDS:
        value = getattr(params, field, None)
        if isinstance(value, str) and value:
            return value + _option_labels(params)
    for value in params:
        inner = value[1]
        if isinstance(inner, BaseModel):
            found = _words(inner)
            if found:
                return found
    return _option_labels(params).strip()


def _option_labels(params: BaseModel) -> str:
    options = getattr(params, "options", None)
    if not isinstance(options, dict):
        return ""
    labels = [
        f"{key}: {option.label}"
        for key, option in options.items()
        if isinstance(getattr(option, "label", None), str)
    ]
    return (" (" + "; ".join(labels) + ")") if labels else ""


def _cut(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_WORDS else flat[: MAX_WORDS - 1] + "…"
