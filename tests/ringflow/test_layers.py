"""The domain packages never import the admin API, the pages, the command line, the resources or the
composition root: those import them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ("workflows", "ivr", "sms", "pbx", "prompts")
OUTER = ("ringflow.admin", "ringflow.inbox", "ringflow.cli", "ringflow.resources", "server")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_import_nothing_outer(package: str) -> None:
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in imported(path)
        if any(name == outer or name.startswith(f"{outer}.") for outer in OUTER)
    }
    assert not offending
