"""The contact endpoints of the admin API against a real server: list and search, read one,
create or replace one, merge attribute changes; tokens, bad bodies and sizes."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.softphone import CallerHungUp, ScriptedCaller, Softphone
from tests.api_client import ApiClient
from tests.clock import FrozenClock
from tests.conftest import AUTH_TOKEN, PUBLIC_URL
from workflows.contacts import set_attributes

CLOCK = FrozenClock()
NOW = CLOCK.now

ANNA = "+14155550123"
ANNA_PATH = "/contacts/%2B14155550123"
BORIS = "+12025550143"


async def put(api: ApiClient, number: str, body: object) -> tuple[int, Any]:
    answer = await api.call("PUT", "/contacts/" + number.replace("+", "%2B"), json_body=body)
    return answer.status, answer.json


async def test_a_contact_is_created_then_replaced(api: ApiClient) -> None:
    status, created = await put(api, ANNA, {"name": "Anna", "attributes": {"vip": True, "n": 2}})
    assert status == 201
    assert created["number"] == ANNA
    assert created["name"] == "Anna"
    assert created["attributes"] == {"vip": True, "n": 2}
    assert str(created["created_at"]).endswith("Z")

    status, replaced = await put(api, ANNA, {"name": "Anna K", "attributes": {"tier": "gold"}})
    assert status == 200
    assert replaced["id"] == created["id"]
    assert replaced["attributes"] == {"tier": "gold"}  # PUT replaces them all

    read = await api.call("GET", ANNA_PATH)
    assert read.status == 200
    assert read.json == replaced
    # The number may be written another way; it is stored and answered in E.164.
    assert (await api.call("GET", "/contacts/%2B1%20415%20555%200123")).json["number"] == ANNA


async def test_unknown_and_malformed_numbers(api: ApiClient) -> None:
    missing = await api.call("GET", ANNA_PATH)
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"
    junk = await api.call("GET", "/contacts/not-a-number")
    assert junk.status == 422
    assert junk.json["errors"][0]["field"] == "path.number"
    assert (await api.call("PUT", "/contacts/12", json_body={})).status == 422
    patch_missing = await api.call("PATCH", ANNA_PATH + "/attributes", json_body={"a": 1})
    assert patch_missing.status == 404


async def test_attributes_are_merged_and_null_removes_one(api: ApiClient) -> None:
    await put(api, ANNA, {"name": "Anna", "attributes": {"vip": True, "tier": "gold"}})
    patched = await api.call(
        "PATCH", ANNA_PATH + "/attributes", json_body={"tier": None, "visits": 3, "score": 1.5}
    )
    assert patched.status == 200
    assert patched.json["attributes"] == {"vip": True, "visits": 3, "score": 1.5}
    assert patched.json["name"] == "Anna"


async def test_attributes_must_be_scalars(api: ApiClient) -> None:
    await put(api, ANNA, {})
    nested = await api.call("PATCH", ANNA_PATH + "/attributes", json_body={"tags": ["a", "b"]})
    assert nested.status == 422
    assert nested.json["errors"] == [
        {
            "field": "body.tags",
            "message": "must be text, a number, true or false, or null to remove it",
        }
    ]
    status, body = await put(api, ANNA, {"attributes": {"address": {"city": "Seoul"}}})
    assert status == 422
    assert body["errors"][0]["field"] == "body.attributes.address"
    status, body = await put(api, ANNA, {"attributes": {"vip": None}})
    assert status == 422
    assert body["errors"][0]["field"] == "body.attributes.vip"
    status, body = await put(api, ANNA, {"nickname": "A"})
    assert status == 422
    assert body["errors"] == [{"field": "body.nickname", "message": "unknown field"}]
    status, body = await put(api, ANNA, {"name": 7})
    assert status == 422
    assert body["errors"][0]["field"] == "body.name"


async def test_bodies_that_are_not_json_or_too_large(api: ApiClient) -> None:
    not_json = await api.call("PUT", ANNA_PATH, data="{name: Anna", content_type="application/json")
    assert not_json.status == 400
    yaml = await api.call("PUT", ANNA_PATH, data="name: Anna", content_type="application/yaml")
    assert yaml.status == 415
    huge = '{"name": "' + "x" * (64 * 1024) + '"}'
    too_big = await api.call("PUT", ANNA_PATH, data=huge, content_type="application/json")
    assert too_big.status == 413
    too_big = await api.call(
        "PATCH", ANNA_PATH + "/attributes", data=huge, content_type="application/json"
    )
    assert too_big.status == 413
    assert (await api.call("GET", ANNA_PATH)).status == 404  # nothing was stored


async def test_listing_is_newest_first_with_a_number_or_a_prefix(api: ApiClient) -> None:
    # Real contacts: a call made one, texts to the API another.
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    await phone.call(ScriptedCaller([CallerHungUp]), from_=BORIS, to="+15005550001")
    await api.server.db.write(lambda conn: set_attributes(conn, BORIS, {"vip": True}, now=NOW))
    await put(api, ANNA, {"name": "Anna"})

    listed = await api.call("GET", "/contacts")
    assert listed.status == 200
    assert [c["number"] for c in listed.json] == [ANNA, BORIS]
    assert listed.json[1]["attributes"] == {"vip": True}
    assert len((await api.call("GET", "/contacts", params={"limit": "1"})).json) == 1

    exact = await api.call("GET", "/contacts", params={"number": BORIS})
    assert [c["number"] for c in exact.json] == [BORIS]
    by_name = await api.call("GET", "/contacts", params={"q": "an"})
    assert [c["number"] for c in by_name.json] == [ANNA]
    by_number = await api.call("GET", "/contacts", params={"q": "+1"})
    assert [c["number"] for c in by_number.json] == [ANNA, BORIS]
    wildcard = await api.call("GET", "/contacts", params={"q": "%"})
    assert wildcard.json == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "501"}, "query.limit"),
        ({"number": "nope"}, "query.number"),
        ({"q": ""}, "query.q"),
        ({"number": ANNA, "q": "a"}, "query"),
        ({"colour": "red"}, "query.colour"),
    ],
)
async def test_bad_queries_name_the_parameter(
    api: ApiClient, params: dict[str, str], field: str
) -> None:
    answer = await api.call("GET", "/contacts", params=params)
    assert answer.status == 422
    assert answer.json["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/contacts"),
        ("GET", ANNA_PATH),
        ("PUT", ANNA_PATH),
        ("PATCH", ANNA_PATH + "/attributes"),
    ],
)
async def test_every_endpoint_needs_a_valid_token(api: ApiClient, method: str, path: str) -> None:
    body: dict[str, object] | None = {} if method in ("PUT", "PATCH") else None
    missing = await api.call(method, path, json_body=body, token=False)
    assert missing.status == 401
    wrong = await api.call(method, path, json_body=body, token="rf_" + "x" * 43)
    assert wrong.status == 401
    assert (await api.call("GET", ANNA_PATH)).status == 404  # nothing was stored
