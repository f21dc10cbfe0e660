"""``GET /api/reports`` on a small fixture of conversations and ratings, its figures checked
against values computed by hand; bad periods are 422s naming the parameter; agent tokens are
refused."""

from __future__ import annotations

from datetime import UTC, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection

from tests.clock import MONDAY, next_weekday_at
from tests.ringflow.admin.people import Desk, desk
from workflows.conversations.db import conversation_ratings, conversations
from workflows.people.agents import find_agent
from workflows.people.teams import find_team

__all__ = ["desk"]

SEOUL = ZoneInfo("Asia/Seoul")
T0 = next_weekday_at(MONDAY, time(9, 0), SEOUL)

# (hours after T0 it started, seconds to its first reply or None, agent, team)
CONVERSATIONS = [
    (0, 60, "alice", "support"),
    (1, 120, "alice", "support"),
    (2, 600, "alice", "support"),
    (3, 30, "bob", "support"),
    (4, None, "bob", "support"),  # unanswered: no first-response time
    (5, 300, None, None),  # nobody assigned
    (48, 10, "alice", "support"),  # after the period
    (-2, 10, "bob", None),  # before it
]
# (hours after T0 it was rated, rating, agent, team)
RATINGS = [
    (1, 5, "alice", "support"),
    (2, 4, "alice", "support"),
    (3, 2, "bob", "support"),
    (72, 1, "alice", "support"),  # after the period
]


async def fixture(desk: Desk) -> None:
    await desk.agent("alice")
    await desk.agent("bob")
    team = await desk.api.call("PUT", "/teams/support", json_body={"members": ["alice", "bob"]})
    assert team.status == 201, team.text

    def write(conn: Connection) -> None:
        def agent_id(name: str | None) -> int | None:
            found = find_agent(conn, name) if name else None
            return None if found is None else found.id

        def team_id(name: str | None) -> int | None:
            found = find_team(conn, name) if name else None
            return None if found is None else found.id

        ids = []
        for number, (hours, seconds, agent, team) in enumerate(CONVERSATIONS):
            start = (T0 + timedelta(hours=hours)).astimezone(UTC)
            ids.append(
                conn.execute(
                    conversations.insert()
                    .values(
                        business_number="+15005550001",
                        contact_number=f"+1415555{number:04d}",
                        created_at=start,
                        last_message_at=start,
                        channel="sms",
                        latest=True,
                        assignee_agent_id=agent_id(agent),
                        assignee_team_id=team_id(team),
                        first_response_at=(
                            None if seconds is None else start + timedelta(seconds=seconds)
                        ),
                    )
                    .returning(conversations.c.id)
                ).scalar_one()
            )
        for number, (hours, rating, agent, team) in enumerate(RATINGS):
            conn.execute(
                conversation_ratings.insert().values(
                    conversation_id=ids[number],
                    rating=rating,
                    agent_id=agent_id(agent),
                    team_id=team_id(team),
                    run_id=f"run-{number}",
                    turn=1,
                    rated_at=(T0 + timedelta(hours=hours)).astimezone(UTC),
                )
            )

    await desk.api.server.db.write(write)


def by_name(groups: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {group["name"]: group for group in groups}


async def test_first_response_and_csat_per_agent_and_team(desk: Desk) -> None:
    await fixture(desk)
    since = (T0 - timedelta(hours=1)).isoformat()  # +09:00
    until = (T0 + timedelta(days=1)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    answer = await desk.api.call("GET", "/reports", params={"from": since, "to": until})
    assert answer.status == 200, answer.text
    agents, teams = by_name(answer.json["agents"]), by_name(answer.json["teams"])
    assert set(agents) == {"alice", "bob", None}
    assert set(teams) == {"support", None}

    def figures(group: dict[str, Any]) -> tuple[Any, ...]:
        times, csat = group["first_response"], group["csat"]
        return (
            times["count"],
            times["median_seconds"],
            times["p90_seconds"],
            csat["count"],
            csat["average"],
        )

    approx = pytest.approx
    # alice: 60, 120, 600 -> median 120; p90 at rank 1.8: 120 + 0.8 * 480 = 504. Ratings 5, 4.
    assert figures(agents["alice"]) == (3, approx(120, abs=0.01), approx(504, abs=0.01), 2, 4.5)
    # bob: 30 (the unanswered one and the one before the period do not count). Rating 2.
    assert figures(agents["bob"]) == (1, approx(30, abs=0.01), approx(30, abs=0.01), 1, 2.0)
    assert figures(agents[None]) == (1, approx(300, abs=0.01), approx(300, abs=0.01), 0, None)
    # support: 30, 60, 120, 600 -> median 90; p90 at rank 2.7: 120 + 0.7 * 480 = 456.
    assert figures(teams["support"]) == (
        4,
        approx(90, abs=0.01),
        approx(456, abs=0.01),
        3,
        approx(11 / 3),
    )
    assert figures(teams[None])[:3] == (1, approx(300, abs=0.01), approx(300, abs=0.01))
    assert agents["alice"]["id"] is not None
    assert agents[None]["id"] is None


async def test_an_empty_period_has_no_groups(desk: Desk) -> None:
    await fixture(desk)
    since = T0 + timedelta(days=10)
    answer = await desk.api.call(
        "GET",
        "/reports",
        params={"from": since.isoformat(), "to": (since + timedelta(days=1)).isoformat()},
    )
    assert answer.status == 200, answer.text
    assert (answer.json["agents"], answer.json["teams"]) == ([], [])


NOW = T0.isoformat()
NAIVE = T0.replace(tzinfo=None).isoformat()
TOO_LATE = (T0 + timedelta(days=367)).isoformat()
NEXT_DAY = (T0 + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": NOW}, "query.from"),
        ({"from": NOW}, "query.to"),
        ({"from": NAIVE, "to": NEXT_DAY}, "query.from"),  # no time zone
        ({"from": "yesterday", "to": NOW}, "query.from"),
        ({"from": NOW, "to": NOW}, "query.to"),  # not after `from`
        ({"from": NOW, "to": TOO_LATE}, "query.to"),  # over 366 days
    ],
)
async def test_a_bad_period_is_a_422_naming_the_parameter(
    desk: Desk, params: dict[str, str], field: str
) -> None:
    answer = await desk.api.call("GET", "/reports", params=params)
    assert answer.status == 422, answer.text
    assert field in [error["field"] for error in answer.json["errors"]], answer.text


async def test_agent_tokens_are_refused(desk: Desk) -> None:
    await desk.agent("alice")
    token = await desk.agent_token("alice")
    params = {"from": NOW, "to": NEXT_DAY}
    answer = await desk.api.call("GET", "/reports", params=params, token=token)
    assert answer.status == 403, answer.text
