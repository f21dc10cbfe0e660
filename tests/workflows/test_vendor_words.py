"""The core speaks no vendor's words: nothing under ``workflows/`` (code, comments, docs
strings, recipes, fixtures) names the voice provider or its markup, so that a second provider
(Asterisk, a web chat) plugs in at the edge without the core knowing the first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workflows.loader import from_data
from workflows.problems import WorkflowInvalid

CORE = Path(__file__).resolve().parents[2] / "workflows"
VENDOR_WORDS = re.compile(r"twilio|twiml", re.IGNORECASE)


def test_no_file_of_the_core_names_the_voice_provider() -> None:
    found = []
    for path in sorted(CORE.rglob("*")):
        if not path.is_file() or path.suffix in {".pyc"}:
            continue
        relative = path.relative_to(CORE).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if VENDOR_WORDS.search(line):
                found.append(f"workflows/{relative}:{number}: {line.strip()}")
    assert found == []


def test_the_provider_is_not_a_render_name() -> None:
    """Files that still say ``render: twilio`` get an error at that field, not a silent alias
    (stored versions were rewritten by migration 0023)."""
    with pytest.raises(WorkflowInvalid) as raised:
        from_data(
            {
                "id": "old-file",
                "trigger": {"event": "call.incoming"},
                "start": "hello",
                "steps": {"hello": {"say": {"text": "Hello", "render": "twilio"}}},
            }
        )
    (problem,) = raised.value.problems
    assert problem.path[-1] == "render"
    assert "channel" in problem.message
    assert "server" in problem.message
