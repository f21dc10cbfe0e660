"""Admin API for reports: first-response time and CSAT per agent and team over a period.

``GET /reports?from=...&to=...`` takes two times with their time zone (ISO 8601, e.g.
``2026-03-01T00:00:00+09:00`` or ``...Z``); ``to`` must come after ``from`` and at most
:data:`MAX_DAYS` later, else a 422 names the parameter. Admin tokens only: a report shows
every agent's figures, and agent tokens may only list and act on conversations. The figures
are computed by :mod:`workflows.conversations.reports`; this module only speaks HTTP.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ringflow.admin.context import admin_of, unprocessable
from ringflow.admin.endpoints import Api, Endpoint, json_answer, query_params
from workflows.conversations.reports import GroupReport, Report, report

MAX_DAYS = 366
"""The longest period one report covers."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportQuery(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    since: AwareDatetime = Field(
        alias="from", description="start of the period (included), with its time zone"
    )
    until: AwareDatetime = Field(
        alias="to", description="end of the period (excluded), with its time zone"
    )


class ResponseTimesOut(Strict):
    count: int = Field(description="conversations started in the period that got a reply")
    median_seconds: float | None = Field(description="median time to the first agent reply")
    p90_seconds: float | None = Field(description="90th percentile of that time")


class SatisfactionOut(Strict):
    count: int = Field(description="ratings given in the period")
    average: float | None = Field(description="their average, 1 to 5")


class GroupOut(Strict):
    id: int | None = Field(description="the agent's or team's id; null: nobody assigned")
    name: str | None
    first_response: ResponseTimesOut
    csat: SatisfactionOut

    @classmethod
    def of(cls, group: GroupReport) -> GroupOut:
        times, csat = group.first_response, group.csat
        return cls(
            id=group.id,
            name=group.name,
            first_response=ResponseTimesOut(
                count=times.count,
                median_seconds=times.median_seconds,
                p90_seconds=times.p90_seconds,
            ),
            csat=SatisfactionOut(count=csat.count, average=csat.average),
        )


class ReportOut(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    agents: list[GroupOut] = Field(description="by the conversation's agent")
    teams: list[GroupOut] = Field(description="by the conversation's team")

    @classmethod
    def of(cls, found: Report) -> ReportOut:
        return cls(
            since=found.since,
            until=found.until,
            agents=[GroupOut.of(group) for group in found.agents],
            teams=[GroupOut.of(group) for group in found.teams],
        )


async def get_report(request: web.Request) -> web.Response:
    query = query_params(request, ReportQuery)
    since, until = query.since, query.until
    if until <= since:
        raise unprocessable("query.to", "must be later than `from`")
    if until - since > timedelta(days=MAX_DAYS):
        raise unprocessable("query.to", f"must be at most {MAX_DAYS} days after `from`")
    found = await admin_of(request).db.read(lambda conn: report(conn, since, until))
    return json_answer(ReportOut.of(found))


def endpoints() -> list[Endpoint]:
    """The report endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    return [
        Endpoint(
            "GET",
            "/reports",
            get_report,
            "First-response time (median, p90) and CSAT per agent and team over a period",
            "reports",
            answer=ReportOut,
            errors=(422,),
            query=ReportQuery,
            description=(
                "First response: conversations started in [from, to) that got an agent's"
                " reply, by their assignee now. CSAT: survey ratings given in [from, to), by"
                " the assignee when rated. Admin tokens only."
            ),
        ),
    ]


def register(api: Api) -> None:
    """Add the report endpoints to ``api``."""
    api.add(*endpoints())
