"""Test calls over the admin API: a call against the published version or a draft, through the
server's own webhooks, heard line by line with the audio to play, answered key by key; marked as
a test in the call log; texting no one; refused clearly when the request does not fit."""

from __future__ import annotations

from typing import Any

import aiohttp

from ivr.softphone import CallerHungUp, ScriptedCaller, Softphone
from tests.api_client import ApiClient
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, eventually
from tests.ringflow.admin.test_workflows import LINE, LINE_V2, upload
from workflows.test_calls import new_test_call_id

ADDRESS = "Say: You will find us at 1 Example Street, Springfield."


async def _call(api: ApiClient, call_id: str) -> dict[str, Any]:
    answer = await api.call("GET", f"/test-calls/{call_id}")
    assert answer.status == 200, answer.text
    result: dict[str, Any] = answer.json
    return result


async def until_asked(api: ApiClient, call_id: str, kind: str = "keys") -> dict[str, Any]:
    """The test call once it waits for an answer of ``kind``."""
    seen: dict[str, Any] = {}

    async def asked() -> bool:
        seen.update(await _call(api, call_id))
        return bool(seen["question"]) and seen["question"]["kind"] == kind

    await eventually(asked, within=20, what=f"the test call to ask for {kind}")
    return seen


async def until_ended(api: ApiClient, call_id: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def ended() -> bool:
        seen.update(await _call(api, call_id))
        return seen["ended_by"] is not None

    await eventually(ended, within=20, what="the test call to end")
    return seen


async def press(api: ApiClient, call_id: str, keys: str) -> None:
    answer = await api.call(
        "POST", f"/test-calls/{call_id}/answer", json_body={"kind": "keys", "keys": keys}
    )
    assert answer.status == 200, answer.text


def texts(call: dict[str, Any]) -> list[str]:
    return [line["text"] for line in call["lines"]]


async def test_a_test_call_of_the_demo_is_heard_with_its_audio_and_texts_no_one(
    api: ApiClient,
) -> None:
    placed = await api.call("POST", "/test-calls", json_body={"workflow_id": "demo-line"})
    assert placed.status == 201, placed.text
    call_id = placed.json["id"]
    assert call_id.startswith("CAtest")
    assert len(call_id) == 34
    assert placed.json["from"] == "+15005550006"

    menu = await until_asked(api, call_id)
    assert menu["step"] == "main"
    assert menu["question"]["dtmf"] is True
    greeting = menu["lines"][0]
    assert greeting["text"].startswith("Say: Thank you for calling Acme.")
    # Spoken by the server's own voice, to play in the page: a WAV on this server.
    assert greeting["audio"].startswith("/media/prompts/")
    async with (
        aiohttp.ClientSession() as http,
        http.get(api.server.base_url + greeting["audio"]) as audio,
    ):
        assert audio.status == 200
        assert audio.content_type == "audio/wav"
        assert len(await audio.read()) > 1000

    await press(api, call_id, "2")
    after = await until_asked(api, call_id)
    assert any(text.startswith(ADDRESS) for text in texts(after))
    assert after["path"][:4] == ["welcome", "main", "address", "text_address"]
    assert after["step"] == "anything_else"

    hung_up = await api.call("POST", f"/test-calls/{call_id}/answer", json_body={"kind": "hang_up"})
    assert hung_up.status == 200
    ended = await until_ended(api, call_id)
    assert ended["ended_by"] == "caller-hangup"
    assert ended["question"] is None

    # In the call log, marked as a test by its id, with its path.
    logged = await api.call("GET", f"/calls/{call_id}")
    assert logged.status == 200
    assert "address" in logged.json["path"]
    assert logged.json["test"] is True

    async def status_recorded() -> bool:
        return (await api.call("GET", f"/calls/{call_id}")).json["outcome"] is not None

    await eventually(status_recorded, what="the test call's outcome")
    # The address text of step text_address was not queued: a test call texts no one.
    messages = await api.call("GET", "/messages")
    assert messages.status == 200
    assert messages.json == []


async def test_a_draft_is_tried_while_callers_still_hear_the_published_version(
    api: ApiClient,
) -> None:
    assert (await upload(api, LINE))[0] == 201
    assert (await api.call("POST", "/workflows/sales-line/publish")).status == 200
    assert (await upload(api, LINE_V2))[0] == 201  # a draft, not published

    placed = await api.call(
        "POST", "/test-calls", json_body={"workflow_id": "sales-line", "version": "draft"}
    )
    assert placed.status == 201, placed.text
    call_id = placed.json["id"]
    assert placed.json["to"] == "+15005550002"  # the workflow's number
    await until_asked(api, call_id)
    await press(api, call_id, "1")
    ended = await until_ended(api, call_id)
    assert "Say: Welcome to sales." in texts(ended)

    # A real call to the number still runs the published version.
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    result = await phone.call(ScriptedCaller(["1", CallerHungUp]), to="+15005550002")
    assert "Say: Sales it is." in result.transcript

    # Version 1, by number, is the published words.
    placed = await api.call(
        "POST", "/test-calls", json_body={"workflow_id": "sales-line", "version": "1"}
    )
    await until_asked(api, placed.json["id"])
    await press(api, placed.json["id"], "1")
    assert "Say: Sales it is." in texts(await until_ended(api, placed.json["id"]))


async def test_dial_outcomes_are_picked_by_the_admin(api: ApiClient) -> None:
    placed = await api.call("POST", "/test-calls", json_body={"workflow_id": "demo-line"})
    call_id = placed.json["id"]
    await until_asked(api, call_id)
    await press(api, call_id, "0")
    dialling = await until_asked(api, call_id, "dial")
    assert dialling["question"]["targets"] == ["+15005550006"]
    assert dialling["step"] == "operator"
    answer = await api.call(
        "POST", f"/test-calls/{call_id}/answer", json_body={"kind": "dial", "status": "no-answer"}
    )
    assert answer.status == 200
    recording = await until_asked(api, call_id, "record")
    assert recording["step"] == "voicemail"
    assert "Dial result: no-answer" in texts(recording)


async def test_requests_that_do_not_fit_are_refused_with_the_field(api: ApiClient) -> None:
    unknown = await api.call("POST", "/test-calls", json_body={"workflow_id": "nope"})
    assert unknown.status == 404
    no_draft = await api.call(
        "POST", "/test-calls", json_body={"workflow_id": "demo-line", "version": "draft"}
    )
    assert no_draft.status == 404
    assert "no draft" in no_draft.json["detail"]
    bad_version = await api.call(
        "POST", "/test-calls", json_body={"workflow_id": "demo-line", "version": "latest"}
    )
    assert bad_version.status == 422
    assert bad_version.json["errors"][0]["field"] == "body.version"
    bad_number = await api.call(
        "POST", "/test-calls", json_body={"workflow_id": "demo-line", "from": "555"}
    )
    assert bad_number.status == 422
    assert bad_number.json["errors"][0]["field"] == "body.from"
    assert (await api.call("GET", "/test-calls/CAtestnothing")).status == 404

    placed = await api.call("POST", "/test-calls", json_body={"workflow_id": "demo-line"})
    call_id = placed.json["id"]
    await until_asked(api, call_id)
    wrong_kind = await api.call(
        "POST", f"/test-calls/{call_id}/answer", json_body={"kind": "dial", "status": "busy"}
    )
    assert wrong_kind.status == 409
    assert wrong_kind.json["errors"][0]["field"] == "body.kind"
    # The demo's menu also takes words (its options have keywords); this one only keys.
    assert (await upload(api, LINE))[0] == 201
    keys_only = await api.call(
        "POST", "/test-calls", json_body={"workflow_id": "sales-line", "version": "draft"}
    )
    asked = await until_asked(api, keys_only.json["id"])
    assert asked["question"]["speech"] is False
    letters = await api.call(
        "POST",
        f"/test-calls/{keys_only.json['id']}/answer",
        json_body={"kind": "keys", "keys": "sales"},
    )
    assert letters.status == 409
    assert "only the keys" in letters.json["detail"]
    # The call still waits for its keys.
    await press(api, keys_only.json["id"], "1")
    assert "Say: Sales it is." in texts(await until_ended(api, keys_only.json["id"]))
    # A chat workflow cannot be called.
    chat = await api.call("POST", "/test-calls", json_body={"workflow_id": "demo-chat"})
    assert chat.status == 422, chat.text
    assert chat.json["errors"][0]["field"] == "body.workflow_id"

    # Without a valid token, nothing.
    assert (await api.call("GET", f"/test-calls/{call_id}", token="rf_not_a_token")).status == 401


async def test_a_test_call_id_no_console_placed_runs_nothing(api: ApiClient) -> None:
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    result = await phone.call(ScriptedCaller([]), call_sid=new_test_call_id())
    assert any("not in service" in line for line in result.transcript)
    assert (await api.call("GET", f"/calls/{result.call_sid}")).status == 404
