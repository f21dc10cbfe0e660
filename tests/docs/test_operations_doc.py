"""docs/operations.md names every metric the server exports."""

from __future__ import annotations

from pathlib import Path

from ringflow.clock import system_clock
from ringflow.metrics import Metrics

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_metric_is_in_the_operations_doc() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    names = {family.name for family in Metrics(system_clock).registry.collect()}
    assert {name for name in names if name.startswith("ringflow_")} == names
    missing = sorted(name for name in names if f"`{name}" not in text)
    assert missing == [], f"docs/operations.md does not describe {missing}"
