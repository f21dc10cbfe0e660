"""Teams over HTTP: a conversation given to a team goes to an agent picked by the team's
strategy (round robin, least busy), among the members who are available and under their
limit of open conversations; with none, the team keeps it unassigned."""

from __future__ import annotations

from datetime import timedelta

from tests.ringflow.admin.people import Desk, desk

__all__ = ["desk"]


async def _conversations(desk: Desk, count: int, offset: int = 0) -> list[int]:
    ids = []
    for n in range(offset, offset + count):
        sender = f"+1202555{n:04d}"
        desk.clock.advance(timedelta(seconds=1))
        await desk.text_in("help", "SM" + f"{n:032d}", sender=sender)
        ids.append((await desk.conversation_of(sender))["id"])
    return ids


async def _give_to_team(desk: Desk, conversation_id: int, team: str) -> str | None:
    answer = await desk.act(conversation_id, "assign", {"team": team})
    assert answer["assignee"]["team"] == team
    agent: str | None = answer["assignee"]["agent"]
    return agent


async def test_round_robin_takes_turns_among_available_members(desk: Desk) -> None:
    for name in ("ann", "ben", "cat"):
        await desk.agent(name)
    await desk.agent("dan", status="away")
    team = await desk.api.call(
        "PUT",
        "/teams/support",
        json_body={"strategy": "round_robin", "members": ["ann", "ben", "cat", "dan"]},
    )
    assert team.status == 201, team.text
    assert team.json["members"] == ["ann", "ben", "cat", "dan"]

    ids = await _conversations(desk, 5)
    picked = [await _give_to_team(desk, cid, "support") for cid in ids]
    assert picked == ["ann", "ben", "cat", "ann", "ben"]  # dan is away
    # The timeline says who assigned it and how the agent was picked.
    events = [e for e in (await desk.detail(ids[0]))["timeline"] if e["kind"] == "assigned"]
    assert events[0]["data"]["strategy"] == "round_robin"
    assert events[0]["actor"]["type"] == "admin"
    team_filtered = await desk.conversations(team="support", assignee="ann")
    assert sorted(c["id"] for c in team_filtered["items"]) == sorted([ids[0], ids[3]])


async def test_least_busy_and_the_limit_of_open_conversations(desk: Desk) -> None:
    await desk.agent("ann", max_open=2)
    await desk.agent("ben", max_open=2)
    created = await desk.api.call(
        "PUT", "/teams/sales", json_body={"strategy": "least_busy", "members": ["ann", "ben"]}
    )
    assert created.status == 201
    ids = await _conversations(desk, 5)
    # ann already has two open conversations: ben is the least busy, then full too.
    await desk.act(ids[0], "assign", {"agent": "ann"})
    await desk.act(ids[1], "assign", {"agent": "ann"})
    assert await _give_to_team(desk, ids[2], "sales") == "ben"
    assert await _give_to_team(desk, ids[3], "sales") == "ben"
    # Everyone is at their limit: the team keeps it, unassigned.
    assert await _give_to_team(desk, ids[4], "sales") is None
    # Closing one of ann's frees a place for her.
    await desk.act(ids[0], "close")
    await desk.act(ids[4], "assign", {"team": None})
    assert await _give_to_team(desk, ids[4], "sales") == "ann"
    unassigned = await desk.conversations(assignee="none")
    assert ids[4] not in [c["id"] for c in unassigned["items"]]


async def test_teams_and_agents_crud(desk: Desk) -> None:
    agent = await desk.agent(
        "ann",
        display_name="Ann Lee",
        email="ann@example.com",
        endpoints=[
            {"kind": "phone", "address": "+14155550100"},
            {"kind": "sip", "address": "sip:ann@pbx"},
        ],
        languages=["en", "ko"],
        max_open=3,
    )
    assert agent["languages"] == ["en", "ko"]
    replaced = await desk.api.call("PUT", "/agents/ann", json_body={"status": "away"})
    assert (replaced.status, replaced.json["status"], replaced.json["endpoints"]) == (
        200,
        "away",
        [],
    )
    await desk.api.call("PUT", "/teams/night", json_body={"members": ["ann"]})
    assert (await desk.api.call("GET", "/agents/ann")).json["teams"] == ["night"]
    assert [t["name"] for t in (await desk.api.call("GET", "/teams")).json] == ["night"]
    assert (await desk.api.call("DELETE", "/teams/night")).status == 204
    assert (await desk.api.call("GET", "/agents/ann")).json["teams"] == []
    assert (await desk.api.call("DELETE", "/agents/ann")).status == 204
    assert (await desk.api.call("GET", "/agents/ann")).status == 404
    assert (await desk.api.call("DELETE", "/agents/ann")).status == 404
