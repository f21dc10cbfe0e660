"""Admin API tokens: every /api route needs one; wrong ones are counted and slowed down."""

from __future__ import annotations

from datetime import UTC, datetime

from ringflow.api.app import GATEKEEPER
from ringflow.api.tokens import create_token, list_tokens, revoke_token, token_hash
from server import API_APP
from tests.api_client import ApiClient


async def test_no_token_is_a_401_problem(api: ApiClient) -> None:
    answer = await api.call("GET", "/workflows", token=False)
    assert answer.status == 401
    assert answer.content_type == "application/problem+json"
    assert "Authorization: Bearer" in answer.json["detail"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_wrong_token_is_a_401_and_the_right_one_works(api: ApiClient) -> None:
    assert (await api.call("GET", "/workflows", token="rf_" + "x" * 43)).status == 401
    assert (await api.call("GET", "/workflows", token="not-even-ours")).status == 401
    assert (await api.call("GET", "/workflows")).status == 200


async def test_tokens_made_with_the_cli_function_work_until_revoked(api: ApiClient) -> None:
    now = datetime.now(UTC)
    token = await api.server.db.write(lambda conn: create_token(conn, "alice", now))
    assert token.startswith("rf_")
    assert len(token) >= 43
    assert (await api.call("GET", "/workflows", token=token)).status == 200
    listed = await api.server.db.read(list_tokens)
    assert [(t.name, t.revoked) for t in listed] == [("alice", False)]
    assert token not in str(listed)  # only a prefix and the hash are stored
    assert token_hash(token) not in str(listed)
    await api.server.db.write(lambda conn: revoke_token(conn, "alice", now))
    # The process remembers a good token for a minute; a fresh process (no memory) refuses it.
    api.server.app[API_APP][GATEKEEPER]._known.clear()
    assert (await api.call("GET", "/workflows", token=token)).status == 401


async def test_ten_wrong_tokens_in_a_minute_are_slowed_down(api: ApiClient) -> None:
    for _ in range(10):
        assert (await api.call("GET", "/workflows", token="rf_wrong")).status == 401
    blocked = await api.call("GET", "/workflows")  # even the right token waits now
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) >= 1


async def test_the_description_needs_a_token_too(api: ApiClient) -> None:
    assert (await api.call("GET", "/openapi.json", token=False)).status == 401
    assert (await api.call("GET", "/docs", token=False)).status == 401
    document = await api.call("GET", "/openapi.json")
    assert document.status == 200
    assert document.json["openapi"] == "3.1.0"
    page = await api.call("GET", "/docs")
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "/api/workflows" in page.text
