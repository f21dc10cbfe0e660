"""The hold-queue benchmark at a tiny size, so that it keeps working (figures: bench/README.md)."""

from __future__ import annotations

import re
import shutil

import pytest

from bench.hold_queue import Options, main, parse_options


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_it_runs_and_reports_the_cost_against_the_target(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--callers", "12", "--rounds", "1", "--passes", "2", "--announce-every", "10"]
    argv += ["--music-seconds", "2", "--paced-cycles", "1"]  # 12 paced requests at 6 a second
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {
        match.group(1): (int(match.group(2)), int(match.group(3)))
        for match in re.finditer(
            r"^(wait, announcement|wait, music only|bare aiohttp) +(\d+) +\d+ +[\d.]+ +[\d.]+ +"
            r"(\d+) +\d+",
            out,
            re.MULTILINE,
        )
    }
    # The summary rows: every request sent, none failed (each announcement checked on the
    # database: every caller told their place once, nobody told during the music).
    assert rows == {
        "wait, announcement": (12, 0),
        "wait, music only": (24, 0),
        "bare aiohttp": (24, 0),
    }
    assert re.search(
        r"idle server with the callers waiting \(measured between rounds\): [\d.]+ %", out
    )
    paced = re.search(r"cost measured at Twilio's rate: .* 12 requests in .* (\d+) errors", out)
    assert paced is not None
    assert paced.group(1) == "0"
    verdict = re.search(r"<= 10 % of one core: (MET|NOT MET) \(([\d.]+) %, the larger", out)
    assert verdict is not None
    assert (verdict.group(1) == "MET") == (float(verdict.group(2)) <= 10)
    assert "failures:" not in out


def test_twilios_rate_and_the_share_of_requests_that_announce() -> None:
    opts: Options = parse_options([])
    assert (opts.callers, opts.announce_every, opts.music_seconds) == (500, 30, 20.0)
    assert opts.rate == 25.0  # 500 callers, a wait request each per 20 s of music
    assert opts.announcing_share == 0.5  # due after 30 s: every other 20 s request
    assert parse_options(["--announce-every", "20"]).announcing_share == 1.0
    assert parse_options(["--announce-every", "60"]).announcing_share == pytest.approx(1 / 3)
