"""``ringflow diagram``: every bundled recipe (with sample values), the demo workflows and the
examples are drawn; problems go to standard error with their lines; a file that is not a
workflow exits 1 saying why."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ringflow.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
FILES = sorted(
    [
        *(ROOT / "workflows" / "recipes").glob("*.yaml"),
        *(ROOT / "workflows" / "demo").glob("*.yaml"),
        *(ROOT / "examples").glob("*/*.yaml"),
    ]
)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_recipe_and_example_is_drawn(
    path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["diagram", str(path)]) == 0
    out, err = capsysbinary.readouterr()
    svg = ET.fromstring(out)  # noqa: S314 - the diagram just drawn
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert err == b""


def test_problems_are_listed_with_their_lines(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "id: flow\ntrigger: {event: call.incoming}\nstart: main\nsteps:\n"
        '  main: {say: "Hi."}\n  orphan: {say: "Lost."}\n'
    )
    assert main(["diagram", str(flow)]) == 0
    out, err = capsysbinary.readouterr()
    assert b"<svg" in out
    assert err.decode() == f"{flow}:6 steps.orphan: unreachable from start 'main'\n"


def test_a_file_that_is_not_a_workflow_exits_1(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("id: flow\nstart: main\nsteps: {main: {sya: Hi}}\n")
    assert main(["diagram", str(flow)]) == 1
    out, err = capsysbinary.readouterr()
    assert out == b""
    assert b"trigger" in err
