"""Admin API for durable jobs: dead jobs listed, retried and cancelled.

A job dies when its handler failed for good or ran out of attempts (``last_error`` says why).
``POST /jobs/{id}/retry`` queues it again, due now, with all its attempts; ``POST
/jobs/{id}/cancel`` marks it ``cancelled`` (acknowledged, never retried). Both answer 409 for a
job that is not dead, so a retry racing a worker or another admin has one effect. The rules live
in :mod:`workflows.jobs.housekeeping`; this module only speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from ringflow.admin.endpoints import Api, Endpoint, json_answer, query_params
from ringflow.admin.problems import conflict, not_found
from ringflow.clock import Clock
from ringflow.database import Database
from workflows.jobs.db import STATUSES
from workflows.jobs.housekeeping import (
    JobNotDead,
    JobNotFound,
    JobRecord,
    cancel_dead,
    dead_jobs,
    retry_dead,
)

MAX_JOB_ID = 2**63 - 1


@dataclass(frozen=True)
class JobAdmin:
    """What the job endpoints need: the database and the clock."""

    db: Database
    clock: Clock


JOB_ADMIN = web.AppKey("job_admin", JobAdmin)


class JobOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    kind: str = Field(description="which handler runs it, e.g. send_sms")
    payload: dict[str, Any] = Field(description="what the handler is given")
    dedupe_key: str = Field(description="one job per key, ever")
    status: str = Field(description=f"one of {', '.join(STATUSES)}")
    due_at: datetime
    attempts: int = Field(description="claims so far")
    max_attempts: int
    last_error: str | None = Field(description="why the last attempt failed")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = Field(description="when it was done, died or was cancelled")

    @classmethod
    def of(cls, job: JobRecord) -> JobOut:
        return cls(
            id=job.id,
            kind=job.kind,
            payload=job.payload,
            dedupe_key=job.dedupe_key,
            status=job.status,
            due_at=job.due_at,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            last_error=job.last_error,
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
        )


class DeadQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str | None = Field(default=None, max_length=64, description="only jobs of this kind")
    limit: int = Field(default=50, ge=1, le=500)


def _admin(request: web.Request) -> JobAdmin:
    return request.config_dict[JOB_ADMIN]


def _job_id(request: web.Request) -> int:
    """The numeric id in the path, or a 404 (no such job can exist)."""
    raw = request.match_info["job_id"]
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_JOB_ID:
        return int(raw)
    raise not_found(f"job {raw[:40]!r}")


async def list_dead_jobs(request: web.Request) -> web.Response:
    admin = _admin(request)
    options = query_params(request, DeadQuery)
    found = await admin.db.read(
        lambda conn: dead_jobs(conn, limit=options.limit, kind=options.kind)
    )
    return json_answer([JobOut.of(job) for job in found])


async def _change(
    request: web.Request, change: Callable[[Connection, int, datetime], JobRecord]
) -> web.Response:
    admin = _admin(request)
    job_id = _job_id(request)
    now = admin.clock()
    try:
        job = await admin.db.write(lambda conn: change(conn, job_id, now))
    except JobNotFound:
        raise not_found(f"job {job_id}") from None
    except JobNotDead as error:
        raise conflict(str(error)) from None
    return json_answer(JobOut.of(job))


async def retry_job(request: web.Request) -> web.Response:
    return await _change(request, lambda conn, job_id, now: retry_dead(conn, job_id, now=now))


async def cancel_job(request: web.Request) -> web.Response:
    return await _change(request, lambda conn, job_id, now: cancel_dead(conn, job_id, now=now))


def endpoints() -> list[Endpoint]:
    """The job endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    return [
        Endpoint(
            "GET",
            "/jobs/dead",
            list_dead_jobs,
            "Dead jobs (failed for good or out of attempts), the latest to die first",
            "jobs",
            answer=list[JobOut],
            errors=(422,),
            query=DeadQuery,
        ),
        Endpoint(
            "POST",
            "/jobs/{job_id}/retry",
            retry_job,
            "Queue a dead job again, due now, with all its attempts",
            "jobs",
            answer=JobOut,
            description=(
                "Its handler runs as on any retry: a text whose message is already final (for"
                " example failed) is not sent again. 409 when the job is not dead."
            ),
            errors=(404, 409),
        ),
        Endpoint(
            "POST",
            "/jobs/{job_id}/cancel",
            cancel_job,
            "Cancel a dead job: never retried, deleted after the retention period",
            "jobs",
            answer=JobOut,
            description="409 when the job is not dead.",
            errors=(404, 409),
        ),
    ]


def register(api: Api) -> None:
    """Add the job endpoints to ``api``."""
    api.add(*endpoints())
