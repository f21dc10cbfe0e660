"""The shape of the house, checked: who may import whom (read from the source, not run).

* ``workflows/`` (the channel-neutral core) imports no channel, no audio package and no
  admin API: channels call it, never the other way round.
* Channels never import each other: what the Twilio channels share lives in plumbing
  (``ringflow/twilio_webhooks.py``).
* Channels reach runs only through the session service (``workflows.sessions``), never the
  engine itself.
* Plumbing (``ringflow/``: database, settings, migrations...) imports no domain package, except
  ``ringflow/tables.py``, the one place that gathers every package's tables for migrations.
  The admin API (``ringflow/api``, ``ringflow/admin``), the pages (``ringflow/inbox``,
  ``ringflow/console``) and the command line are not plumbing.

The admin handlers still kept beside their domain (``workflows/api.py``, ``*_api.py``) are
admin API, not core: they are on their way to ``ringflow/admin/`` and not checked here.

Every import counts, including those inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = ("ivr", "sms", "chat", "pbx")
DOMAIN = ("workflows", "ivr", "sms", "chat", "pbx", "prompts")
ADMIN = (
    "ringflow.admin",
    "ringflow.inbox",
    "ringflow.console",
    "ringflow.cli",
    "ringflow.resources",
)
METADATA_GATHERER = "ringflow.tables"


def _modules(package: str, root: Path) -> Iterator[tuple[str, Path]]:
    base = root / package
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        yield ".".join(part for part in parts if part != "__init__"), path


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _admin_handlers(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "api" or last.endswith("_api")


def _violations(
    package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = (), root: Path = ROOT
) -> list[str]:
    found = []
    for module, path in _modules(package, root):
        if _within(module, allowed) or _admin_handlers(module):
            continue
        for line, name in _imports(path):
            if _within(name, forbidden):
                found.append(f"{path.relative_to(root)}:{line} imports {name}")
    return sorted(set(found))


def test_the_core_imports_no_channel_audio_or_admin_package() -> None:
    forbidden = ("ivr", "sms", "chat", "pbx", "prompts", "server", *ADMIN)
    assert _violations("workflows", forbidden) == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_channels_never_import_each_other(channel: str) -> None:
    if not (ROOT / channel).is_dir():
        pytest.skip(f"no {channel}/ package yet")
    others = tuple(c for c in CHANNELS if c != channel)
    assert _violations(channel, (*others, "server")) == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_channels_run_workflows_only_through_the_session_service(channel: str) -> None:
    if not (ROOT / channel).is_dir():
        pytest.skip(f"no {channel}/ package yet")
    assert _violations(channel, ("workflows.engine",)) == []


def test_plumbing_imports_no_domain_package_but_to_gather_tables() -> None:
    assert _violations("ringflow", (*DOMAIN, "server"), (*ADMIN, METADATA_GATHERER)) == []


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    # What sms/routes.py once did (borrow the voice channel's webhook config), and an import
    # hidden in a function.
    package = tmp_path / "sms"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "routes.py").write_text(
        "from ivr.routes import VOICE_CONFIG\n\ndef f():\n    import ivr.db\n"
    )
    assert _violations("sms", ("ivr",), root=tmp_path) == [
        "sms/routes.py:1 imports ivr.routes",
        "sms/routes.py:1 imports ivr.routes.VOICE_CONFIG",
        "sms/routes.py:4 imports ivr.db",
    ]
