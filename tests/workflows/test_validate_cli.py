"""``ringflow validate``: good files print ok, bad files print every problem with file:line path.

The fixtures live in ``fixtures/good`` and ``fixtures/bad`` (one problem per bad file);
Messages name the file as it was given on the command line.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import server

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOOD = FIXTURES / "good"
BAD = FIXTURES / "bad"
DEMO = ROOT / "workflows" / "demo" / "demo-line.yaml"
SUFFIXES = (".yaml", ".yml", ".json")

STEP_KIND_ERROR = (
    "a step needs exactly one kind key, one of: ask, assign, branch, close, connect, dial, goto,"
    " hangup, menu, note, pause, play, record, reply, say, send_sms, set, set_priority, snooze,"
    " survey, tag, untag, wait"
)
E164_ERROR = "must be a phone number in E.164 form, such as +15550001111"

# Exactly what `ringflow validate fixtures/bad/<file>` prints on stderr, line by line.
EXPECTED: dict[str, list[str]] = {
    "main-line.yaml": ["main-line.yaml:14 steps.main.menu.options.3: unknown step 'salse'"],
    "dangling-target.json": [
        "dangling-target.json:8 steps.main.on_no_answer: unknown step 'voicemail'"
    ],
    "next-missing.yaml": ["next-missing.yaml:12 steps.address.next: unknown step 'goodbye'"],
    "start-missing.yaml": ["start-missing.yaml:4 start: unknown step 'welcome'"],
    "unknown-kind.yaml": [f"unknown-kind.yaml:6 steps.hello: {STEP_KIND_ERROR}"],
    "two-kinds.yaml": [f"two-kinds.yaml:6 steps.hello: {STEP_KIND_ERROR}"],
    "unknown-param.yaml": ["unknown-param.yaml:9 steps.hello.say.speed: unknown key"],
    "menu-without-options.yaml": [
        "menu-without-options.yaml:7 steps.main.menu.options: Field required"
    ],
    "menu-no-greeting.yaml": [
        "menu-no-greeting.yaml:7 steps.main.menu: a menu needs a greeting: `say` or `play`"
    ],
    "bad-phone-number.yaml": [f"bad-phone-number.yaml:10 steps.team.dial.numbers.1: {E164_ERROR}"],
    "unreachable-step.yaml": [
        "unreachable-step.yaml:11 steps.survey: unreachable from start 'hello'"
    ],
    "loop-no-exit.yaml": [
        "loop-no-exit.yaml:7 steps.main: loop with no exit:"
        " main, more only lead to each other and never end the call"
    ],
    "goto-cycle.yaml": [
        "goto-cycle.yaml:6 steps.hello: loop with no exit:"
        " hello, again only lead to each other and never end the call"
    ],
    "dial-loop.yaml": [
        "dial-loop.yaml:10 steps.main: loop with no exit:"
        " main, agent only lead to each other and never end the call"
    ],
    "goto-next-loop.yaml": [
        "goto-next-loop.yaml:9 steps.again: loop with no exit:"
        " again only leads back to itself and never ends the call",
        "goto-next-loop.yaml:11 steps.again.next: never followed:"
        " every way out of a `goto` step here goes elsewhere",
        "goto-next-loop.yaml:12 steps.bye: unreachable from start 'again'",
    ],
    "menu-next-loop.yaml": [
        "menu-next-loop.yaml:9 steps.main: loop with no exit:"
        " main, more only lead to each other and never end the call",
        "menu-next-loop.yaml:14 steps.main.next: never followed:"
        " every way out of a `menu` step here goes elsewhere",
        "menu-next-loop.yaml:20 steps.bye: unreachable from start 'main'",
    ],
    "tab-indented.json": ["tab-indented.json:6 steps.hello.next: unknown step 'bye'"],
    "unknown-trigger.yaml": [
        "unknown-trigger.yaml:4 trigger.event: Input should be 'call.incoming', 'call.missed',"
        " 'call.ended', 'call.after_hours', 'sms.received', 'conversation.opened',"
        " 'message.received', 'agent.replied', 'conversation.assigned', 'conversation.closed',"
        " 'no_agent_reply', 'no_customer_reply', 'unanswered' or 'idle_after_resolved'"
    ],
    "yaml-syntax-error.yaml": [
        "yaml-syntax-error.yaml:8: not valid YAML: while parsing a block mapping"
        " expected <block end>, but found '<block mapping start>'"
    ],
    "duplicate-key.yaml": ["duplicate-key.yaml:11: key 'bye' is written twice"],
    "invalid-json.json": [
        "invalid-json.json:7: not valid JSON:"
        " Expecting property name enclosed in double quotes (column 3)"
    ],
    "empty.yaml": ["empty.yaml:1: the file is empty"],
}


def fixtures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES)


def validate(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str, list[str]]:
    """Run ``ringflow validate PATHS`` in-process: exit code, stdout, stderr lines."""
    code = server.main(["validate", *(str(path) for path in paths)])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


@pytest.mark.parametrize("path", [*fixtures(GOOD), DEMO], ids=lambda path: path.name)
def test_good_file_is_ok(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(capsys, path)
    assert err == []
    assert code == 0
    assert out.startswith(f"{path}: ok (")


def test_there_are_enough_good_files() -> None:
    good = fixtures(GOOD)
    assert len(good) >= 5
    assert any(path.suffix == ".json" for path in good)


def test_every_bad_file_has_its_expected_messages() -> None:
    assert {path.name for path in fixtures(BAD)} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_reports_its_problem(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BAD)
    code, out, err = validate(capsys, Path(name))
    assert code == 1
    assert out == ""
    assert err == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_messages_name_file_and_line(name: str) -> None:
    for line in EXPECTED[name]:
        assert re.match(rf"{re.escape(name)}:[1-9][0-9]*( [\w.-]+)?: ", line), line


def test_issue_example_names_the_option() -> None:
    source = (BAD / "main-line.yaml").read_text(encoding="utf-8").splitlines()
    assert source[13].strip() == '"3": salse'


def test_several_files_at_once_report_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    files = [GOOD / "minimal.yaml", BAD / "main-line.yaml", GOOD / "main-line.yaml"]
    code, out, err = validate(capsys, *files, BAD / "empty.yaml")
    assert code == 1
    assert out.splitlines() == [
        f"{GOOD / 'minimal.yaml'}: ok (minimal, 2 steps)",
        f"{GOOD / 'main-line.yaml'}: ok (main-line, 6 steps)",
    ]
    assert err == [
        f"{BAD / 'main-line.yaml'}:14 steps.main.menu.options.3: unknown step 'salse'",
        f"{BAD / 'empty.yaml'}:1: the file is empty",
    ]


def test_several_good_files_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(capsys, *fixtures(GOOD))
    assert (code, err) == (0, [])
    assert len(out.splitlines()) == len(fixtures(GOOD))


def test_missing_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = validate(capsys, tmp_path / "nope.yaml")
    assert code == 1
    assert len(err) == 1
    assert err == [f"{tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory"]


def test_console_script_is_server_main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["ringflow"] == "server:main"


def test_console_script_validates(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "ringflow"
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e . or ./run installs it)")
    result = subprocess.run(
        [str(script), "validate", "main-line.yaml", str(GOOD / "minimal.yaml")],
        capture_output=True,
        text=True,
        cwd=BAD,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == EXPECTED["main-line.yaml"]
    assert result.stdout.splitlines() == [f"{GOOD / 'minimal.yaml'}: ok (minimal, 2 steps)"]
