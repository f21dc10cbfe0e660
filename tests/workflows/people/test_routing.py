"""The routing decision: who a call to a team rings, by the team's ring strategy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows.people.agents import Endpoint
from workflows.people.routing import MAX_RING, Member, RingStrategy, TeamSnapshot, agents_to_ring

NOW = datetime.now(UTC)
PHONE = (Endpoint("phone", "+12025550181"),)


def member(name: str, **values: object) -> Member:
    fields: dict[str, object] = {"status": "available", "endpoints": PHONE} | values
    return Member(agent_id=hash(name) % 10_000, name=name, **fields)  # type: ignore[arg-type]


def team(strategy: RingStrategy, *members: Member) -> TeamSnapshot:
    return TeamSnapshot(1, "support", strategy, 0, members)


def names(chosen: tuple[Member, ...]) -> list[str]:
    return [m.name for m in chosen]


def test_only_available_agents_off_calls_past_their_wrap_up_with_an_endpoint_ring() -> None:
    support = team(
        "ring_all",
        member("ann"),
        member("away", status="away"),
        member("busy", on_call="CA1"),
        member("wrapping", busy_until=NOW + timedelta(seconds=5)),
        member("wrapped", busy_until=NOW - timedelta(seconds=5)),
        member("unreachable", endpoints=()),
    )
    assert names(agents_to_ring(support, NOW)) == ["ann", "wrapped"]
    # An agent offered this very caller is free for it, and only for it.
    assert names(agents_to_ring(support, NOW, call="CA1", only="busy")) == ["busy"]
    assert names(agents_to_ring(support, NOW, call="CA2", only="busy")) == []


def test_an_agent_offered_by_name_rings_though_they_missed_the_call_before() -> None:
    # They missed it (set away), came back: the queue offers them the caller again, and the
    # caller must ring them rather than go back to the queue to be offered them forever.
    support = team("longest_idle", member("ann"), member("bob"))
    assert names(agents_to_ring(support, NOW, call="CA1", tried=["ann"], only="ann")) == ["ann"]
    assert names(agents_to_ring(support, NOW, call="CA1", tried=["ann"])) == ["bob"]


def test_ring_all_rings_at_most_ten_longest_idle_first() -> None:
    members = [
        member(f"a{i:02}", busy_until=NOW - timedelta(minutes=i)) for i in range(MAX_RING + 5)
    ]
    chosen = names(agents_to_ring(team("ring_all", *members), NOW))
    assert len(chosen) == MAX_RING
    assert chosen[0] == f"a{MAX_RING + 4:02}"  # idle longest
    assert "a00" not in chosen


def test_round_robin_rings_the_member_rung_longest_ago_and_skips_those_tried() -> None:
    support = team(
        "round_robin",
        member("ann", last_rung_at=NOW - timedelta(seconds=10)),
        member("bob", last_rung_at=NOW - timedelta(seconds=30)),
        member("cat", last_rung_at=NOW - timedelta(seconds=20)),
    )
    assert names(agents_to_ring(support, NOW)) == ["bob"]
    assert names(agents_to_ring(support, NOW, tried=["bob"])) == ["cat"]
    assert names(agents_to_ring(support, NOW, tried=["bob", "cat", "ann"])) == []
    never = team("round_robin", *support.members, member("dan"))
    assert names(agents_to_ring(never, NOW)) == ["dan"]  # never rung goes first


def test_longest_idle_rings_the_agent_whose_last_call_ended_longest_ago() -> None:
    support = team(
        "longest_idle",
        member("ann", busy_until=NOW - timedelta(minutes=1)),
        member("bob", busy_until=NOW - timedelta(minutes=9)),
    )
    assert names(agents_to_ring(support, NOW)) == ["bob"]
    fresh = team("longest_idle", *support.members, member("cat"))
    assert names(agents_to_ring(fresh, NOW)) == ["cat"]  # no call yet: idle longest
