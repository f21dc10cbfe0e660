"""``ringflow db backup FILE`` on SQLite while a server keeps writing: a complete, consistent
copy at the current revision, owner-only; PostgreSQL refused with the pg_dump command."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path

import pytest

from ringflow.migrate import head_revision
from server import main
from tests.conftest import RunningServer, ServerFactory, eventually, signed_post

CUSTOMER = "+14155550123"
BUSINESS = "+15005550001"


@pytest.fixture
async def sqlite_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningServer]:
    """A server on a SQLite file that ``ringflow db backup`` is configured with."""
    url = f"sqlite:///{tmp_path / 'ringflow.db'}"
    monkeypatch.setenv("RINGFLOW_DATABASE_URL", url)
    factory = ServerFactory(url, tmp_path)
    try:
        yield await factory.start()
    finally:
        await factory.stop()


async def keep_texting(server: RunningServer, sent: list[int], stop: asyncio.Event) -> None:
    """Texts in through the webhook, one after the other, until ``stop``."""
    for number in count():
        if stop.is_set():
            return
        form = {"MessageSid": f"SM{number:032d}", "From": CUSTOMER, "To": BUSINESS, "Body": "hi"}
        reply = await signed_post(server, "/twilio/sms", form)
        assert reply.status == 200
        sent.append(number)


def read_backup(path: Path) -> tuple[str, int, str]:
    """The copy's quick_check verdict, its number of texts and its schema revision."""
    with sqlite3.connect(path) as conn:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        texts = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    conn.close()
    return verdict, texts, revision


async def test_a_backup_taken_while_the_server_writes_is_whole_and_consistent(
    sqlite_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sent: list[int] = []
    stop = asyncio.Event()
    writing = asyncio.create_task(keep_texting(sqlite_server, sent, stop))
    try:
        await eventually(lambda: len(sent) >= 20, what="the first texts")
        target = tmp_path / "backups" / "ringflow-backup.db"
        target.parent.mkdir()
        counts = []
        for _ in range(3):  # the second and third replace the first, each while texts arrive
            before = len(sent)
            assert await asyncio.to_thread(main, ["db", "backup", str(target)]) == 0
            after = len(sent)
            verdict, texts, revision = read_backup(target)
            assert verdict == "ok"
            assert revision == head_revision()
            assert before <= texts <= after + 1  # at most the one in flight
            counts.append(texts)
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await writing
    assert counts == sorted(counts)
    assert counts[-1] > counts[0], "the server kept writing between the backups"
    assert await sqlite_server.count("messages") == len(sent)  # the server lost nothing
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["ringflow-backup.db"]
    out = capsys.readouterr().out
    assert f"to {target} (" in out


async def test_the_database_itself_is_never_the_target(
    sqlite_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for target in ("ringflow.db", "ringflow.db-wal"):
        assert await asyncio.to_thread(main, ["db", "backup", str(tmp_path / target)]) == 2
        assert "is the database itself" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["db", "backup"]) == 2
    assert "needs a FILE" in capsys.readouterr().err
    assert await sqlite_server.count("messages") == 0  # still a working database


def test_a_missing_database_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RINGFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    assert main(["db", "backup", str(tmp_path / "copy.db")]) == 2
    assert "there is no database at" in capsys.readouterr().err
    assert not (tmp_path / "copy.db").exists()


def test_postgresql_is_refused_with_the_pg_dump_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "RINGFLOW_DATABASE_URL", "postgresql://ringflow:s3cret-pw@db.internal:5432/ringflow"
    )
    assert main(["db", "backup", str(tmp_path / "copy.db")]) == 2
    error = capsys.readouterr().err
    assert (
        "pg_dump --format=custom --file FILE 'postgresql://ringflow@db.internal:5432/ringflow'"
        in error
    )
    assert "s3cret" not in error
    assert not (tmp_path / "copy.db").exists()
