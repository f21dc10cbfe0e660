"""Agent tokens over HTTP: an agent may list and act on conversations and set its own status,
and gets 403 on every other operation of the API (workflows, prompts, schedules, contacts,
texts, agents and teams admin...). Admin tokens may do everything."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ringflow.admin.app import API_DESCRIPTION
from ringflow.settings import load_settings
from server import API_APP, create_app
from tests.ringflow.admin.people import Desk, desk
from tests.ringflow.admin.test_every_endpoint import EXAMPLE_VALUES

__all__ = ["desk"]

AGENTS_MAY = "Agent tokens may call this."


def _document(tmp: Path) -> dict[str, Any]:
    app = create_app(load_settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/x.db"), [])
    document: dict[str, Any] = app[API_APP][API_DESCRIPTION]
    return document


def _operations(for_agents: bool) -> list[tuple[str, str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        document = _document(Path(folder))
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if (AGENTS_MAY in operation.get("description", "")) == for_agents:
                concrete = re.sub(r"\{(\w+)\}", lambda m: EXAMPLE_VALUES[m.group(1)], path)
                found.append((method.upper(), concrete.removeprefix("/api")))
    return found


ADMIN_ONLY = _operations(for_agents=False)


def test_the_admin_only_operations_are_all_but_conversations_and_me() -> None:
    assert len(ADMIN_ONLY) >= 30
    assert not [path for _method, path in ADMIN_ONLY if path.startswith("/conversations")]
    for area in ("/workflows", "/prompts", "/agents", "/teams", "/contacts", "/schedules"):
        assert any(path.startswith(area) for _method, path in ADMIN_ONLY), area
    for_agents = _operations(for_agents=True)
    assert ("PUT", "/me/status") in for_agents
    assert ("POST", "/conversations/1/replies") in for_agents


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
async def test_an_agent_token_is_refused_outside_conversations(
    desk: Desk, method: str, path: str
) -> None:
    await desk.agent("alice")
    token = await desk.agent_token("alice")
    before = await desk.api.call("GET", "/agents")
    answer = await desk.api.call(method, path, token=token, json_body={})
    assert answer.status == 403, answer.text
    assert answer.content_type == "application/problem+json"
    assert "agent token" in answer.json["detail"]
    assert (await desk.api.call("GET", "/agents")).text == before.text  # nothing changed


async def test_an_agent_works_its_conversations_and_sets_its_status(desk: Desk) -> None:
    await desk.agent("alice", status="away")
    await desk.agent("bob")
    token = await desk.agent_token("alice")
    await desk.text_in("My order is late", "SM" + "1" * 32)
    conversation = await desk.conversation_of()
    cid = conversation["id"]

    me = await desk.api.call("GET", "/me", token=token)
    assert (me.status, me.json["name"], me.json["status"]) == (200, "alice", "away")
    status = await desk.api.call(
        "PUT", "/me/status", token=token, json_body={"status": "available"}
    )
    assert status.status == 200
    assert (await desk.api.call("GET", "/agents/alice")).json["status"] == "available"

    listed = await desk.api.call("GET", "/conversations", token=token)
    assert [c["id"] for c in listed.json["items"]] == [cid]
    mine = await desk.act(cid, "assign", {"agent": "alice"}, token=token)
    assert mine["assignee"] == {"agent": "alice", "team": None}
    for body in ({"agent": "bob"}, {"team": None}, {"agent": "alice", "team": None}):
        other = await desk.api.call(
            "POST", f"/conversations/{cid}/assign", json_body=body, token=token
        )
        assert other.status == 403, body
    await desk.act(cid, "notes", {"body": "Checking with the warehouse"}, token=token)
    await desk.act(cid, "replies", {"body": "It ships today."}, token=token)
    await desk.act(cid, "close", token=token)

    timeline = (await desk.detail(cid, token=token))["timeline"]
    by_alice = [(e["kind"], e["actor"]) for e in timeline if e["actor"]["type"] == "agent"]
    assert by_alice == [
        ("assigned", {"type": "agent", "name": "alice"}),
        ("note", {"type": "agent", "name": "alice"}),
        ("agent.replied", {"type": "agent", "name": "alice"}),
        ("closed", {"type": "agent", "name": "alice"}),
    ]
    # /me is an agent's: an admin token has no agent.
    assert (await desk.api.call("GET", "/me")).status == 409


async def test_deleting_an_agent_revokes_its_token(desk: Desk) -> None:
    await desk.agent("carol")
    token = await desk.agent_token("carol")
    assert (await desk.api.call("GET", "/conversations", token=token)).status == 200
    assert (await desk.api.call("DELETE", "/agents/carol")).status == 204
    # The gatekeeper remembers known tokens for a minute in this process: a fresh one asks.
    from ringflow.admin.app import GATEKEEPER

    desk.api.server.app[API_APP][GATEKEEPER]._known.clear()
    assert (await desk.api.call("GET", "/conversations", token=token)).status == 401
