"""What a workflow definition refers to outside itself: prompts (``play: pr_...``).

Checked when a workflow is saved over the API (the prompts must exist) and when a prompt is
deleted (no published workflow may still play it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from workflows.problems import Path

_PROMPT_ID = re.compile(r"^pr_[0-9a-f]{16}$")


def prompt_references(definition: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every prompt id in ``definition`` (plain data), with its path."""
    if isinstance(definition, dict):
        for key, value in definition.items():
            yield from prompt_references(value, (*path, key))
    elif isinstance(definition, list):
        for index, value in enumerate(definition):
            yield from prompt_references(value, (*path, index))
    elif isinstance(definition, str) and _PROMPT_ID.match(definition):
        yield path, definition
