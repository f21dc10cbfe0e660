"""``ringflow --help``, ``--version`` and ``python -m ringflow``: what a user sees before
anything runs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ringflow.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
COMMANDS = (
    "serve",
    "worker",
    "validate",
    "call",
    "calls",
    "messages",
    "hours",
    "token",
    "workflows",
    "prompts",
    "recipes",
    "db",
)


def help_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*args, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_command_with_examples_and_where_settings_come_from(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_text(capsys)
    assert text.startswith("usage: ringflow")
    listed = text.split("commands:", 1)[1].split("examples:", 1)[0]
    for command in COMMANDS:
        assert f"\n    {command} " in listed or f"\n    {command}\n" in listed, command
    assert "$ ringflow serve --flows" in text
    assert "RINGFLOW_CONFIG" in text
    assert "README.md" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_explains_itself_with_an_example(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    text = help_text(capsys, command)
    assert text.startswith(f"usage: ringflow {command}")
    assert "examples:" in text
    assert f"$ ringflow {command}" in text or f"ringflow {command}\n" in text


@pytest.mark.parametrize("command", ["serve", "worker", "calls", "token", "db"])
def test_commands_on_the_server_s_settings_say_where_they_come_from(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    text = help_text(capsys, command)
    assert "RINGFLOW_DATABASE_URL" in text
    assert "RINGFLOW_CONFIG" in text


def test_api_commands_say_which_server_and_token_they_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_text(capsys, "workflows")
    assert "RINGFLOW_API_URL" in text
    assert "RINGFLOW_API_TOKEN" in text


def test_version_is_the_project_s(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"ringflow {project['version']}\n"


def test_python_m_ringflow_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ringflow", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ringflow")
    assert "worker" in done.stdout


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err
