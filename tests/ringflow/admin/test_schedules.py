"""The schedule endpoints of the admin API on a real server whose clock is Monday 10:00 in
Seoul: schedules open or closed now, until when, next opening; "closed now" / "open now"
overrides that calls follow at once, and removing them; tokens and bad bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from ivr.softphone import ScriptedCaller, Softphone
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MONDAY, SATURDAY, MovableClock, next_weekday_at, on_day_at
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, ServerFactory, workflow
from workflows.schedules.overrides import load_overrides

SEOUL = ZoneInfo("Asia/Seoul")
MONDAY_10 = next_weekday_at(MONDAY, time(10, 0), SEOUL)
OUR_NUMBER = "+15005550001"
CLOSED_LINE = workflow(
    """
id: a-closed-line
trigger: {event: call.incoming, when: {closed: office}}
start: closed
steps:
  closed: {say: "We are closed."}
"""
)
MAIN_LINE = workflow(
    """
id: b-main-line
trigger: {event: call.incoming}
start: hello
steps:
  hello: {say: "Thank you for calling."}
"""
)


@pytest.fixture
async def api(servers: ServerFactory, tmp_path: Path) -> AsyncIterator[ApiClient]:
    """A server with the schedules ``office`` (Mon/Tue 9-18 in Seoul) and ``weekend``, its
    clock at Monday 10:00 in Seoul, and an admin client."""
    flows = tmp_path / "flows"
    (flows / "schedules").mkdir(parents=True)
    (flows / "schedules" / "office.yaml").write_text(
        'timezone: Asia/Seoul\nweekly: {mon: ["09:00-18:00"], tue: ["09:00-18:00"]}\n'
    )
    (flows / "schedules" / "weekend.yaml").write_text(
        'timezone: Europe/Berlin\nweekly: {sat: ["10:00-14:00"]}\n'
    )
    clock = MovableClock(MONDAY_10)
    server = await servers.start(
        [CLOSED_LINE, MAIN_LINE], clock=clock, flows_dir=flows, admin_token=ADMIN_TOKEN
    )
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server, session)


async def heard(api: ApiClient) -> str:
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    result = await phone.call(ScriptedCaller(), to=OUR_NUMBER)
    return str(result.transcript[0])


def at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def about_now(text: str) -> bool:
    """Whether ``text`` is the server's "now" (its clock started at Monday 10:00 and runs)."""
    return abs(datetime.fromisoformat(text) - MONDAY_10) < timedelta(seconds=30)


async def test_every_schedule_open_or_closed_now(api: ApiClient) -> None:
    listed = await api.call("GET", "/schedules")
    assert listed.status == 200
    office, weekend = listed.json
    assert office["name"] == "office"
    assert office["timezone"] == "Asia/Seoul"
    assert office["open"] is True
    assert at(office["until"]) == on_day_at(MONDAY_10, 0, time(18, 0))
    assert about_now(office["next_open"])
    assert office["overridden"] is False
    assert office["override"] is None
    assert office["summary"].startswith("office: open until 18:00")

    assert weekend["name"] == "weekend"
    assert weekend["open"] is False
    saturday = next_weekday_at(SATURDAY, time(10, 0), ZoneInfo("Europe/Berlin"), after=MONDAY_10)
    assert at(weekend["next_open"]) == saturday
    assert at(weekend["until"]) == saturday

    one = await api.call("GET", "/schedules/office")
    assert one.status == 200
    assert {**one.json, "next_open": None} == {**office, "next_open": None}
    missing = await api.call("GET", "/schedules/night")
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"


async def test_closed_now_applies_to_calls_at_once_until_removed(api: ApiClient) -> None:
    assert await heard(api) == "Say: Thank you for calling."

    closed = await api.call("PUT", "/schedules/office/override", json_body={"open": False})
    assert closed.status == 200
    assert closed.json["open"] is False
    assert closed.json["overridden"] is True
    assert closed.json["override"]["open"] is False
    assert about_now(closed.json["override"]["set_at"])
    assert at(closed.json["next_open"]) == on_day_at(MONDAY_10, 1, time(9, 0))
    # Stored for the other instances, and applied here without waiting for their refresh.
    stored = await api.server.db.read(load_overrides)
    assert stored["office"].open is False
    assert await heard(api) == "Say: We are closed."

    reopened = await api.call("DELETE", "/schedules/office/override")
    assert reopened.status == 200
    assert reopened.json["open"] is True
    assert reopened.json["override"] is None
    assert await heard(api) == "Say: Thank you for calling."
    assert await api.server.db.read(load_overrides) == {}

    again = await api.call("DELETE", "/schedules/office/override")
    assert again.status == 404
    assert again.content_type == "application/problem+json"


async def test_open_now_replaces_the_override(api: ApiClient) -> None:
    await api.call("PUT", "/schedules/weekend/override", json_body={"open": False})
    opened = await api.call("PUT", "/schedules/weekend/override", json_body={"open": True})
    assert opened.status == 200
    assert opened.json["open"] is True
    assert opened.json["overridden"] is True
    assert opened.json["summary"].endswith("by a manual override")
    listed = await api.call("GET", "/schedules")
    assert [s["override"] for s in listed.json] == [None, opened.json["override"]]


