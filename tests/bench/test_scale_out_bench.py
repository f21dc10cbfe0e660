"""The scale-out benchmark at a tiny size, so that it keeps working: two real ``ringflow serve``
processes on the test's PostgreSQL, loaded by wrk alone and together. No figures are checked
(see bench/README.md), only that every call was answered with the menu and the report says
what it measured."""

from __future__ import annotations

import os
import shutil

import pytest

from bench.scale_out import main, parse_options


def test_it_refuses_a_database_not_named_for_it_and_bad_cpus() -> None:
    with pytest.raises(SystemExit):
        parse_options(["--database-url", "postgresql://postgres@127.0.0.1/ringflow"])
    with pytest.raises(SystemExit):
        parse_options(["--database-url", "postgresql://h/ringflow_bench", "--cpus", "0"])
    assert parse_options(["--database-url", "postgresql://h/ringflow_bench"]).cpus == (0, 1)


def test_a_tiny_run_answers_every_call_on_both_instances(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("the benchmark needs PostgreSQL: set TEST_DATABASE_URL")
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (./run bench installs it)")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("the two instances need two CPUs")
    arguments = ["--database-url", url, "--requests", "40", "--rounds", "1"]
    arguments += ["--connections", "4", "--warmup", "3"]

    status = main(arguments)

    out = capsys.readouterr().out
    assert status == 0, out
    assert "1     one instance" in out
    assert "1     two instances" in out
    assert "target: two instances >= 1.7x one:" in out
