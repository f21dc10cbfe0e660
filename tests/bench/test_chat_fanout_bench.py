"""The chat fan-out benchmark at a tiny size, so that it keeps working (figures:
bench/README.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.chat_fanout import main, parse_options


def test_it_runs_and_reports_memory_latency_and_the_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_json = tmp_path / "fanout.json"
    argv = ["--sockets", "20", "--warmup", "2", "--rate", "20", "--duration", "1.5"]
    argv += ["--settle", "0.5", "--json", str(out_json)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    memory = {
        match.group(1): float(match.group(2))
        for match in re.finditer(
            r"^(Ringflow|bare aiohttp) +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +-?[\d.]+ +(-?[\d.]+) +"
            r"[\d.]+ +[\d.]+%",
            out,
            re.MULTILINE,
        )
    }
    assert set(memory) == {"Ringflow", "bare aiohttp"}
    rows = {
        match.group(1): tuple(int(match.group(n)) for n in (2, 3, 4))
        for match in re.finditer(
            r"^(Ringflow|bare aiohttp) +(\d+) +(\d+) +(\d+) +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +"
            r"[\d.]+ +\d+ +\d+% +\d+% +\d+%",
            out,
            re.MULTILINE,
        )
    }
    # 30 replies to each server, every one delivered on its visitor's socket, none failed.
    assert rows == {"Ringflow": (30, 30, 0), "bare aiohttp": (30, 30, 0)}
    verdict = re.search(r"fan-out p99 <= 50 ms: (MET|NOT MET) \(([\d.]+) ms, 0 errors\)", out)
    assert verdict is not None
    assert (verdict.group(1) == "MET") == (float(verdict.group(2)) <= 50)
    assert re.search(r"Ringflow vs bare aiohttp: p99 [\d.]+x, CPU per message [\d.]+x", out)
    assert "failures:" not in out
    figures = json.loads(out_json.read_text())
    ringflow = figures["servers"]["Ringflow"]
    assert (ringflow["sent"], ringflow["delivered"], ringflow["errors"]) == (30, 30, 0)
    assert ringflow["kib_per_idle_connection"] == pytest.approx(memory["Ringflow"], abs=0.1)
    assert figures["target_met"] == (verdict.group(1) == "MET")


def test_the_defaults_are_the_issues_size() -> None:
    opts = parse_options([])
    assert (opts.sockets, opts.rate, opts.duration) == (1000, 50.0, 30.0)
    assert opts.replies == 1500
