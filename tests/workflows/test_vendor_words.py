"""The core speaks no vendor's words: nothing under ``workflows/`` (code, comments, docs
strings, recipes, fixtures) names the voice provider or its markup, so that a second provider
(Asterisk, a web chat) plugs in at the edge without the core knowing the first.

One exception, on purpose: ``say.render`` still reads the provider's name, the deprecated
alias of ``channel`` in workflow files written before the core was neutral
(docs/workflow-format.md); it is a value read from old files, never a word the core uses.
"""

from __future__ import annotations

import re
from pathlib import Path

from workflows.loader import from_data
from workflows.steps.say import RENDER_ALIASES, SayParams

CORE = Path(__file__).resolve().parents[2] / "workflows"
VENDOR_WORDS = re.compile(r"twilio|twiml", re.IGNORECASE)
DEPRECATED_ALIAS = ("steps/say.py", 'RENDER_ALIASES: Final = {"twilio": "channel"}')


def test_no_file_of_the_core_names_the_voice_provider() -> None:
    found = []
    for path in sorted(CORE.rglob("*")):
        if not path.is_file() or path.suffix in {".pyc"}:
            continue
        relative = path.relative_to(CORE).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if VENDOR_WORDS.search(line) and (relative, line.strip()) != DEPRECATED_ALIAS:
                found.append(f"workflows/{relative}:{number}: {line.strip()}")
    assert found == []


def test_the_old_render_name_still_reads_as_the_channel_voice() -> None:
    (old_name,) = RENDER_ALIASES
    assert SayParams.model_validate({"text": "Hi", "render": old_name}).render == "channel"
    workflow = from_data(
        {
            "id": "old-file",
            "trigger": {"event": "call.incoming"},
            "start": "hello",
            "steps": {"hello": {"say": {"text": "Hello", "render": old_name}}},
        }
    )
    assert workflow.definition()["steps"]["hello"]["say"]["render"] == "channel"
    assert SayParams.model_validate({"text": "Hi"}).render == "channel"
