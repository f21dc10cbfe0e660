"""Admin API tokens: every /api route needs one; wrong ones are counted and slowed down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from ringflow.admin.app import GATEKEEPER
from ringflow.admin.tokens import create_token, list_tokens, revoke_token, token_hash
from server import API_APP
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.conftest import ServerFactory

WRONG = "rf_" + "w" * 43


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
    blocked = await api.call("GET", "/workflows", token="rf_wrong")
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert blocked.content_type == "application/problem+json"


async def test_a_valid_token_is_never_refused_because_others_failed(api: ApiClient) -> None:
    # Someone floods the API with wrong tokens from the admin's own address...
    for _ in range(15):
        assert (await api.call("GET", "/workflows", token=WRONG)).status in (401, 429)
    assert (await api.call("GET", "/workflows", token=WRONG)).status == 429
    # ... and the admin's token still works, every time, while the guesser stays blocked.
    for _ in range(3):
        assert (await api.call("GET", "/workflows")).status == 200
        assert (await api.call("GET", "/workflows", token=WRONG)).status == 429


async def get(session: aiohttp.ClientSession, base_url: str, token: str, forwarded_for: str) -> int:
    async with session.get(
        base_url + "/api/workflows",
        headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": forwarded_for},
    ) as response:
        return response.status


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_behind_a_trusted_proxy_failures_count_per_forwarded_client(
    servers: ServerFactory, session: aiohttp.ClientSession
) -> None:
    # The test connects from 127.0.0.1: that is the reverse proxy here.
    server = await servers.start(admin_token=ADMIN_TOKEN, trusted_proxies="127.0.0.1, 10.0.0.0/8")
    base = server.base_url
    # The client wrote its own X-Forwarded-For; the proxies (10.0.0.2, then us) appended theirs.
    guesser = "198.51.100.1, 203.0.113.7, 10.0.0.2"
    statuses = [await get(session, base, WRONG, guesser) for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    # The guesser's own part of the header does not buy it a fresh count.
    assert await get(session, base, WRONG, "192.0.2.99, 203.0.113.7") == 429
    # Another client behind the same proxy is not blocked, and nobody's right token is.
    assert await get(session, base, WRONG, "203.0.113.8") == 401
    assert await get(session, base, ADMIN_TOKEN, "203.0.113.7") == 200


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    servers: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server = await servers.start(admin_token=ADMIN_TOKEN)  # no trusted proxies
    base = server.base_url
    statuses = [await get(session, base, WRONG, f"203.0.113.{n}") for n in range(11)]
    assert statuses == [401] * 10 + [429]  # every guess counted for the peer, 127.0.0.1


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
