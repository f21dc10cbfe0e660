"""Test chats over the admin API: a visitor's messages and button taps answered by a version or
draft of a ``chat.started`` workflow (greeting, answer buttons, hand-over to a person), with
nothing in any widget or inbox and nothing kept; refused clearly when the request does not fit."""

from __future__ import annotations

from typing import Any

import pytest

import workflows.test_conversations
from ringflow.database import metadata
from tests.api_client import ApiClient
from tests.ringflow.admin.test_workflows import upload

GREETER = """\
id: chat-greeter
trigger:
  event: chat.started
start: hello
steps:
  hello:
    menu:
      say: "Hello from the {{version}}! Pick one:"
      options:
        "1": {next: thanks, label: Say thanks, keywords: [thanks]}
  thanks:
    say: "You are welcome."
"""


def greeter(version: str) -> str:
    return GREETER.replace("{{version}}", version)


async def start(api: ApiClient, workflow_id: str, version: str = "published") -> dict[str, Any]:
    answer = await api.call(
        "POST", "/test-chats", json_body={"workflow_id": workflow_id, "version": version}
    )
    assert answer.status == 201, answer.text
    result: dict[str, Any] = answer.json
    return result


async def write(
    api: ApiClient, chat_id: str, text: str, choice: str | None = None
) -> dict[str, Any]:
    body = {"text": text} if choice is None else {"text": text, "choice": choice}
    answer = await api.call("POST", f"/test-chats/{chat_id}/messages", json_body=body)
    assert answer.status == 200, answer.text
    result: dict[str, Any] = answer.json
    return result


def bot(chat: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    """What the widget would show from the bot, in order: each message with its buttons."""
    return [
        (entry["message"]["body"], entry["message"]["buttons"])
        for entry in chat["timeline"]
        if entry["message"] and entry["message"]["sender"] == "bot"
    ]


async def counts(api: ApiClient) -> dict[str, int]:
    """Rows in every table of the server's database."""
    return {name: await api.server.count(name) for name in sorted(metadata.tables)}


MAIN_BUTTONS = [["1", "Opening hours"], ["2", "Our address"], ["3", "Talk to a person"]]


async def test_the_demo_chat_greets_answers_and_hands_over_and_nothing_is_kept(
    api: ApiClient,
) -> None:
    before = await counts(api)

    chat = await start(api, "demo-chat")
    assert chat["id"].startswith("tc")
    assert chat["visitor"].startswith("chat:test")
    assert chat["greeting"] == "workflow demo-chat: started"
    assert chat["messages"] == []
    # As the widget shows it: the words before a question in its message, with its buttons.
    assert bot(chat) == [
        (
            "Hi! Welcome to Acme. I can answer a few questions right away.\n"
            "What can we help you with?",
            MAIN_BUTTONS,
        )
    ]
    assert (chat["step"], chat["run_status"]) == ("main", "waiting")

    # Tapping a button sends its key, as the widget does; the label is what the chat shows.
    hours = await write(api, chat["id"], "Opening hours", choice="1")
    assert hours["messages"][0]["outcome"].startswith("answers step main of workflow demo-chat")
    assert bot(hours)[-1] == (
        "We are open 9 to 6, Monday to Friday, and 10 to 2 on Saturday.\nAnything else?",
        [["1", "Yes, something else"], ["2", "Talk to a person"], ["3", "No, thanks"]],
    )
    visitor = [
        entry["message"]["body"]
        for entry in hours["timeline"]
        if entry["message"] and entry["message"]["sender"] == "visitor"
    ]
    assert visitor == ["Opening hours"]

    person = await write(api, chat["id"], "Talk to a person", choice="2")
    assert bot(person)[-1] == ("Thanks! A person from our team will answer here shortly.", [])
    assert person["path"] == ["welcome", "main", "hours", "anything_else", "person", "handover"]
    assert person["run_status"] == "completed"
    [priority] = [entry for entry in person["timeline"] if entry["kind"] == "priority"]
    assert priority["data"]["priority"] == "high"

    # Nobody waits for the visitor now: a further message waits for a person.
    later = await write(api, chat["id"], "Hello?")
    assert later["messages"][-1]["outcome"] == "no run waits for it: it waits for a person"

    # Nothing of it stays: no visitor, message, conversation, contact, run, firing or job.
    assert await counts(api) == before
    assert (await api.call("GET", "/conversations")).json["items"] == []
    again = await api.call("GET", f"/test-chats/{chat['id']}")
    assert again.status == 200
    assert again.json == later


async def test_typed_words_are_taken_by_the_menus_keywords(api: ApiClient) -> None:
    chat = await start(api, "demo-chat")
    where = await write(api, chat["id"], "where are you?")
    assert bot(where)[-1][0].startswith("You will find us at 1 Example Street, Springfield.")
    assert where["step"] == "anything_else"


async def test_the_version_chosen_greets_while_visitors_get_the_published_one(
    api: ApiClient,
) -> None:
    assert (await upload(api, greeter("published one")))[0] == 201
    assert (await api.call("POST", "/workflows/chat-greeter/publish")).status == 200
    assert (await upload(api, greeter("draft")))[0] == 201

    draft = await start(api, "chat-greeter", "draft")
    assert bot(draft) == [("Hello from the draft! Pick one:", [["1", "Say thanks"]])]
    published = await start(api, "chat-greeter")
    assert bot(published)[0][0] == "Hello from the published one! Pick one:"
    thanked = await write(api, published["id"], "thanks")
    assert bot(thanked)[-1][0] == "You are welcome."


async def test_requests_that_do_not_fit_are_refused_naming_the_field(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    voice = await api.call("POST", "/test-chats", json_body={"workflow_id": "demo-line"})
    assert voice.status == 422
    assert voice.json["errors"][0]["field"] == "body.workflow_id"
    assert "not on chat.started" in voice.json["detail"]
    unknown = await api.call("POST", "/test-chats", json_body={"workflow_id": "nope"})
    assert unknown.status == 404
    assert (await upload(api, GREETER))[0] == 201
    never = await api.call("POST", "/test-chats", json_body={"workflow_id": "chat-greeter"})
    assert never.status == 404
    assert never.json["detail"] == "workflow 'chat-greeter' was never published"

    chat = await start(api, "demo-chat")
    path = f"/test-chats/{chat['id']}/messages"
    for body, field in (
        ({"text": ""}, "body.text"),
        ({"text": "   "}, "body.text"),  # what the widget refuses too
        ({"text": "Opening hours", "choice": "one"}, "body.choice"),
        ({"txt": "hi"}, "body.text"),
    ):
        refused = await api.call("POST", path, json_body=body)
        assert refused.status == 422, body
        assert refused.json["errors"][0]["field"] == field, refused.json
    assert (await api.call("GET", f"/test-chats/{chat['id']}")).json["messages"] == []

    monkeypatch.setattr(workflows.test_conversations, "MAX_MESSAGES", 1)
    await write(api, chat["id"], "hours")
    full = await api.call("POST", path, json_body={"text": "more"})
    assert full.status == 409
    assert full.json["errors"][0]["field"] == "body.text"

    gone = await api.call("POST", "/test-chats/tc0000/messages", json_body={"text": "hi"})
    assert gone.status == 404
    assert "test chat 'tc0000'" in gone.json["detail"]
