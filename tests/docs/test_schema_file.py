"""The committed JSON Schema is exactly what the code generates."""

from __future__ import annotations

import json

from docs.generate_schema import SCHEMA_FILE, render


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA_FILE.is_file(), (
        f"{SCHEMA_FILE.name} is missing: run python docs/generate_schema.py"
    )
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == render(), (
        f"{SCHEMA_FILE.name} differs from the workflow models: run python docs/generate_schema.py"
    )


def test_schema_file_is_a_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"id", "trigger", "start", "steps"}
