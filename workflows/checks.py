"""Checks on a workflow's graph of steps that a schema cannot express.

Reported: transitions to steps that do not exist, steps that cannot be reached from ``start``,
steps a trigger's channel cannot run, and loops with no exit (a set of steps that only lead to
each other and never end the call or leave the loop).
"""

from __future__ import annotations

from collections.abc import Iterator

from workflows.problems import Path, Problem
from workflows.spec import StepModel, WorkflowSpec
from workflows.triggers import trigger_kind


def written_targets(name: str, step: StepModel) -> Iterator[tuple[Path, str]]:
    """Every (path, target) written in a step: ``next``, ``on_<outcome>``, inner targets."""
    if step.next is not None:
        yield ("steps", name, "next"), step.next
    for outcome in step.kind.outcomes:
        target = step.transition(outcome)
        if target is not None:
            yield ("steps", name, f"on_{outcome}"), target
    for inner, target in step.kind.targets(step.params):
        yield ("steps", name, *inner), target


def successors(step: StepModel) -> set[str]:
    """The steps a step can really move to (a ``next`` it never follows does not count)."""
    kind, params = step.kind, step.params
    found = {target for _path, target in kind.targets(params)}
    found.update(step.route(outcome) or "" for outcome in kind.exits(params))
    found.discard("")
    return found


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so that long workflows cannot exhaust the stack."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def check_graph(spec: WorkflowSpec) -> list[Problem]:
    """Every graph problem of ``spec``, in file order."""
    problems: list[Problem] = []
    graph: dict[str, list[str]] = {}
    channel = trigger_kind(spec.trigger.event).channel
    for name, step in spec.steps.items():
        if spec.hours is None and step.kind.needs_hours(step.params):
            problems.append(
                Problem(("steps", name), "needs the workflow's business hours: add `hours:`")
            )
        if channel not in step.kind.channels:
            problems.append(
                Problem(("steps", name), f"a {step.kind.name!r} step cannot run on {channel}")
            )
        elif (problem := step.kind.problem_on(channel, step.params)) is not None:
            problems.append(Problem(("steps", name, step.kind.name), problem))
        for path, target in written_targets(name, step):
            if target not in spec.steps:
                problems.append(Problem(path, f"unknown step {target!r}"))
        if step.next is not None and not step.follows_next():
            message = (
                f"never followed: every way out of a `{step.kind.name}` step here goes elsewhere"
            )
            problems.append(Problem(("steps", name, "next"), message))
        graph[name] = sorted(t for t in successors(step) if t in spec.steps)
    if spec.start not in spec.steps:
        problems.append(Problem(("start",), f"unknown step {spec.start!r}"))
        return problems
    reached = {spec.start}
    frontier = [spec.start]
    while frontier:
        for target in graph[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    for name in spec.steps:
        if name not in reached:
            problems.append(Problem(("steps", name), f"unreachable from start {spec.start!r}"))
    for component in _strongly_connected(graph):
        members = set(component)
        looping = len(component) > 1 or component[0] in graph[component[0]]
        if not looping or members - reached:
            continue
        leaves = any(t not in members for m in component for t in graph[m])
        ends = any(spec.step(m).can_end() for m in component)
        if not leaves and not ends:
            ordered = [name for name in spec.steps if name in members]
            if len(ordered) == 1:
                message = f"{ordered[0]} only leads back to itself and never ends the call"
            else:
                message = f"{', '.join(ordered)} only lead to each other and never end the call"
            problems.append(Problem(("steps", ordered[0]), f"loop with no exit: {message}"))
    return problems
