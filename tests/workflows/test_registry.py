"""Every registered step kind and trigger is complete: model, code, schema and documentation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from workflows.loader import from_text
from workflows.spec import STEP_MODELS, json_schema
from workflows.steps import STEP_KINDS
from workflows.steps.base import StepKind, StepParams
from workflows.triggers import TRIGGER_KINDS, is_external

DOCS = Path(__file__).resolve().parents[2] / "docs" / "workflow-format.md"
KINDS = sorted(STEP_KINDS)
# Parameters that are not keys of the file: `set` keeps its mapping under one model field.
INTERNAL_FIELDS = {("set", "values")}


def docs_text() -> str:
    return DOCS.read_text(encoding="utf-8")


def kind_section(kind: str) -> str:
    """The documentation under the kind's heading, up to the next heading of that level."""
    text = docs_text()
    heading = re.search(rf"^(#{{2,4}}) .*`{re.escape(kind)}`.*$", text, flags=re.MULTILINE)
    assert heading is not None, f"docs/workflow-format.md has no heading for `{kind}`"
    level = heading.group(1)
    rest = text[heading.end() :]
    following = re.search(rf"^#{{1,{len(level)}}} ", rest, flags=re.MULTILINE)
    return rest[: following.start()] if following else rest


def schema_defs() -> dict[str, Any]:
    defs: dict[str, Any] = json_schema()["$defs"]
    return defs


def test_registry_names_match_kinds() -> None:
    assert KINDS, "no step kinds registered"
    for name, kind in STEP_KINDS.items():
        assert kind.name == name
        assert STEP_MODELS[name].kind_name == name


@pytest.mark.parametrize("name", KINDS)
def test_kind_has_params_model(name: str) -> None:
    kind = STEP_KINDS[name]
    assert isinstance(kind.params, type)
    assert issubclass(kind.params, StepParams)


@pytest.mark.parametrize("name", KINDS)
def test_kind_implements_enter(name: str) -> None:
    kind = STEP_KINDS[name]
    assert type(kind).enter is not StepKind.enter, f"{name} does not implement enter()"
    if kind.waits:
        assert type(kind).resume is not StepKind.resume, f"{name} waits but has no resume()"


@pytest.mark.parametrize("name", KINDS)
def test_kind_has_summary(name: str) -> None:
    assert STEP_KINDS[name].summary.strip()


@pytest.mark.parametrize("name", KINDS)
def test_kind_is_in_schema(name: str) -> None:
    kind = STEP_KINDS[name]
    step = schema_defs().get(f"{name.title().replace('_', '')}Step")
    assert step is not None, f"no {name.title()}Step in the schema's $defs"
    assert step["required"] == [name]
    assert step["properties"][name]["description"] == kind.summary
    transitions = {key for key in step["properties"] if key.startswith("on_")}
    assert transitions == {f"on_{outcome}" for outcome in kind.outcomes}


@pytest.mark.parametrize("name", KINDS)
def test_kind_is_documented(name: str) -> None:
    section = kind_section(name)
    kind = STEP_KINDS[name]
    for field_name, field in kind.params.model_fields.items():
        if (name, field_name) in INTERNAL_FIELDS:
            continue
        key = field.alias or field_name
        assert f"`{key}`" in section, f"the `{name}` section does not mention `{key}`"
    for outcome in kind.outcomes:
        assert f"`on_{outcome}`" in section, f"the `{name}` section lacks `on_{outcome}`"


def test_every_documented_kind_exists() -> None:
    headings = re.findall(r"^### `([a-z_]+)`", docs_text(), flags=re.MULTILINE)
    assert sorted(headings) == KINDS


def schema_events() -> list[str]:
    """The built-in events the schema lists (external events are a pattern beside them)."""
    event: dict[str, Any] = schema_defs()["Trigger"]["properties"]["event"]
    (listed,) = [option for option in event.get("anyOf", [event]) if "enum" in option]
    return list(listed["enum"])


def test_the_schema_takes_external_event_names_outside_the_built_in_namespaces() -> None:
    event: dict[str, Any] = schema_defs()["Trigger"]["properties"]["event"]
    (pattern,) = [option["pattern"] for option in event["anyOf"] if "pattern" in option]
    assert re.match(pattern, "checkout.idle")
    assert not re.match(pattern, "Checkout Idle")
    assert is_external("checkout.idle")
    assert not is_external("call.mised")  # a typo of a built-in event is not external
    assert not is_external("no_agent_reply")


@pytest.mark.parametrize("event", sorted(TRIGGER_KINDS))
def test_trigger_is_in_schema_and_docs(event: str) -> None:
    assert event in schema_events()
    assert f"`{event}`" in docs_text()
    assert TRIGGER_KINDS[event].summary.strip()


def test_schema_has_no_unknown_events() -> None:
    assert sorted(schema_events()) == sorted(TRIGGER_KINDS)


def complete_examples() -> list[str]:
    """The YAML blocks of the documentation that are whole workflows (they start with `id:`)."""
    blocks = re.findall(r"^```yaml\n(.*?)^```$", docs_text(), flags=re.MULTILINE | re.DOTALL)
    return [block for block in blocks if block.startswith("id:")]


def test_documented_workflows_are_valid() -> None:
    examples = complete_examples()
    assert len(examples) >= 2
    for number, text in enumerate(examples, start=1):
        workflow = from_text(text, f"example-{number}.yaml")
        assert workflow.spec.steps
