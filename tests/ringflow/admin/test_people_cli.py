"""``ringflow agents ...`` and ``ringflow teams ...`` on the configured database, and an
agent token made by ``ringflow agents token NAME`` used against a server on that database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from server import main
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.conftest import ServerFactory
from tests.test_server import data_dir

__all__ = ["data_dir"]


def test_agents_and_teams_are_added_listed_and_removed(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agents", "list"]) == 0
    assert "no agents" in capsys.readouterr().out
    added = ["agents", "add", "alice", "--email", "alice@example.com", "--phone", "+14155550100"]
    assert main([*added, "--language", "en", "--language", "ko", "--status", "available"]) == 0
    assert capsys.readouterr().out.strip() == "agent alice created"
    assert main(["agents", "add", "bob"]) == 0
    assert main(["agents", "status", "bob", "away"]) == 0
    assert main(["teams", "add", "support", "--member", "alice", "--member", "bob"]) == 0
    capsys.readouterr()
    assert main(["agents", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["alice", "available", "max", "10", "support"]
    assert lines[1].split() == ["bob", "away", "max", "10", "support"]
    assert main(["teams", "list"]) == 0
    assert capsys.readouterr().out.split() == [
        "support",
        "round_robin",
        "ring_all",
        "-",
        "alice,bob",
    ]
    ringing = ["teams", "add", "sales", "--ring-strategy", "longest_idle", "--wrap-up", "30"]
    assert main([*ringing, "--member", "alice"]) == 0
    assert main(["teams", "add", "night", "--ring-strategy", "loudest"]) == 1
    assert "ring" in capsys.readouterr().err
    assert main(["teams", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == [
        "sales",
        "round_robin",
        "longest_idle",
    ]
    assert main(["teams", "remove", "sales"]) == 0

    # Bad input names the option; nothing is written.
    assert main(["agents", "add", "carol", "--status", "asleep"]) == 1
    assert "--status" in capsys.readouterr().err
    assert main(["teams", "add", "night", "--member", "ghost"]) == 1
    assert "ghost" in capsys.readouterr().err
    assert main(["teams", "add", "night", "--schedule", "nowhere"]) == 1
    assert "--schedule" in capsys.readouterr().err
    assert main(["agents", "add", "not a name"]) == 1
    assert main(["teams", "list"]) == 0
    assert "night" not in capsys.readouterr().out

    assert main(["teams", "remove", "support"]) == 0
    assert main(["agents", "remove", "bob"]) == 0
    assert main(["agents", "remove", "bob"]) == 1
    capsys.readouterr()
    assert main(["agents", "list"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["alice"]


async def test_an_agent_token_from_the_command_line_works_on_conversations_only(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command runs its own event loop: off this test's loop, as from a shell.
    assert await asyncio.to_thread(main, ["agents", "add", "alice"]) == 0
    assert await asyncio.to_thread(main, ["agents", "token", "alice"]) == 0
    first = capsys.readouterr().out.splitlines()[-2]
    assert await asyncio.to_thread(main, ["agents", "token", "alice"]) == 0
    token = capsys.readouterr().out.splitlines()[0]
    assert token.startswith("rf_")

    servers = ServerFactory(f"sqlite:///{data_dir / 'ringflow.db'}", tmp_path)
    try:
        server = await servers.start(admin_token=ADMIN_TOKEN)
        async with aiohttp.ClientSession() as session:
            api = ApiClient(server, session, token=token)
            assert (await api.call("GET", "/conversations")).status == 200
            assert (await api.call("GET", "/me")).json["name"] == "alice"
            assert (await api.call("GET", "/workflows")).status == 403
            assert (await api.call("GET", "/agents")).status == 403
            # A new token revokes the agent's earlier one.
            assert (await api.call("GET", "/conversations", token=first)).status == 401
    finally:
        await servers.stop()
