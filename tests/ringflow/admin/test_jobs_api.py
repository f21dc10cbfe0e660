"""The job endpoints of the admin API against a real server whose own worker runs the jobs:
a job that dies is listed, retried (and runs again) or cancelled, each once; tokens, bad ids
and jobs that are not dead."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from tests.api_client import ApiClient
from tests.conftest import eventually
from workflows.jobs import enqueue
from workflows.jobs.housekeeping import job_by_id

UNHANDLED = "no_such_kind"
"""A kind the server has no handler for: its worker kills such a job at once."""


async def dying_job(api: ApiClient, key: str, kind: str = UNHANDLED) -> int:
    """A job the server's worker claims and kills; its id once it is dead."""
    now = api.server.clock()

    def add(conn: Connection) -> int:
        job_id = enqueue(conn, kind, {"for": key}, dedupe_key=key, max_attempts=1, now=now)
        assert job_id is not None
        return job_id

    job_id = await api.server.db.write(add)
    await eventually(lambda: status_of(api, job_id, "dead"), what=f"job {job_id} to die")
    return job_id


async def status_of(api: ApiClient, job_id: int, wanted: str) -> bool:
    job = await api.server.db.read(lambda conn: job_by_id(conn, job_id))
    return job is not None and job.status == wanted


async def post(api: ApiClient, path: str, status: int) -> Any:
    answer = await api.call("POST", path)
    assert answer.status == status, answer.text
    return answer.json


async def test_a_dead_job_is_listed_with_why_it_died(api: ApiClient) -> None:
    first = await dying_job(api, "first")
    second = await dying_job(api, "second", kind="other_missing_kind")

    answer = await api.call("GET", "/jobs/dead")
    assert answer.status == 200
    listed = answer.json
    assert [job["id"] for job in listed] == [second, first]
    job = listed[1]
    assert job["kind"] == UNHANDLED
    assert job["status"] == "dead"
    assert job["payload"] == {"for": "first"}
    assert job["last_error"] == f"no handler for kind {UNHANDLED}"
    assert (job["attempts"], job["max_attempts"]) == (1, 1)
    assert job["finished_at"].endswith("Z")

    by_kind = await api.call("GET", "/jobs/dead", params={"kind": UNHANDLED})
    assert [job["id"] for job in by_kind.json] == [first]
    assert len((await api.call("GET", "/jobs/dead", params={"limit": "1"})).json) == 1


async def test_a_retried_job_runs_again(api: ApiClient) -> None:
    job_id = await dying_job(api, "again")

    retried = await post(api, f"/jobs/{job_id}/retry", 200)

    assert (retried["status"], retried["attempts"]) == ("queued", 0)
    assert retried["finished_at"] is None
    # The worker claims it again (one attempt) and, still without a handler, it dies again.
    await eventually(lambda: status_of(api, job_id, "dead"), what="the retried job to run")
    job = await api.server.db.read(lambda conn: job_by_id(conn, job_id))
    assert job is not None
    assert job.attempts == 1


async def test_a_cancelled_job_is_gone_from_the_dead_list_and_cannot_be_retried(
    api: ApiClient,
) -> None:
    job_id = await dying_job(api, "cancel me")

    cancelled = await post(api, f"/jobs/{job_id}/cancel", 200)

    assert cancelled["status"] == "cancelled"
    assert (await api.call("GET", "/jobs/dead")).json == []
    problem = await post(api, f"/jobs/{job_id}/retry", 409)
    assert (
        problem["detail"] == f"job {job_id} is cancelled, not dead: only dead jobs can be changed"
    )
    await post(api, f"/jobs/{job_id}/cancel", 409)
    assert await status_of(api, job_id, "cancelled")


async def test_a_job_that_is_not_dead_or_does_not_exist_is_refused(api: ApiClient) -> None:
    now = api.server.clock()
    later = now + timedelta(days=365)
    waiting = await api.server.db.write(
        lambda conn: enqueue(conn, UNHANDLED, {}, dedupe_key="later", due_at=later, now=now)
    )
    assert waiting is not None
    problem = await post(api, f"/jobs/{waiting}/retry", 409)
    assert "is queued, not dead" in problem["detail"]
    assert await status_of(api, waiting, "queued")
    assert (await post(api, "/jobs/999999/cancel", 404))["detail"] == "job 999999 does not exist"
    await post(api, "/jobs/not-a-number/retry", 404)
    await post(api, "/jobs/99999999999999999999/retry", 404)
    bad = await api.call("GET", "/jobs/dead", params={"limit": "0"})
    assert bad.status == 422
    assert "query.limit" in bad.text


async def test_the_job_endpoints_need_a_token(api: ApiClient) -> None:
    job_id = await dying_job(api, "guarded")
    assert (await api.call("GET", "/jobs/dead", token=False)).status == 401
    assert (await api.call("POST", f"/jobs/{job_id}/retry", token="rf_wrong")).status == 401
    assert await status_of(api, job_id, "dead")


async def test_the_job_endpoints_are_in_the_openapi_document(api: ApiClient) -> None:
    document = (await api.call("GET", "/openapi.json")).json
    assert set(document["paths"]["/api/jobs/dead"]) == {"get"}
    retry = document["paths"]["/api/jobs/{job_id}/retry"]["post"]
    assert {"200", "404", "409"} <= set(retry["responses"])
