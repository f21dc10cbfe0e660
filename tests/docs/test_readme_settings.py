"""README's configuration table names every setting, by the variable that sets it."""

from __future__ import annotations

import re
from pathlib import Path

from ringflow.cli.main import ENV_NAMES as _ENV_NAMES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_configuration_table() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Configuration") :]
    table = table[: table.index("\n## ", 1)]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}
    missing = sorted(set(_ENV_NAMES.values()) - documented)
    assert missing == [], f"README's configuration table lacks {missing}"
