"""``ringflow callbacks list|cancel ID`` on the configured database (SQLite and PostgreSQL):
what an operator sees (numbers masked unless asked) and the exit statuses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from sqlalchemy import Connection

from ringflow.database import open_database
from server import main
from tests.ringflow.admin.test_jobs_cli import configured_url
from workflows.callbacks.requests import request_callback
from workflows.people.agents import AgentFields, put_agent
from workflows.people.teams import TeamFields, put_team

__all__ = ["configured_url"]

T = TypeVar("T")


async def _on(url: str, work: Callable[[Connection], T]) -> T:
    db = await open_database(url)
    try:
        return await db.write(work)
    finally:
        await db.close()


def _request(url: str) -> int:
    now = datetime.now(UTC)

    def work(conn: Connection) -> int:
        put_agent(conn, "alice", AgentFields(), now)
        put_team(conn, "support", TeamFields(members=("alice",)), now)
        made = request_callback(
            conn, team="support", customer="+14155550123", our_number="+15005550001", now=now
        )
        return made.id

    return asyncio.run(_on(url, work))


def test_callbacks_are_listed_and_cancelled(
    configured_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["callbacks", "list"]) == 0
    assert capsys.readouterr().out == "no callback requests\n"
    callback_id = _request(configured_url)

    assert main(["callbacks", "list", "--status", "pending"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[1].split()[:3] == [str(callback_id), "support", "+14***23"]
    assert "pending" in lines[1]
    assert main(["callbacks", "list", "--full-numbers"]) == 0
    assert "+14155550123" in capsys.readouterr().out

    assert main(["callbacks", "cancel", str(callback_id)]) == 0
    assert capsys.readouterr().out == f"callback {callback_id} (support) cancelled\n"
    assert main(["callbacks", "cancel", str(callback_id)]) == 1
    assert "is cancelled, not pending" in capsys.readouterr().err
    assert main(["callbacks", "cancel", "424242"]) == 1
