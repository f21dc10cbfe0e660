"""The routing benchmark at a tiny size, so that it keeps working (figures: bench/README.md)."""

from __future__ import annotations

import pytest

from bench.routing import main


def test_it_runs_and_reports_every_strategy_against_the_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--agents", "30", "--rounds", "1", "--calls", "20"]) == 0
    out = capsys.readouterr().out
    for line in (
        "baseline",
        "decision, ring_all",
        "decision, round_robin",
        "decision, longest_idle",
    ):
        assert line in out
    assert "snapshot + decision (SQLite)" in out
    assert "target: a decision <= 2 ms:" in out
