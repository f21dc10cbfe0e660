"""``ringflow diagram``: draw a workflow file (or a recipe, with sample values) as SVG,
offline, the same picture as ``GET /api/workflows/{id}/diagram.svg``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ringflow.cli.common import Commands, add_command
from workflows.diagram import DiagramError, diagram, parse_for_diagram, render_svg
from workflows.problems import Problem, WorkflowInvalid
from workflows.recipes import load_recipe, sample_definition
from workflows.source import Document, parse


def add_to(commands: Commands) -> None:
    """Add ``diagram``."""
    command = add_command(
        commands,
        "diagram",
        summary="draw a workflow file as an SVG diagram (offline)",
        description=(
            "Draw a workflow file as an SVG diagram on standard output: every step a node\n"
            "with its kind and words, every transition an edge labelled with its key or\n"
            "outcome, the start marked, problems (unreachable steps, loops with no exit)\n"
            "in red on their steps and listed on standard error. A recipe file is drawn\n"
            "with sample parameter values. Needs Graphviz (Debian package graphviz)."
        ),
        examples="  $ ringflow diagram flows/main.yaml > main.svg",
        settings=False,
    )
    command.add_argument("file", metavar="FILE", help="a workflow (or recipe) file")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the diagram to standard output; exit status 1 when the file cannot be drawn."""
    path = Path(args.file)
    try:
        spec, problems = parse_for_diagram(*_definition(path))
        svg = render_svg(diagram(spec, problems))
    except WorkflowInvalid as error:
        for message in error.messages():
            print(message, file=sys.stderr)
        return 1
    except DiagramError as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem.format(str(path)), file=sys.stderr)
    sys.stdout.buffer.write(svg)
    return 0


def _definition(path: Path) -> tuple[Any, str, Document | None]:
    """The file's definition, its name, and its lines (none for a recipe: its workflow is
    rendered from sample values)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise WorkflowInvalid(str(path), [Problem((), f"cannot read the file: {reason}")]) from None
    document = parse(text, str(path))
    if isinstance(document.data, dict) and "recipe" in document.data:
        return sample_definition(load_recipe(text, str(path))), str(path), None
    return document.data, str(path), document
