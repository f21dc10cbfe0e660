"""The call log endpoints of the admin API, with calls placed by a softphone on a real server
(the demo line): the path, keys, outcome and times of each call; filters; tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.softphone import CallerHungUp, CallResult, ScriptedCaller, Softphone
from tests.api_client import ApiClient
from tests.conftest import AUTH_TOKEN, PUBLIC_URL

CALLER = "+14155550123"
DEMO_LINE = "+15005550001"


async def place(api: ApiClient, *answers: str | type[CallerHungUp] | None) -> CallResult:
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    return await phone.call(ScriptedCaller(list(answers)), from_=CALLER, to=DEMO_LINE)


async def test_a_call_with_its_path_keys_outcome_and_times(api: ApiClient) -> None:
    before = datetime.now(UTC)
    result = await place(api, "1", "2")  # hours, then "end the call"

    answer = await api.call("GET", f"/calls/{result.call_sid}")
    assert answer.status == 200
    call = answer.json
    assert call["sid"] == result.call_sid
    assert (call["caller"], call["called"]) == (CALLER, DEMO_LINE)
    assert call["workflow_id"] == "demo-line"
    assert call["path"] == ["welcome", "main", "hours", "anything_else", "bye"]
    assert call["keys"] == ["1", "2"]
    assert call["status"] == "completed"
    assert call["outcome"] == "self_service"
    assert call["duration"] == result.duration
    started = datetime.fromisoformat(call["started_at"])
    assert started.tzinfo is not None
    assert before - timedelta(seconds=1) <= started <= datetime.now(UTC)
    assert call["ended_at"] is not None
    assert datetime.fromisoformat(call["ended_at"]) >= started


async def test_unknown_calls_are_404(api: ApiClient) -> None:
    missing = await api.call("GET", "/calls/CA" + "0" * 32)
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"


async def test_the_log_is_newest_first_and_filtered(api: ApiClient) -> None:
    served = await place(api, "1", "2")
    hung_up = await place(api, CallerHungUp)
    listed = await api.call("GET", "/calls")
    assert listed.status == 200
    assert [c["sid"] for c in listed.json] == [hung_up.call_sid, served.call_sid]
    other = listed.json[0]["outcome"]
    assert other not in (None, "self_service")

    self_service = await api.call("GET", "/calls", params={"outcome": "self_service"})
    assert [c["sid"] for c in self_service.json] == [served.call_sid]
    assert len((await api.call("GET", "/calls", params={"limit": "1"})).json) == 1

    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert len((await api.call("GET", "/calls", params={"since": an_hour_ago})).json) == 2
    later = (datetime.now(UTC) + timedelta(minutes=5)).astimezone()
    assert (await api.call("GET", "/calls", params={"since": later.isoformat()})).json == []
    naive_utc = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert len((await api.call("GET", "/calls", params={"since": naive_utc})).json) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"outcome": "hung-up"}, "query.outcome"),
        ({"limit": "0"}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"since": "yesterday"}, "query.since"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "query.since"),
        ({"sid": "CA1"}, "query.sid"),
    ],
)
async def test_bad_queries_name_the_parameter(
    api: ApiClient, params: dict[str, str], field: str
) -> None:
    answer = await api.call("GET", "/calls", params=params)
    assert answer.status == 422
    assert answer.json["errors"][0]["field"] == field


@pytest.mark.parametrize("path", ["/calls", "/calls/CA" + "0" * 32])
async def test_the_call_log_needs_a_valid_token(api: ApiClient, path: str) -> None:
    assert (await api.call("GET", path, token=False)).status == 401
    assert (await api.call("GET", path, token="rf_" + "x" * 43)).status == 401
