"""Test text conversations over the admin API: a contact's texts answered by a version or
draft of an ``sms.received`` workflow (menus, replies, notes, tags), with nothing sent, nothing
in any inbox and nothing kept; refused clearly when the request does not fit."""

from __future__ import annotations

from typing import Any

from ringflow.database import metadata
from tests.api_client import ApiClient
from tests.conftest import signed_post
from tests.ringflow.admin.test_workflows import upload

DESK = """\
id: text-desk
trigger:
  event: sms.received
  to: "+15550002222"
  when: {keywords: [menu, help me]}
start: ask
steps:
  ask:
    menu:
      say: "Hi! Reply with a number:"
      options:
        "1": {next: hours, label: Opening hours}
        "2": {next: person, label: Talk to a person}
      invalid: "Sorry, please reply 1 or 2."
  hours:
    send_sms: "We are open 9 to 6."
  person:
    send_sms: "Thanks! A person will text you back shortly."
    next: flag
  flag:
    tag: wants-a-person
    next: remember
  remember:
    note: "Asked for a person: {{message.body}}"
"""
DESK_V2 = DESK.replace("We are open 9 to 6.", "We are open 8 to 8 now.")
MENU = "Hi! Reply with a number:\n1. Opening hours\n2. Talk to a person"


async def start(api: ApiClient, **body: str) -> dict[str, Any]:
    answer = await api.call("POST", "/test-texts", json_body={"workflow_id": "text-desk", **body})
    assert answer.status == 201, answer.text
    result: dict[str, Any] = answer.json
    return result


async def text(api: ApiClient, conversation_id: str, body: str) -> dict[str, Any]:
    answer = await api.call(
        "POST", f"/test-texts/{conversation_id}/texts", json_body={"body": body}
    )
    assert answer.status == 200, answer.text
    result: dict[str, Any] = answer.json
    return result


def sent(conversation: dict[str, Any]) -> list[str]:
    """The texts the workflow would send, in order."""
    return [
        entry["message"]["body"]
        for entry in conversation["timeline"]
        if entry["message"] and entry["message"]["direction"] == "outbound"
    ]


async def counts(api: ApiClient) -> dict[str, int]:
    """Rows in every table of the server's database."""
    return {name: await api.server.count(name) for name in sorted(metadata.tables)}


async def test_a_draft_answers_a_menu_and_nothing_is_sent_or_kept(api: ApiClient) -> None:
    assert (await upload(api, DESK))[0] == 201
    before = await counts(api)

    started = await start(api, version="draft")
    conversation_id = started["id"]
    assert conversation_id.startswith("tt")
    assert (started["from"], started["to"]) == ("+15005550006", "+15550002222")
    assert started["texts"] == []
    assert started["timeline"] == []

    # A text the trigger's keywords do not take starts nothing, as for a real contact.
    ignored = await text(api, conversation_id, "hello there")
    assert ignored["texts"][0]["outcome"] == "no sms.received workflow takes it"
    assert sent(ignored) == []
    assert ignored["run_status"] is None

    menu = await text(api, conversation_id, "Can I see the menu?")
    assert menu["texts"][1]["outcome"] == "workflow text-desk: started"
    assert sent(menu) == [MENU]
    assert (menu["step"], menu["run_status"]) == ("ask", "waiting")

    wrong = await text(api, conversation_id, "7")
    assert sent(wrong) == [MENU, "Sorry, please reply 1 or 2.\n" + MENU]
    assert wrong["texts"][2]["outcome"].startswith("answers step ask of workflow text-desk")

    person = await text(api, conversation_id, "2")
    assert person["texts"][-1]["outcome"].startswith("answers step ask of workflow text-desk")
    assert sent(person)[-1] == "Thanks! A person will text you back shortly."
    assert person["path"] == ["ask", "person", "flag", "remember"]
    assert person["run_status"] == "completed"
    kinds = [entry["kind"] for entry in person["timeline"]]
    assert "tagged" in kinds
    [note] = [entry for entry in person["timeline"] if entry["kind"] == "note"]
    assert note["body"] == "Asked for a person: 2"
    # Each text the workflow sends waits to be sent (queued), but none ever is.
    statuses = {
        entry["message"]["status"]
        for entry in person["timeline"]
        if entry["message"] and entry["message"]["direction"] == "outbound"
    }
    assert statuses == {"queued"}

    # Nothing of it stays: no text, conversation, contact, run, firing or job.
    assert await counts(api) == before
    assert (await api.call("GET", "/messages")).json == []
    assert (await api.call("GET", "/conversations")).json["items"] == []
    # The conversation is still there to read, as it was answered.
    again = await api.call("GET", f"/test-texts/{conversation_id}")
    assert again.status == 200
    assert again.json == person


async def test_the_version_chosen_answers_while_contacts_get_the_published_one(
    api: ApiClient,
) -> None:
    assert (await upload(api, DESK))[0] == 201
    assert (await api.call("POST", "/workflows/text-desk/publish")).status == 200
    assert (await upload(api, DESK_V2))[0] == 201  # a draft

    draft = await start(api, version="draft")
    await text(api, draft["id"], "menu")
    assert sent(await text(api, draft["id"], "1"))[-1] == "We are open 8 to 8 now."

    published = await start(api, version="1")
    await text(api, published["id"], "menu")
    assert sent(await text(api, published["id"], "1"))[-1] == "We are open 9 to 6."


