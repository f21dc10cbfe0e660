"""Conversations over HTTP on a real server: an agent's reply becomes a durable send job and
an outbound text in the timeline (refused for an opted-out contact), a customer's text
reopens a conversation within the window and starts a new one after it, snoozes end, calls
show in the timeline, and the inbox filters and pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from server import JOB_WORKER
from sms.send_job import SEND_SMS
from tests.conftest import eventually, signed_post
from tests.ringflow.admin.people import BUSINESS, CONTACT, Desk, desk
from workflows.jobs.db import jobs

__all__ = ["desk"]


def _reply_message(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    replies = [e for e in timeline if e["kind"] == "agent.replied"]
    assert len(replies) == 1
    message: dict[str, Any] = replies[0]["message"]
    return message


async def test_an_agent_reply_is_a_durable_text_and_an_outbound_message(desk: Desk) -> None:
    await desk.agent("alice")
    await desk.text_in("Where is my parcel?", "SM" + "1" * 32)
    conversation = await desk.conversation_of()
    assert conversation["unanswered"] is True
    assert conversation["first_response_at"] is None

    answer = await desk.act(conversation["id"], "replies", {"body": "On its way!"})
    assert answer["kind"] == "agent.replied"
    assert answer["actor"] == {"type": "admin", "name": "RINGFLOW_ADMIN_TOKEN"}
    message = answer["message"]
    assert (message["direction"], message["body"], message["to"]) == (
        "outbound",
        "On its way!",
        CONTACT,
    )
    assert message["from"] == BUSINESS

    # The send job was queued with the reply, under the reply's key.
    query = select(jobs.c.kind, jobs.c.payload).where(
        jobs.c.dedupe_key == f"conversation:{conversation['id']}:{answer['id']}"
    )
    job = await desk.api.server.db.read(lambda conn: conn.execute(query).one())
    assert job.kind == SEND_SMS
    assert job.payload["message_id"] == message["id"]

    async def sent() -> bool:
        timeline = (await desk.detail(conversation["id"]))["timeline"]
        return bool(_reply_message(timeline)["status"] == "sent")

    await eventually(sent, what="the reply to be handed to the outbox")
    after = await desk.detail(conversation["id"])
    assert after["unanswered"] is False
    assert after["first_response_at"] == answer["at"]
    assert after["first_response_seconds"] >= 0
    kinds = [e["kind"] for e in after["timeline"]]
    assert kinds == ["opened", "message.received", "agent.replied"]
    assert after["timeline"][1]["message"]["body"] == "Where is my parcel?"


async def test_a_reply_to_an_opted_out_contact_is_refused_visibly(desk: Desk) -> None:
    await desk.text_in("Question", "SM" + "2" * 32)
    conversation = await desk.conversation_of()
    await desk.text_in("STOP", "SM" + "3" * 32)

    answer = await desk.act(conversation["id"], "replies", {"body": "Are you there?"})
    assert answer["data"]["delivery"] == "refused"
    assert "opted out" in answer["data"]["reason"]

    async def failed() -> bool:
        timeline = (await desk.detail(conversation["id"]))["timeline"]
        return bool(_reply_message(timeline)["status"] == "failed")

    await eventually(failed, what="the send job to refuse the reply")
    message = _reply_message((await desk.detail(conversation["id"]))["timeline"])
    assert message["error"] == "recipient opted out"


async def test_a_customer_text_reopens_within_the_window_and_starts_anew_after(
    desk: Desk,
) -> None:
    await desk.text_in("Hello", "SM" + "4" * 32)
    first = await desk.conversation_of()
    closed = await desk.act(first["id"], "close")
    assert closed["status"] == "closed"
    assert closed["resolution_seconds"] >= 0

    desk.clock.advance(timedelta(hours=71))  # the default window is 72 hours
    await desk.text_in("One more thing", "SM" + "5" * 32)
    again = await desk.detail(first["id"])
    assert (again["status"], again["closed_at"]) == ("open", None)
    assert again["state_version"] == closed["state_version"] + 1
    reopened = [e for e in again["timeline"] if e["kind"] == "reopened"]
    assert [(e["actor"]["type"], e["data"]) for e in reopened] == [("contact", {"was": "closed"})]

    await desk.act(first["id"], "close")
    desk.clock.advance(timedelta(hours=73))
    await desk.text_in("New question", "SM" + "6" * 32)
    old = await desk.detail(first["id"])
    assert (old["status"], old["latest"]) == ("closed", False)
    new = await desk.conversation_of()
    assert new["id"] != first["id"]
    assert new["status"] == "open"
    fresh = await desk.detail(new["id"])
    bodies = [e["message"]["body"] for e in fresh["timeline"] if e["message"]]
    assert bodies == ["New question"]
    assert fresh["timeline"][0]["data"] == {"previous": first["id"]}
    # The old conversation keeps its own texts only.
    old_bodies = [e["message"]["body"] for e in old["timeline"] if e["message"]]
    assert old_bodies == ["Hello", "One more thing"]


async def test_a_snooze_ends_by_itself_or_with_the_customer_text(desk: Desk) -> None:
    await desk.text_in("Call me tomorrow", "SM" + "7" * 32)
    conversation = await desk.conversation_of()
    cid = conversation["id"]
    until = (desk.clock() + timedelta(hours=20)).isoformat()
    snoozed = await desk.act(cid, "snooze", {"until": until})
    assert snoozed["status"] == "snoozed"

    desk.clock.advance(timedelta(hours=21))
    desk.api.server.app[JOB_WORKER].wake()

    async def woke() -> bool:
        return bool((await desk.detail(cid))["status"] == "open")

    await eventually(woke, what="the snooze to end")
    timeline = (await desk.detail(cid))["timeline"]
    assert [e["kind"] for e in timeline][-2:] == ["snoozed", "woke"]

    # A second snooze ended early by the customer: its job later finds a newer state.
    await desk.act(cid, "snooze", {"until": (desk.clock() + timedelta(hours=1)).isoformat()})
    await desk.text_in("Actually, now please", "SM" + "8" * 32)
    assert (await desk.detail(cid))["status"] == "open"
    desk.clock.advance(timedelta(hours=2))
    desk.api.server.app[JOB_WORKER].wake()
    await eventually(
        lambda: _job_done(desk, f"conversation:{cid}:wake:"), what="the stale wake-up job"
    )
    kinds = [e["kind"] for e in (await desk.detail(cid))["timeline"]]
    assert kinds.count("woke") == 1


async def _job_done(desk: Desk, prefix: str) -> bool:
    query = select(jobs.c.status).where(jobs.c.dedupe_key.like(prefix + "%"))
    statuses = await desk.api.server.db.read(lambda conn: conn.execute(query).scalars().all())
    return len(statuses) == 2 and all(status == "done" for status in statuses)


async def test_calls_with_the_contact_show_in_the_timeline(desk: Desk) -> None:
    call = {"CallSid": "CA" + "c" * 32, "From": CONTACT, "To": BUSINESS}
    assert (await signed_post(desk.api.server, "/twilio/voice", call)).status == 200
    await desk.text_in("I just called you", "SM" + "9" * 32)
    conversation = await desk.conversation_of()
    timeline = (await desk.detail(conversation["id"]))["timeline"]
    calls = [e for e in timeline if e["kind"] == "call"]
    assert [(e["id"], e["data"]["sid"]) for e in calls] == [
        ("c" + call["CallSid"], call["CallSid"])
    ]
    assert timeline.index(calls[0]) < [e["kind"] for e in timeline].index("message.received")


async def test_priority_tags_and_notes_are_timeline_events(desk: Desk) -> None:
    await desk.text_in("오류가 있어요", "SM" + "a" * 32)
    cid = (await desk.conversation_of())["id"]
    assert (await desk.act(cid, "priority", {"priority": "urgent"}))["priority"] == "urgent"
    await desk.act(cid, "tags", {"tag": "billing"})
    tagged = await desk.act(cid, "tags", {"tag": "error"})
    assert tagged["tags"] == ["billing", "error"]
    untagged = await desk.api.call("DELETE", f"/conversations/{cid}/tags/billing")
    assert untagged.json["tags"] == ["error"]
    note = await desk.act(cid, "notes", {"body": "VIP customer"})
    assert (note["kind"], note["body"], note["message"]) == ("note", "VIP customer", None)

    timeline = (await desk.detail(cid))["timeline"]
    changes = [(e["kind"], e["data"]) for e in timeline if e["actor"]["type"] == "admin"]
    assert changes == [
        ("priority", {"priority": "urgent", "was": "normal"}),
        ("tagged", {"tag": "billing"}),
        ("tagged", {"tag": "error"}),
        ("untagged", {"tag": "billing"}),
        ("note", {}),
    ]


async def test_the_inbox_filters_and_pages(desk: Desk) -> None:
    await desk.agent("alice")
    senders = [f"+1415555{n:04d}" for n in range(7)]
    for index, sender in enumerate(senders):
        desk.clock.advance(timedelta(seconds=1))
        await desk.text_in("hi", "SM" + f"{index:032d}", sender=sender)
    ids = {}
    for sender in senders:
        ids[sender] = (await desk.conversation_of(sender))["id"]
    await desk.act(ids[senders[0]], "assign", {"agent": "alice"})
    await desk.act(ids[senders[1]], "priority", {"priority": "high"})
    await desk.act(ids[senders[2]], "tags", {"tag": "refund"})
    await desk.act(ids[senders[3]], "close")
    await desk.act(ids[senders[4]], "replies", {"body": "Hello!"})

    async def listed(**params: str) -> list[int]:
        return [c["id"] for c in (await desk.conversations(**params))["items"]]

    assert await listed(assignee="alice") == [ids[senders[0]]]
    assert await listed(assignee="none", priority="high") == [ids[senders[1]]]
    assert await listed(tag="refund") == [ids[senders[2]]]
    assert await listed(status="closed") == [ids[senders[3]]]
    assert ids[senders[4]] not in await listed(unanswered="true")
    assert await listed(unanswered="false") == [ids[senders[4]]]

    # Seven conversations, three a page, newest activity first, each exactly once.
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = await desk.conversations(**params)
        seen.extend(c["id"] for c in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(ids.values())
    assert len(seen) == len(set(seen))


async def test_bad_input_is_a_4xx_naming_the_field(desk: Desk) -> None:
    await desk.text_in("hi", "SM" + "b" * 32)
    cid = (await desk.conversation_of())["id"]
    past = (desk.clock() - timedelta(minutes=1)).isoformat()
    cases = [
        ("POST", f"/conversations/{cid}/snooze", {"until": past}, "body.until"),
        ("POST", f"/conversations/{cid}/snooze", {"until": "2030-01-01T00:00:00"}, "body.until"),
        ("POST", f"/conversations/{cid}/assign", {"agent": "nobody"}, "body.agent"),
        ("POST", f"/conversations/{cid}/assign", {"team": "nobody"}, "body.team"),
        ("POST", f"/conversations/{cid}/priority", {"priority": "meh"}, "body.priority"),
        ("POST", f"/conversations/{cid}/tags", {"tag": "two words"}, "body.tag"),
        ("POST", f"/conversations/{cid}/replies", {"body": ""}, "body.body"),
        ("PUT", "/agents/alice", {"status": "asleep"}, "body.status"),
        ("PUT", "/teams/support", {"members": ["ghost"]}, "body.members.0"),
        ("PUT", "/teams/support", {"schedule": "nowhere"}, "body.schedule"),
    ]
    for method, path, body, field in cases:
        answer = await desk.api.call(method, path, json_body=body)
        assert answer.status == 422, (path, body, answer.text)
        assert answer.json["errors"][0]["field"] == field, (path, body, answer.text)
    bad_cursor = await desk.api.call("GET", "/conversations", params={"cursor": "garbage"})
    assert (bad_cursor.status, bad_cursor.json["errors"][0]["field"]) == (422, "query.cursor")
    reopen = await desk.api.call("POST", f"/conversations/{cid}/reopen")
    assert reopen.status == 409
    assert (await desk.api.call("POST", "/conversations/999/close")).status == 404
    # Nothing half-written: the refused team does not exist.
    assert (await desk.api.call("GET", "/teams/support")).status == 404


async def test_a_reply_retried_with_its_idempotency_key_is_sent_once(desk: Desk) -> None:
    await desk.text_in("Is my order late?", "SM" + "7" * 32)
    conversation = await desk.conversation_of()
    path = f"/conversations/{conversation['id']}/replies"
    reply = {"body": "It ships today.", "idempotency_key": "reply-7f3a"}

    first = await desk.api.call("POST", path, json_body=reply)
    assert first.status == 201, first.text
    # The client lost the answer and tries again: the first reply, nothing sent again.
    again = await desk.api.call("POST", path, json_body=reply)
    assert again.status == 200, again.text
    assert again.json["id"] == first.json["id"]
    assert again.json["message"]["id"] == first.json["message"]["id"]

    # The same key for another text is the client's bug: refused, nothing sent.
    other = await desk.api.call("POST", path, json_body={**reply, "body": "Sorry, tomorrow."})
    assert other.status == 409, other.text
    assert "reply-7f3a" in other.text

    timeline = (await desk.detail(conversation["id"]))["timeline"]
    assert [e["body"] for e in timeline if e["kind"] == "agent.replied"] == ["It ships today."]
    query = select(jobs.c.id).where(jobs.c.kind == SEND_SMS)
    sends = await desk.api.server.db.read(lambda conn: conn.execute(query).all())
    assert len(sends) == 1

    # A key is the conversation's: another conversation may use it.
    await desk.text_in("Hi", "SM" + "8" * 32, sender="+14155550199")
    second = await desk.conversation_of("+14155550199")
    elsewhere = await desk.api.call(
        "POST", f"/conversations/{second['id']}/replies", json_body=reply
    )
    assert elsewhere.status == 201, elsewhere.text


async def test_a_bad_idempotency_key_is_named(desk: Desk) -> None:
    await desk.text_in("Hello?", "SM" + "9" * 32)
    conversation = await desk.conversation_of()
    answer = await desk.api.call(
        "POST",
        f"/conversations/{conversation['id']}/replies",
        json_body={"body": "Hi", "idempotency_key": "has spaces"},
    )
    assert answer.status == 422, answer.text
    assert "idempotency_key" in answer.text
