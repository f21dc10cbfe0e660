"""The callbacks area of the admin API: create, list in line order, read one, cancel (409
unless pending), and 4xx naming the field for bad input. (Agent tokens get 403 on every one
of these: the parametrised check in ``test_agent_tokens.py`` covers them from the OpenAPI.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api_client import ApiClient

CUSTOMER = "+14155550123"
OUR_NUMBER = "+15005550001"


async def _team(api: ApiClient) -> None:
    agent = {"status": "available", "endpoints": [{"kind": "phone", "address": "+14155550999"}]}
    assert (await api.call("PUT", "/agents/alice", json_body=agent)).status == 201
    team = {"members": ["alice"]}
    assert (await api.call("PUT", "/teams/support", json_body=team)).status == 201


async def _create(api: ApiClient, **fields: Any) -> dict[str, Any]:
    body = {"team": "support", "customer": CUSTOMER, "from": OUR_NUMBER, **fields}
    answer = await api.call("POST", "/callbacks", json_body=body)
    assert answer.status == 201, answer.text
    created: dict[str, Any] = answer.json
    return created


async def test_a_callback_is_created_listed_read_and_cancelled(api: ApiClient) -> None:
    await _team(api)
    older = await _create(
        api,
        customer="+14155550124",
        requested_at=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
        attempts=2,
    )
    newer = await _create(api, retry_delay="2m")
    assert newer["status"] == "pending"
    assert (newer["team"], newer["customer"], newer["from"]) == ("support", CUSTOMER, OUR_NUMBER)
    assert (newer["attempts"], newer["max_attempts"], newer["retry_delay"]) == (0, 3, 120)
    assert older["max_attempts"] == 2

    listed = await api.call("GET", "/callbacks", params={"status": "pending"})
    assert [item["id"] for item in listed.json] == [older["id"], newer["id"]]  # line order
    mine = await api.call("GET", "/callbacks", params={"customer": CUSTOMER})
    assert [item["id"] for item in mine.json] == [newer["id"]]

    one = await api.call("GET", f"/callbacks/{newer['id']}")
    assert one.status == 200
    assert one.json["history"] == []

    cancelled = await api.call("POST", f"/callbacks/{newer['id']}/cancel")
    assert cancelled.status == 200
    assert (cancelled.json["status"], cancelled.json["reason"]) == (
        "cancelled",
        "cancelled by an admin",
    )
    again = await api.call("POST", f"/callbacks/{newer['id']}/cancel")
    assert again.status == 409
    assert "only a pending one can be cancelled" in again.json["detail"]
    missing = await api.call("POST", "/callbacks/999999/cancel")
    assert missing.status == 404
    assert (await api.call("GET", "/callbacks/999999")).status == 404


async def test_bad_requests_name_the_field(api: ApiClient) -> None:
    await _team(api)
    body = {"team": "nobody", "customer": CUSTOMER, "from": OUR_NUMBER}
    unknown = await api.call("POST", "/callbacks", json_body=body)
    assert unknown.status == 422
    assert unknown.json["errors"][0]["field"] == "body.team"
    bad = await api.call(
        "POST", "/callbacks", json_body={**body, "team": "support", "customer": "12"}
    )
    assert bad.status == 422
    assert bad.json["errors"][0]["field"].startswith("body.customer")
    slow = await api.call(
        "POST", "/callbacks", json_body={**body, "team": "support", "retry_delay": "5s"}
    )
    assert slow.status == 422
    assert slow.json["errors"][0]["field"] == "body.retry_delay"
    wrong = await api.call("GET", "/callbacks", params={"status": "sleeping"})
    assert wrong.status == 422
