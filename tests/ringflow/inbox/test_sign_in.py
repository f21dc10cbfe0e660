"""Signing in to the inbox with an agent token, over HTTP: the cookie's flags, CSRF and Origin
on every state-changing request, what an agent's session may not do, and the ways a session
ends (signing out, revoking the token, expiry)."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
from sqlalchemy import Connection

from ringflow.admin.tokens import create_token, revoke_token
from tests.conftest import ServerFactory
from tests.ringflow.admin.people import CONTACT, Desk
from tests.ringflow.inbox.conftest import sign_in
from workflows.people.agents import AgentFields, put_agent


async def _conversation(desk: Desk) -> int:
    await desk.text_in("Hello?", "SM" + "a" * 32)
    conversation = await desk.conversation_of(CONTACT)
    return int(conversation["id"])


async def test_the_session_cookie_is_httponly_strict_secure_and_the_token_is_not_in_it(
    desk: Desk,
) -> None:
    await desk.agent("alice")
    token = await desk.agent_token("alice")
    base = desk.api.server.base_url
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            base + "/inbox/sign-in",
            data={"token": token},
            headers={"Origin": base},
            allow_redirects=False,
        ) as answer,
    ):
        assert answer.status == 303
        cookie = answer.headers["Set-Cookie"]
    # The test server's public URL is https: Secure, and the __Host- prefix (Path=/, no Domain).
    name, _, rest = cookie.partition("=")
    assert name == "__Host-ringflow_session"
    flags = {part.strip().split("=")[0].lower() for part in rest.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= flags
    assert "samesite=strict" in cookie.lower().replace(" ", "")
    assert "domain" not in flags
    assert token not in cookie


async def test_an_http_public_url_gives_a_cookie_without_secure(servers: ServerFactory) -> None:
    server = await servers.start(public_url="http://ringflow.test")

    def agent_with_token(conn: Connection) -> str:
        agent, _created = put_agent(conn, "alice", AgentFields(), server.clock())
        return create_token(conn, "agent:alice", server.clock(), agent_id=agent.id)

    token = await server.db.write(agent_with_token)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            server.base_url + "/inbox/sign-in",
            data={"token": token},
            headers={"Origin": server.base_url},
            allow_redirects=False,
        ) as answer,
    ):
        assert answer.status == 303
        cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("ringflow_session=")
    assert "httponly" in cookie.lower()
    assert "secure" not in cookie.lower()


async def test_csrf_and_origin_are_checked_on_every_state_change(desk: Desk) -> None:
    agent = await sign_in(desk, "alice")
    try:
        conversation_id = await _conversation(desk)
        note = f"/conversations/{conversation_id}/notes"

        reading = await agent.api("GET", f"/conversations/{conversation_id}", csrf=None)
        assert reading.status == 200  # reading needs no CSRF token
        missing = await agent.api("POST", note, {"body": "x"}, csrf=None)
        assert missing.status == 403
        wrong = await agent.api("POST", note, {"body": "x"}, csrf="0" * 64)
        assert wrong.status == 403
        foreign = await agent.api("POST", note, {"body": "x"}, origin="https://evil.example")
        assert foreign.status == 403
        no_origin = await agent.api("POST", note, {"body": "x"}, origin=None)
        assert no_origin.status == 403
        status = await agent.api("PUT", "/me/status", {"status": "away"}, csrf=None)
        assert status.status == 403

        detail = await desk.detail(conversation_id)
        assert [e for e in detail["timeline"] if e["kind"] == "note"] == []  # none got through

        right = await agent.api("POST", note, {"body": "checked"})
        assert right.status == 201
        detail = await desk.detail(conversation_id)
        notes = [e for e in detail["timeline"] if e["kind"] == "note"]
        assert [(n["body"], n["actor"]["name"]) for n in notes] == [("checked", "alice")]
    finally:
        await agent.http.close()


async def test_an_agent_session_gets_403_outside_conversations(desk: Desk) -> None:
    agent = await sign_in(desk, "alice")
    try:
        assert (await agent.api("GET", "/me")).status == 200
        assert (await agent.api("GET", "/conversations")).status == 200
        assert (await agent.api("GET", "/workflows")).status == 403
        assert (await agent.api("GET", "/agents")).status == 403
        assert (await agent.api("PUT", "/agents/mallory", {"status": "available"})).status == 403
        # And as with its token: it may assign a conversation to itself only.
        conversation_id = await _conversation(desk)
        await desk.agent("bob")
        assign = f"/conversations/{conversation_id}/assign"
        to_bob = await agent.api("POST", assign, {"agent": "bob"})
        assert to_bob.status == 403
        to_me = await agent.api("POST", assign, {"agent": "alice"})
        assert to_me.status == 200
    finally:
        await agent.http.close()


async def test_wrong_tokens_and_foreign_sign_ins_open_no_session(desk: Desk) -> None:
    base = desk.api.server.base_url
    await desk.agent("alice")
    token = await desk.agent_token("alice")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            base + "/inbox/sign-in", data={"token": "rf_" + "x" * 43}, headers={"Origin": base}
        ) as wrong:
            assert wrong.status == 401
            assert "not valid" in await wrong.text()
            assert "Set-Cookie" not in wrong.headers
        async with http.post(
            base + "/inbox/sign-in",
            data={"token": token},
            headers={"Origin": "https://evil.example"},
        ) as foreign:
            assert foreign.status == 403
            assert "Set-Cookie" not in foreign.headers
        # An admin token is no agent's: the inbox is for agents.
        async with http.post(
            base + "/inbox/sign-in", data={"token": desk.api.token}, headers={"Origin": base}
        ) as admin:
            assert admin.status == 403
            assert "Set-Cookie" not in admin.headers
        async with http.get(base + "/inbox", allow_redirects=False) as page:
            assert page.status == 303
            assert page.headers["Location"] == "/inbox/sign-in"
        async with http.get(base + "/inbox/live") as live:
            assert live.status == 401


async def test_signing_out_revoking_the_token_or_expiry_ends_the_session(desk: Desk) -> None:
    first = await sign_in(desk, "alice")
    try:
        async with first.http.post(
            first.base_url + "/inbox/sign-out",
            data={"csrf_token": "0" * 64},
            headers={"Origin": first.base_url},
            allow_redirects=False,
        ) as refused:
            assert refused.status == 403  # a forged sign-out
        assert (await first.api("GET", "/me")).status == 200
        async with first.http.post(
            first.base_url + "/inbox/sign-out",
            data={"csrf_token": first.csrf},
            headers={"Origin": first.base_url},
            allow_redirects=False,
        ) as out:
            assert out.status == 303
            assert out.headers["Location"] == "/inbox/sign-in"
        assert (await first.api("GET", "/me")).status == 401
    finally:
        await first.http.close()

    second = await sign_in(desk, "bob")
    try:
        now = desk.clock()
        await desk.api.server.db.write(lambda conn: revoke_token(conn, "agent:bob", now))
        assert (await second.api("GET", "/me")).status == 401
    finally:
        await second.http.close()

    third = await sign_in(desk, "carol")
    try:
        desk.clock.advance(timedelta(hours=11))
        assert (await third.api("GET", "/me")).status == 200
        desk.clock.advance(timedelta(hours=1, minutes=1))
        assert (await third.api("GET", "/me")).status == 401
        async with third.http.get(third.base_url + "/inbox", allow_redirects=False) as page:
            assert page.status == 303
    finally:
        await third.http.close()
