"""``ringflow jobs dead|retry ID|cancel ID`` on the configured database, SQLite and PostgreSQL:
what an operator sees and changes, and the exit statuses."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Connection

from ringflow.database import open_database
from ringflow.migrate import upgrade
from server import main
from tests.conftest import reset_postgres
from workflows.jobs import claim, enqueue, give_up
from workflows.jobs.housekeeping import JobRecord, job_by_id

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgresql"])
def configured_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A migrated database that ``ringflow`` is configured with (the environment)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ringflow.db'}"
    else:
        found = os.environ.get("TEST_DATABASE_URL")
        if not found:
            pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (CI sets it in .ci/run)")
        url = found
        asyncio.run(reset_postgres(url))
    monkeypatch.setenv("RINGFLOW_DATABASE_URL", url)
    monkeypatch.setenv("RINGFLOW_DATA_DIR", str(tmp_path / "data"))
    asyncio.run(_upgrade(url))
    return url


async def _upgrade(url: str) -> None:
    db = await open_database(url)
    try:
        await upgrade(db)
    finally:
        await db.close()


def dead_job(url: str, key: str, error: str, kind: str = "send_sms") -> int:
    """A job that died with ``error`` (as a worker records it)."""
    now = datetime.now(UTC)

    def work(conn: Connection) -> int:
        job_id = enqueue(conn, kind, {}, dedupe_key=key, now=now - timedelta(minutes=1))
        assert job_id is not None
        claim(conn, "w1", limit=1, now=now, lease=timedelta(seconds=60))
        assert give_up(conn, job_id, "w1", error, now=now)
        return job_id

    return asyncio.run(_on(url, work))


def job(url: str, job_id: int) -> JobRecord:
    found = asyncio.run(_on(url, lambda conn: job_by_id(conn, job_id)))
    assert found is not None
    return found


async def _on(url: str, work: Callable[[Connection], T]) -> T:
    db = await open_database(url)
    try:
        return await db.write(work)
    finally:
        await db.close()


def test_dead_jobs_are_listed_with_why_they_died(
    configured_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "dead"]) == 0
    assert capsys.readouterr().out == "no dead jobs\n"
    first = dead_job(configured_url, "a", "failed 8 times; last error: TimeoutError")
    second = dead_job(configured_url, "b", "no handler for kind\nodd", kind="run_timer")

    assert main(["jobs", "dead"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "kind", "died", "(UTC)", "attempts", "last", "error"]
    assert lines[1].split()[:2] == [str(second), "run_timer"]
    assert lines[1].endswith("no handler for kind odd")  # one line per job
    assert lines[2].split()[:2] == [str(first), "send_sms"]
    assert "1/8" in lines[2]
    assert main(["jobs", "dead", "--kind", "send_sms"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_a_dead_job_is_retried_or_cancelled_once(
    configured_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    retried = dead_job(configured_url, "a", "boom")
    cancelled = dead_job(configured_url, "b", "boom")

    assert main(["jobs", "retry", str(retried)]) == 0
    assert capsys.readouterr().out == f"job {retried} (send_sms) queued again, due now\n"
    assert (job(configured_url, retried).status, job(configured_url, retried).attempts) == (
        "queued",
        0,
    )
    assert main(["jobs", "cancel", str(cancelled)]) == 0
    assert capsys.readouterr().out == f"job {cancelled} (send_sms) cancelled\n"
    assert job(configured_url, cancelled).status == "cancelled"

    assert main(["jobs", "retry", str(retried)]) == 1
    assert "is queued, not dead" in capsys.readouterr().err
    assert main(["jobs", "cancel", str(cancelled)]) == 1
    assert "is cancelled, not dead" in capsys.readouterr().err
    assert main(["jobs", "cancel", "424242"]) == 1
    assert capsys.readouterr().err == "error: job 424242 does not exist\n"


def test_bad_ids_are_usage_errors(configured_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["jobs", "retry", "abc"],
        ["jobs", "cancel", "-1"],
        ["jobs", "dead", "--limit", "0"],
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
    assert "a job id is a number" in capsys.readouterr().err


def test_an_old_schema_is_refused_not_upgraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RINGFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["jobs", "dead"]) == 2
    assert "ringflow db upgrade" in capsys.readouterr().err
