"""The text endpoints of the admin API against a real server: the message log (texts received
through the webhook, texts queued to send), conversations with their messages in order, and
opt-outs set and lifted by an admin; tokens and bad parameters."""

from __future__ import annotations

from typing import Any

import pytest

from sms.messages import record_inbound
from sms.send_job import queue_text
from tests.api_client import ApiClient
from tests.conftest import eventually, signed_post

CONTACT = "+14155550123"
CONTACT_PATH = "%2B14155550123"
OTHER = "+12025550143"
BUSINESS = "+15005550001"
OTHER_BUSINESS = "+15005550002"


async def text_in(api: ApiClient, body: str, sid: str, sender: str = CONTACT) -> None:
    """A text received through Twilio's webhook."""
    form = {"MessageSid": sid, "From": sender, "To": BUSINESS, "Body": body}
    reply = await signed_post(api.server, "/twilio/sms", form)
    assert reply.status == 200


async def text_out(
    api: ApiClient, body: str, key: str, to: str = CONTACT, from_: str = BUSINESS
) -> int:
    """A text queued to send (the server's worker sends it with the outbox)."""
    message_id = await api.server.db.write(
        lambda conn: queue_text(
            conn, to=to, from_=from_, body=body, key=key, now=api.server.clock()
        )
    )
    assert message_id is not None
    return message_id


async def get_json(api: ApiClient, path: str, **params: str) -> Any:
    answer = await api.call("GET", path, params=params or None)
    assert answer.status == 200, answer.text
    return answer.json


async def test_the_message_log_in_both_directions(api: ApiClient) -> None:
    await text_in(api, "Hello there", "SM" + "1" * 32)
    reply_id = await text_out(api, "Hi! How can we help?", "reply-1")
    await api.server.db.write(
        lambda conn: record_inbound(
            conn,
            from_=OTHER,
            to=BUSINESS,
            body="Other person",
            provider_id="SM" + "2" * 32,
            now=api.server.clock(),
        )
    )

    listed = await get_json(api, "/messages")
    assert [m["body"] for m in listed] == ["Other person", "Hi! How can we help?", "Hello there"]
    inbound = listed[2]
    assert inbound["direction"] == "inbound"
    assert (inbound["from_number"], inbound["to_number"]) == (CONTACT, BUSINESS)
    assert inbound["status"] == "received"
    assert inbound["provider_id"] == "SM" + "1" * 32
    assert inbound["created_at"].endswith("Z")

    assert [m["id"] for m in await get_json(api, "/messages", direction="outbound")] == [reply_id]
    received = await get_json(api, "/messages", status="received")
    assert {m["body"] for m in received} == {"Other person", "Hello there"}
    with_contact = await get_json(api, "/messages", contact=CONTACT)
    assert [m["body"] for m in with_contact] == ["Hi! How can we help?", "Hello there"]
    assert len(await get_json(api, "/messages", limit="1")) == 1

    one = await get_json(api, f"/messages/{reply_id}")
    assert one["body"] == "Hi! How can we help?"
    assert one["to_number"] == CONTACT
    # The worker hands it to the outbox: the log shows its status moving forward.
    await eventually(
        lambda: _status_is(api, reply_id, "sent"), what="the reply to be sent by the outbox"
    )


async def _status_is(api: ApiClient, message_id: int, status: str) -> bool:
    return bool((await get_json(api, f"/messages/{message_id}"))["status"] == status)


@pytest.mark.parametrize("message_id", ["424242", "abc", "99999999999999999999", "-1"])
async def test_unknown_messages_are_404(api: ApiClient, message_id: str) -> None:
    answer = await api.call("GET", f"/messages/{message_id}")
    assert answer.status == 404
    assert answer.content_type == "application/problem+json"