async def test_unknown_schedules_have_no_override(api: ApiClient) -> None:
    put = await api.call("PUT", "/schedules/night/override", json_body={"open": True})
    assert put.status == 404
    delete = await api.call("DELETE", "/schedules/night/override")
    assert delete.status == 404
    assert await api.server.db.read(load_overrides) == {}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"open": "yes"}, [{"field": "body.open", "message": "Input should be a valid boolean"}]),
        ({}, [{"field": "body.open", "message": "required"}]),
        ({"open": True, "until": "18:00"}, [{"field": "body.until", "message": "unknown field"}]),
        (
            [True],
            [
                {
                    "field": "body",
                    "message": "Input should be a valid dictionary or instance of OverrideIn",
                }
            ],
        ),
    ],
)
async def test_bad_bodies_name_the_field(
    api: ApiClient, body: object, errors: list[dict[str, str]]
) -> None:
    answer = await api.call("PUT", "/schedules/office/override", json_body=body)
    assert answer.status == 422
    assert answer.json["errors"] == errors
    assert await api.server.db.read(load_overrides) == {}


async def test_bodies_that_are_not_json_or_too_large(api: ApiClient) -> None:
    path = "/schedules/office/override"
    not_json = await api.call("PUT", path, data="open: true", content_type="application/json")
    assert not_json.status == 400
    as_form = await api.call("PUT", path, data="open=1", content_type="text/plain")
    assert as_form.status == 415
    huge = '{"open": true, "note": "' + "x" * (64 * 1024) + '"}'
    too_big = await api.call("PUT", path, data=huge, content_type="application/json")
    assert too_big.status == 413
    assert await api.server.db.read(load_overrides) == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/schedules"),
        ("GET", "/schedules/office"),
        ("PUT", "/schedules/office/override"),
        ("DELETE", "/schedules/office/override"),
    ],
)
async def test_every_endpoint_needs_a_valid_token(api: ApiClient, method: str, path: str) -> None:
    body = {"open": False} if method == "PUT" else None
    assert (await api.call(method, path, json_body=body, token=False)).status == 401
    wrong = await api.call(method, path, json_body=body, token="rf_" + "x" * 43)
    assert wrong.status == 401
    assert await api.server.db.read(load_overrides) == {}


LUNCH_LINE = """\
id: lunch-line
trigger: {event: call.incoming, to: "+15005550007", when: {open: lunch}}
start: hello
steps:
  hello: {say: "Lunch is served."}
"""


async def test_schedules_made_over_the_api_are_used_by_workflows(api: ApiClient) -> None:
    lunch = {"timezone": "Asia/Seoul", "weekly": {"mon": ["09:30-11:00"]}}
    created = await api.call("PUT", "/schedules/lunch", json_body=lunch)
    assert created.status == 201
    assert created.json["origin"] == "api"
    assert created.json["open"] is True  # Monday 10:00 in Seoul
    assert created.json["definition"]["weekly"] == {"mon": ["09:30-11:00"]}
    replaced = await api.call("PUT", "/schedules/lunch", json_body=lunch)
    assert replaced.status == 200

    published = await api.call(
        "POST",
        "/workflows",
        data=LUNCH_LINE,
        content_type="application/yaml",
        params={"publish": "true"},
    )
    assert published.status == 201
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    result = await phone.call(ScriptedCaller(), to="+15005550007")
    assert result.transcript[0] == "Say: Lunch is served."

    in_use = await api.call("DELETE", "/schedules/lunch")
    assert in_use.status == 409
    assert "lunch-line" in in_use.json["detail"]
    assert (await api.call("DELETE", "/workflows/lunch-line")).status == 204
    assert (await api.call("DELETE", "/schedules/lunch")).status == 204
    assert (await api.call("GET", "/schedules/lunch")).status == 404


async def test_a_files_schedule_cannot_be_changed_here_and_bad_ones_are_422(
    api: ApiClient,
) -> None:
    listed = await api.call("GET", "/schedules")
    assert {s["name"]: s["origin"] for s in listed.json} == {"office": "file", "weekend": "file"}
    mine = {"timezone": "Asia/Seoul", "weekly": {"mon": ["09:00-10:00"]}}
    assert (await api.call("PUT", "/schedules/office", json_body=mine)).status == 409
    assert (await api.call("DELETE", "/schedules/office")).status == 409
    bad = await api.call(
        "PUT", "/schedules/new", json_body={"timezone": "Mars/Olympus", "weekly": {"mon": ["9-5"]}}
    )
    assert bad.status == 422
    fields = {error["field"] for error in bad.json["errors"]}
    assert fields == {"body.timezone", "body.weekly.mon.0"}
    assert (await api.call("PUT", "/schedules/Bad Name", json_body=mine)).status == 422