async def test_stop_is_answered_by_ringflow_and_opts_no_one_out(api: ApiClient) -> None:
    assert (await upload(api, DESK))[0] == 201
    started = await start(api, version="draft", **{"from": "+14155550123"})
    stopped = await text(api, started["id"], "STOP")
    assert stopped["texts"][0]["outcome"] == "STOP keyword"
    assert sent(stopped) == [api.server.settings.sms_stop_reply]  # the opt-out confirmation
    assert (await api.call("GET", "/contacts/+14155550123")).status == 404


async def test_requests_that_do_not_fit_are_refused_naming_the_field(api: ApiClient) -> None:
    assert (await upload(api, DESK))[0] == 201
    voice = await api.call("POST", "/test-texts", json_body={"workflow_id": "demo-line"})
    assert voice.status == 422
    assert voice.json["errors"][0]["field"] == "body.workflow_id"
    assert "not on sms.received" in voice.json["detail"]

    unknown = await api.call("POST", "/test-texts", json_body={"workflow_id": "nope"})
    assert unknown.status == 404
    no_published = await api.call("POST", "/test-texts", json_body={"workflow_id": "text-desk"})
    assert no_published.status == 404
    assert no_published.json["detail"] == "workflow 'text-desk' was never published"

    bad_number = await api.call(
        "POST", "/test-texts", json_body={"workflow_id": "text-desk", "from": "12"}
    )
    assert bad_number.status == 422
    assert bad_number.json["errors"][0]["field"] == "body.from"
    # Shaped like a number, but no valid one: the channel could not keep it.
    not_a_number = await api.call(
        "POST", "/test-texts", json_body={"workflow_id": "text-desk", "from": "+15550007777"}
    )
    assert not_a_number.status == 422
    assert not_a_number.json["errors"][0]["field"] == "body.from"

    started = await start(api, version="draft")
    empty = await api.call("POST", f"/test-texts/{started['id']}/texts", json_body={"body": ""})
    assert empty.status == 422
    assert empty.json["errors"][0]["field"] == "body.body"
    gone = await api.call("POST", "/test-texts/tt0000/texts", json_body={"body": "menu"})
    assert gone.status == 404
    assert "test conversation 'tt0000'" in gone.json["detail"]


PRIORITY = """\
id: text-priority
trigger:
  event: message.received
  when: {keywords: [error, 구독 해지]}
start: raise
steps:
  raise:
    set_priority: urgent
    next: flag
  flag:
    tag: keyword
"""
WELCOME = """\
id: text-welcome
trigger: {event: conversation.opened}
start: hello
steps:
  hello:
    reply: "Thanks for writing! We answer within the hour."
"""


async def test_an_automation_a_texts_conversation_event_starts_is_tried_by_texting(
    api: ApiClient,
) -> None:
    assert (await upload(api, PRIORITY))[0] == 201
    before = await counts(api)
    started = await start(api, workflow_id="text-priority", version="draft")

    calm = await text(api, started["id"], "hello")
    # The text itself is handled as a real one (no sms.received workflow here); the version
    # follows its conversation's message.received, whose keywords it does not contain.
    assert calm["texts"][0]["outcome"].startswith("no sms.received workflow takes it")
    assert calm["run_status"] is None
    assert not [entry for entry in calm["timeline"] if entry["kind"] == "priority"]

    urgent = await text(api, started["id"], "구독 해지 해주세요")
    assert "message.received: workflow text-priority: started" in urgent["texts"][1]["outcome"]
    [priority] = [entry for entry in urgent["timeline"] if entry["kind"] == "priority"]
    assert priority["data"]["priority"] == "urgent"
    assert urgent["path"] == ["raise", "flag"]
    assert urgent["run_status"] == "completed"
    assert await counts(api) == before


async def test_an_automation_follows_only_the_tests_texts_not_the_contacts_past(
    api: ApiClient,
) -> None:
    # A real conversation with the number, whose message has the keyword.
    form = {"MessageSid": "SM" + "7" * 32, "From": "+14155550123", "To": "+15005550001"}
    reply = await signed_post(api.server, "/twilio/sms", {**form, "Body": "error again!"})
    assert reply.status == 200
    assert (await upload(api, PRIORITY))[0] == 201
    started = await start(
        api, workflow_id="text-priority", version="draft", **{"from": "+14155550123"}
    )
    calm = await text(api, started["id"], "thanks, all good now")
    assert "text-priority" not in calm["texts"][0]["outcome"]
    assert calm["run_status"] is None


async def test_a_conversation_opened_workflow_answers_the_first_text_only(
    api: ApiClient,
) -> None:
    assert (await upload(api, WELCOME))[0] == 201
    started = await start(api, workflow_id="text-welcome", version="draft")
    first = await text(api, started["id"], "hi")
    assert sent(first) == ["Thanks for writing! We answer within the hour."]
    second = await text(api, started["id"], "anyone?")
    assert sent(second) == ["Thanks for writing! We answer within the hour."]
    assert "conversation.opened" not in second["texts"][1]["outcome"]
