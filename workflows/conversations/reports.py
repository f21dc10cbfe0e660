"""Reports over conversations: first-response time and customer satisfaction (CSAT), per
agent and per team, over a period.

*First response* covers the conversations that started in the period and got an agent's
reply: the time from the conversation's start (``created_at``) to that reply
(``first_response_at``), grouped by the conversation's assignee as it is now; the median
and the 90th percentile interpolate linearly between the nearest ranks (as PostgreSQL's
``percentile_cont`` does). *CSAT* covers the ratings given in the period (``survey`` steps),
grouped by the assignee the conversation had when it was rated; its average and count.

Everything is computed in SQL, on SQLite and PostgreSQL alike: window functions rank each
group's response times and only the (at most four) ranks the percentiles need come back, so
memory grows with the number of agents and teams, never with the number of conversations.
A group of ``None`` is the conversations (or ratings) that had no agent (or team).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, func, or_, select

from workflows.conversations.db import conversation_ratings, conversations
from workflows.people.db import agents, teams

By = Literal["agent", "team"]
PERCENTILES = (0.5, 0.9)


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    """First-response times of a group: how many, median and 90th percentile in seconds."""

    count: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Satisfaction:
    """Ratings of a group: how many, and their average (1-5)."""

    count: int = 0
    average: float | None = None


@dataclass(slots=True)
class GroupReport:
    """One agent's or team's figures; ``id`` None: nobody was assigned."""

    id: int | None
    name: str | None
    first_response: ResponseTimes = field(default_factory=ResponseTimes)
    csat: Satisfaction = field(default_factory=Satisfaction)


@dataclass(frozen=True, slots=True)
class Report:
    """The report of a period ``[since, until)``: per agent and per team."""

    since: datetime
    until: datetime
    agents: list[GroupReport]
    teams: list[GroupReport]


def _seconds(conn: Connection, later: Any, earlier: Any) -> ColumnElement[Any]:
    """``later - earlier`` in seconds, in the dialect's own words."""
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    # SQLite stores UTC times as text; julianday reads them (to the millisecond).
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _utc(moment: datetime) -> datetime:
    # SQLite compares stored UTC text: a bound time must be UTC too.
    return moment.astimezone(UTC)


def percentile(ranked: Mapping[int, float], count: int, fraction: float) -> float:
    """The ``fraction`` percentile of ``count`` sorted values of which ``ranked`` holds the
    ones at the ranks (0-based) :func:`_ranks_needed` asked for."""
    position = (count - 1) * fraction
    low = int(position)
    high = min(low + 1, count - 1)
    return ranked[low] + (ranked[high] - ranked[low]) * (position - low)


def _ranks_needed(count: ColumnElement[int], row_number: ColumnElement[int]) -> Any:
    """A filter keeping the rows (``row_number`` 1-based) that the percentiles read: for
    each, the rank at or below ``(count - 1) * p`` and the one after it (integer division
    floors, on both databases, for counts >= 1)."""
    tenths = [round(fraction * 10) for fraction in PERCENTILES]
    ranks: list[ColumnElement[Any]] = []
    for tenth in tenths:
        low = ((count - 1) * tenth) // 10
        ranks.extend((low + 1, low + 2))
    return or_(*(row_number == rank for rank in ranks))


def _response_times(
    conn: Connection, by: By, since: datetime, until: datetime
) -> dict[int | None, ResponseTimes]:
    group = conversations.c.assignee_agent_id if by == "agent" else conversations.c.assignee_team_id
    seconds = _seconds(conn, conversations.c.first_response_at, conversations.c.created_at)
    answered = (
        select(
            group.label("grp"),
            seconds.label("seconds"),
            func.row_number().over(partition_by=group, order_by=seconds).label("rn"),
            func.count().over(partition_by=group).label("n"),
        )
        .where(
            conversations.c.created_at >= _utc(since),
            conversations.c.created_at < _utc(until),
            conversations.c.first_response_at.is_not(None),
        )
        .subquery()
    )
    rows = conn.execute(
        select(answered.c.grp, answered.c.n, answered.c.rn, answered.c.seconds).where(
            _ranks_needed(answered.c.n, answered.c.rn)
        )
    ).all()
    ranked: dict[int | None, dict[int, float]] = {}
    counts: dict[int | None, int] = {}
    for grp, count, row_number, value in rows:
        ranked.setdefault(grp, {})[int(row_number) - 1] = float(value)
        counts[grp] = int(count)
    return {
        grp: ResponseTimes(
            counts[grp],
            *(percentile(ranked[grp], counts[grp], fraction) for fraction in PERCENTILES),
        )
        for grp in counts
    }


def _satisfaction(
    conn: Connection, by: By, since: datetime, until: datetime
) -> dict[int | None, Satisfaction]:
    group = conversation_ratings.c.agent_id if by == "agent" else conversation_ratings.c.team_id
    rows = conn.execute(
        select(group, func.count(), func.avg(conversation_ratings.c.rating))
        .where(
            conversation_ratings.c.rated_at >= _utc(since),
            conversation_ratings.c.rated_at < _utc(until),
        )
        .group_by(group)
    ).all()
    return {grp: Satisfaction(int(count), float(average)) for grp, count, average in rows}


def _names(conn: Connection, by: By, ids: Iterable[int | None]) -> dict[int, str]:
    table = agents if by == "agent" else teams
    wanted = [one for one in ids if one is not None]
    if not wanted:
        return {}
    rows = conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(wanted))).all()
    return {row.id: row.name for row in rows}


def _groups(conn: Connection, by: By, since: datetime, until: datetime) -> list[GroupReport]:
    times = _response_times(conn, by, since, until)
    ratings = _satisfaction(conn, by, since, until)
    ids = set(times) | set(ratings)
    names = _names(conn, by, ids)
    reports = [
        GroupReport(
            one,
            names.get(one) if one is not None else None,
            times.get(one, ResponseTimes()),
            ratings.get(one, Satisfaction()),
        )
        for one in ids
        # An agent or team deleted since: its figures went with it (no name to show).
        if one is None or one in names
    ]
    return sorted(reports, key=lambda report: (report.name is None, report.name or ""))


def report(conn: Connection, since: datetime, until: datetime) -> Report:
    """First-response times and CSAT per agent and per team over ``[since, until)``."""
    return Report(
        since,
        until,
        _groups(conn, "agent", since, until),
        _groups(conn, "team", since, until),
    )


__all__ = [
    "GroupReport",
    "Report",
    "ResponseTimes",
    "Satisfaction",
    "percentile",
    "report",
]
