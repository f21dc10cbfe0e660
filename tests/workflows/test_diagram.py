"""Workflow diagrams, read back from the SVG Graphviz drew (parsed, not compared with a
golden image): every step a node with its kind and words, every written transition an edge
labelled with its key or outcome, the start marked, graph problems in red on their steps."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from workflows.checks import written_targets
from workflows.diagram import START, diagram, parse_for_diagram, render_svg

DEMO_LINE = Path(__file__).resolve().parents[2] / "workflows" / "demo" / "demo-line.yaml"
SVG = "{http://www.w3.org/2000/svg}"


def drawn(svg: bytes) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The SVG's nodes (id -> every text in it, one line each) and edges (from, to, label)."""
    root = ET.fromstring(svg)  # noqa: S314 - the diagram just drawn
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    for group in root.iter(f"{SVG}g"):
        title = group.find(f"{SVG}title")
        texts = "\n".join(t.text or "" for t in group.iter(f"{SVG}text"))
        if title is None or title.text is None:
            continue
        if group.get("class") == "node":
            nodes[title.text] = texts
        elif group.get("class") == "edge":
            tail, head = title.text.split("->")
            edges.append((tail, head, texts))
    return nodes, edges


def test_every_step_is_a_node_and_every_transition_an_edge() -> None:
    data = yaml.safe_load(DEMO_LINE.read_text())
    spec, problems = parse_for_diagram(data)
    assert problems == []
    nodes, edges = drawn(render_svg(diagram(spec)))

    assert set(nodes) == {START, *spec.steps}
    expected = [(START, spec.start, "start")]
    for name, step in spec.steps.items():
        expected += [(name, target, str(path[-1])) for path, target in written_targets(name, step)]
    assert sorted(edges) == sorted(expected)
    # The menu's options are edges labelled with their keys; each node shows its kind and words.
    assert {label for tail, _, label in edges if tail == "main"} >= {"1", "2", "0", "9"}
    assert nodes["main"].splitlines()[:3] == ["main", "[menu]", "For our opening hours, press 1."]
    assert "[send_sms]" in nodes["text_address"]


def test_problems_are_marked_on_their_steps() -> None:
    data = yaml.safe_load(
        """
id: broken
trigger: {event: call.incoming}
start: main
steps:
  main:
    menu:
      say: "Press 1 for sales."
      options: {"1": sales, "2": salse}
  sales: {say: "Sales.", next: sales_again}
  sales_again: {say: "Still sales.", next: sales}
  orphan: {say: "Nobody comes here."}
"""
    )
    spec, problems = parse_for_diagram(data)
    messages = {p.message for p in problems}
    assert "unknown step 'salse'" in messages
    nodes, edges = drawn(render_svg(diagram(spec, problems)))

    assert "⚠ unreachable from start 'main'" in nodes["orphan"]
    assert "loop with no exit" in nodes["sales"]
    assert "(no such step)" in nodes["salse"]  # the missing target, drawn dashed
    assert ("main", "salse", "2") in edges
    assert "⚠ unknown step 'salse'" in nodes["main"]  # on the step that names it