async def test_a_conversation_lists_its_messages_in_order(api: ApiClient) -> None:
    # A received text opens the conversation of its thread (our number, the contact).
    await text_in(api, "Are you open today?", "SM" + "3" * 32)

    async def conversations() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await get_json(api, "/conversations"))["items"]
        return found

    await eventually(conversations, what="the conversation")
    await text_out(api, "Yes, until six.", "answer-1")
    await text_in(api, "Thanks!", "SM" + "4" * 32)
    # Texts of the same contact with another of our numbers, and of another contact, are not
    # in this conversation.
    await text_out(api, "From the other line", "other-line", from_=OTHER_BUSINESS)
    await text_in(api, "Someone else", "SM" + "5" * 32, sender=OTHER)

    listed = await conversations()
    ours = next(c for c in listed if c["contact_number"] == CONTACT)
    assert ours["business_number"] == BUSINESS

    detail = await get_json(api, f"/conversations/{ours['id']}")
    assert detail["id"] == ours["id"]
    texts = [entry["message"] for entry in detail["timeline"] if entry["message"]]
    assert [(m["direction"], m["body"]) for m in texts] == [
        ("inbound", "Are you open today?"),
        ("outbound", "Yes, until six."),
        ("inbound", "Thanks!"),
    ]

    assert (await api.call("GET", "/conversations/424242")).status == 404
    assert (await api.call("GET", "/conversations/x")).status == 404


async def test_an_admin_opts_a_number_out_and_back_in(api: ApiClient) -> None:
    assert await get_json(api, "/opt-outs") == []
    created = await api.call("PUT", f"/opt-outs/{CONTACT_PATH}")
    assert created.status == 201
    assert created.json["number"] == CONTACT
    assert created.json["source"] == "admin"
    assert created.json["keyword"] is None
    again = await api.call("PUT", f"/opt-outs/{CONTACT_PATH}")
    assert again.status == 200
    assert again.json == created.json
    assert await get_json(api, "/opt-outs") == [created.json]

    # No automated text reaches it now.
    blocked = await text_out(api, "A reminder", "reminder-1")
    await eventually(lambda: _status_is(api, blocked, "failed"), what="the text to be refused")
    assert (await get_json(api, f"/messages/{blocked}"))["error"] == "recipient opted out"

    assert (await api.call("DELETE", f"/opt-outs/{CONTACT_PATH}")).status == 204
    assert await get_json(api, "/opt-outs") == []
    missing = await api.call("DELETE", f"/opt-outs/{CONTACT_PATH}")
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"


async def test_a_stop_keyword_keeps_its_source(api: ApiClient) -> None:
    await text_in(api, "STOP", "SM" + "6" * 32)
    listed = await get_json(api, "/opt-outs")
    assert [(o["number"], o["source"], o["keyword"]) for o in listed] == [
        (CONTACT, "keyword", "STOP")
    ]
    again = await api.call("PUT", f"/opt-outs/{CONTACT_PATH}")
    assert again.status == 200
    assert again.json["source"] == "keyword"


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_opt_outs_need_a_phone_number(api: ApiClient, method: str) -> None:
    answer = await api.call(method, "/opt-outs/12345")
    assert answer.status == 422
    assert answer.json["errors"][0]["field"] == "path.number"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/messages", {"direction": "sideways"}, "query.direction"),
        ("/messages", {"status": "lost"}, "query.status"),
        ("/messages", {"contact": "nobody"}, "query.contact"),
        ("/messages", {"limit": "501"}, "query.limit"),
        ("/conversations", {"limit": "-3"}, "query.limit"),
        ("/opt-outs", {"limit": "x"}, "query.limit"),
        ("/opt-outs", {"number": CONTACT}, "query.number"),
    ],
)
async def test_bad_queries_name_the_parameter(
    api: ApiClient, path: str, params: dict[str, str], field: str
) -> None:
    answer = await api.call("GET", path, params=params)
    assert answer.status == 422
    assert answer.json["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/messages"),
        ("GET", "/messages/1"),
        ("GET", "/conversations"),
        ("GET", "/conversations/1"),
        ("GET", "/opt-outs"),
        ("PUT", f"/opt-outs/{CONTACT_PATH}"),
        ("DELETE", f"/opt-outs/{CONTACT_PATH}"),
    ],
)
async def test_every_endpoint_needs_a_valid_token(api: ApiClient, method: str, path: str) -> None:
    assert (await api.call(method, path, token=False)).status == 401
    assert (await api.call(method, path, token="rf_" + "x" * 43)).status == 401
    assert await get_json(api, "/opt-outs") == []  # nothing was changed
