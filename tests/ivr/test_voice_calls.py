"""Whole calls against a real server: a Twilio-like softphone posts signed webhooks, follows
the action and Redirect URLs in the TwiML it gets, and sends the final status callback."""

from __future__ import annotations

import logging
import re

import aiohttp
import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from ivr.db import calls
from ivr.softphone import ScriptedCaller, Softphone
from tests.conftest import (
    AUTH_TOKEN,
    PUBLIC_URL,
    RunningServer,
    ServerFactory,
    workflow,
)
from tests.conftest import signed_post as post_signed
from workflows.db import runs
from workflows.steps import dial, say

MENU_FLOW = workflow(
    """
id: support-line
trigger: {event: call.incoming}
start: welcome
steps:
  welcome: {say: "Welcome to Acme.", next: main}
  main:
    menu:
      say: "For sales press 1. For hours press 2."
      repeat_say: "Press 1 or 2."
      options: {"1": sales, "2": hours}
      invalid: "That is not an option."
      no_input: "I did not hear anything."
      timeout: 4
      max_failures: 2
      max_timeouts: 2
      on_failure: goodbye
  hours: {say: "We are open nine to six.", next: goodbye}
  sales: {dial: {number: "+15550001111", timeout: 15}, on_no_answer: voicemail, next: goodbye}
  voicemail: {record: {say: "Leave a message after the tone.", max_seconds: 60}, next: goodbye}
  goodbye: {hangup: "Goodbye."}
"""
)


def phone(server: RunningServer) -> Softphone:
    """A softphone that signs like Twilio for the server's public URL."""
    return Softphone(server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)


async def call_row(server: RunningServer, sid: str) -> dict[str, object]:
    """The call log row of ``sid`` joined with its run's state."""
    query = (
        select(calls, runs.c.state, runs.c.status.label("run_status"))
        .select_from(calls.outerjoin(runs, calls.c.run_id == runs.c.id))
        .where(calls.c.sid == sid)
    )
    return await server.db.read(lambda conn: dict(conn.execute(query).mappings().one()))


async def test_menu_path_to_a_spoken_answer(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW])
    caller = ScriptedCaller(["2"])
    result = await phone(server).call(caller, from_="+15551230000", to="+15559870000")

    assert result.ended_by == "hangup-verb"
    assert list(result.transcript) == [
        "Say: Welcome to Acme.",
        "Say: For sales press 1. For hours press 2.",
        "Keys: 2",
        "Say: We are open nine to six.",
        "Say: Goodbye.",
        "Hangup",
    ]
    row = await call_row(server, result.call_sid)
    assert row["state"]["path"] == ["welcome", "main", "hours", "goodbye"]  # type: ignore[index]
    assert row["state"]["keys"] == ["2"]  # type: ignore[index]
    assert row["status"] == "completed"
    assert row["outcome"] == "self_service"
    assert row["caller"] == "+15551230000"
    assert row["workflow_id"] == "support-line"


async def test_invalid_key_then_a_valid_one(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW])
    result = await phone(server).call(ScriptedCaller(["7", "2"]))

    assert list(result.transcript)[:7] == [
        "Say: Welcome to Acme.",
        "Say: For sales press 1. For hours press 2.",
        "Keys: 7",
        "Say: That is not an option.",
        "Say: Press 1 or 2.",
        "Keys: 2",
        "Say: We are open nine to six.",
    ]


async def test_silence_until_max_timeouts_goes_to_the_fallback(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW])
    result = await phone(server).call(ScriptedCaller([None, None]))

    assert list(result.transcript) == [
        "Say: Welcome to Acme.",
        "Say: For sales press 1. For hours press 2.",
        "Silence",
        "Say: I did not hear anything.",
        "Say: Press 1 or 2.",
        "Silence",
        "Say: Goodbye.",
        "Hangup",
    ]
    row = await call_row(server, result.call_sid)
    assert row["state"]["path"] == ["welcome", "main", "goodbye"]  # type: ignore[index]


async def test_wrong_keys_and_silence_are_counted_apart(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW])
    # max_failures 2 and max_timeouts 2: one of each keeps the caller in the menu.
    result = await phone(server).call(ScriptedCaller(["9", None, "1", "completed:42"]))

    assert "Dial: +15550001111" in result.transcript
    row = await call_row(server, result.call_sid)
    assert row["outcome"] == "ended"


async def test_unanswered_dial_goes_to_voicemail(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW])
    result = await phone(server).call(ScriptedCaller(["1", "no-answer", "recorded:17:#"]))

    assert list(result.transcript)[3:] == [
        "Dial: +15550001111",
        "Dial result: no-answer",
        "Say: Leave a message after the tone.",
        "Record: (beep)",
        "Record: 17s recorded, ended by #",
        "Say: Goodbye.",
        "Hangup",
    ]
    row = await call_row(server, result.call_sid)
    recordings = row["state"]["facts"]["recordings"]  # type: ignore[index]
    assert recordings[0]["duration"] == 17
    assert recordings[0]["url"].startswith("https://api.twilio.com/2010-04-01/Accounts/")
    assert row["outcome"] == "missed"
    assert row["duration"] == result.duration


async def signed_post(server: RunningServer, path: str, form: dict[str, str]) -> tuple[int, str]:
    """POST ``form`` to ``path`` signed for the public URL: status and body."""
    reply = await post_signed(server, path, form)
    return reply.status, reply.text


def action_path(twiml: str) -> str:
    """The path of the first action URL in ``twiml``."""
    found = re.search(r'action="([^"]+)"', twiml)
    assert found is not None, twiml
    return found.group(1).removeprefix(PUBLIC_URL)


async def test_replayed_webhooks_change_nothing(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW])
    call = {"CallSid": "CA" + "a" * 32, "From": "+15551230000", "To": "+15559870000"}

    # Twilio repeats a webhook whose answer it did not get: the same request again.
    status, first = await signed_post(server, "/twilio/voice", call)
    assert (status, await signed_post(server, "/twilio/voice", call)) == (200, (200, first))
    turn_path = action_path(first)
    _, second = await signed_post(server, turn_path, call | {"Digits": "7"})
    after_turn = await call_row(server, call["CallSid"])
    assert await signed_post(server, turn_path, call | {"Digits": "7"}) == (200, second)
    assert await call_row(server, call["CallSid"]) == after_turn
    assert after_turn["state"]["keys"] == ["7"]  # type: ignore[index]

    # A stale turn (already answered twice over) changes nothing either.
    await signed_post(server, action_path(second), call | {"Digits": "2"})
    finished = await call_row(server, call["CallSid"])
    status, stale = await signed_post(server, turn_path, call | {"Digits": "1"})
    assert status == 200
    assert "<Hangup" in stale
    assert await call_row(server, call["CallSid"]) == finished
    assert finished["state"]["keys"] == ["7", "2"]  # type: ignore[index]
    assert await server.count("calls") == 1
    assert await server.count("runs") == 1


async def test_bad_signature_is_refused_and_nothing_is_stored(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW])
    forged = Softphone(server.base_url, auth_token="0" * 32, public_url=PUBLIC_URL)
    result = await forged.call(ScriptedCaller([]))

    assert result.ended_by == "error"
    assert result.webhooks[0].status == 403
    async with aiohttp.ClientSession() as session:
        unsigned = {"CallSid": "CA" + "1" * 32, "From": "+15550000001", "To": "+15550000002"}
        async with session.post(server.base_url + "/twilio/voice", data=unsigned) as response:
            assert response.status == 403
        async with session.post(server.base_url + "/twilio/voice/status", data=unsigned) as reply:
            assert reply.status == 403
    assert await server.count("calls") == 0
    assert await server.count("runs") == 0


def explode(*_args: object) -> None:
    """A step that fails."""
    raise RuntimeError("the step exploded")


APOLOGY_LINES = [
    "Say: We are sorry, something went wrong. Please call again later. Goodbye.",
    "Hangup",
]


@pytest.mark.parametrize(
    ("failing_kind", "keys", "heard_before"),
    [
        (say.KIND, [], []),
        (dial.KIND, ["1"], ["Say: Welcome to Acme.", "Say: For sales press 1. For hours press 2."]),
    ],
    ids=["first-turn", "later-turn"],
)
async def test_a_step_that_raises_gets_an_apology_and_a_hangup(
    servers: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failing_kind: object,
    keys: list[str],
    heard_before: list[str],
) -> None:
    server = await servers.start([MENU_FLOW])
    monkeypatch.setattr(failing_kind, "enter", explode)
    with caplog.at_level(logging.ERROR):
        result = await phone(server).call(ScriptedCaller(keys))

    assert all(request.status == 200 for request in result.webhooks)
    assert list(result.transcript) == heard_before + (["Keys: 1"] if keys else []) + APOLOGY_LINES
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert result.call_sid in failures[0].getMessage()
    assert "the step exploded" in (failures[0].exc_text or "")
    row = await call_row(server, result.call_sid)
    assert row["run_status"] == "failed"
    assert row["outcome"] == "missed"


async def test_no_workflow_for_the_number(servers: ServerFactory) -> None:
    only_sales = workflow(
        """
id: sales-line
trigger: {event: call.incoming, to: "+15550009999"}
start: hi
steps:
  hi: {hangup: "Sales, goodbye."}
"""
    )
    server = await servers.start([only_sales])
    routed = await phone(server).call(ScriptedCaller([]), to="+15550009999")
    unrouted = await phone(server).call(ScriptedCaller([]), to="+15550000000")

    assert list(routed.transcript) == ["Say: Sales, goodbye.", "Hangup"]
    assert list(unrouted.transcript) == [
        "Say: We are sorry, this number is not in service. Goodbye.",
        "Hangup",
    ]
    assert (await call_row(server, unrouted.call_sid))["outcome"] == "unrouted"


async def test_a_loop_that_never_waits_is_cut_off(servers: ServerFactory) -> None:
    spinning = workflow(
        """
id: spinner
trigger: {event: call.incoming}
start: count
steps:
  count: {set: {spinning: true}, next: check}
  check: {branch: {on: vars.spinning, cases: {"true": count}}, next: done}
  done: {hangup: {}}
"""
    )
    server = await servers.start([spinning], step_limit=20)
    result = await phone(server).call(ScriptedCaller([]))

    assert list(result.transcript) == [
        "Say: We are sorry, something went wrong. Please call again later. Goodbye.",
        "Hangup",
    ]
    assert (await call_row(server, result.call_sid))["outcome"] == "missed"


async def test_signature_checked_against_the_request_url_without_public_url(
    servers: ServerFactory,
) -> None:
    server = await servers.start([MENU_FLOW], public_url=None)
    softphone = Softphone(server.base_url, auth_token=AUTH_TOKEN)
    result = await softphone.call(ScriptedCaller(["2"]))

    assert result.ended_by == "hangup-verb"
    # Without a public URL the action URLs are relative; Twilio resolves them.
    assert 'action="/twilio/voice/runs/' in result.webhooks[0].body


async def test_without_an_auth_token_webhooks_are_not_checked(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW], auth_token=None, public_url=None)
    result = await Softphone(server.base_url).call(ScriptedCaller(["2"]))
    assert result.ended_by == "hangup-verb"


async def test_status_callbacks_never_move_backwards(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW])
    result = await phone(server).call(ScriptedCaller(["2"]))
    final = await call_row(server, result.call_sid)
    assert final["status"] == "completed"

    params = dict(result.webhooks[0].params)
    url = PUBLIC_URL + "/twilio/voice/status"
    async with aiohttp.ClientSession() as session:
        for status, duration in (("in-progress", ""), ("ringing", ""), ("failed", "99")):
            form = params | {"CallStatus": status, "CallDuration": duration}
            signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
            async with session.post(
                server.base_url + "/twilio/voice/status",
                data=form,
                headers={"X-Twilio-Signature": signature},
            ) as response:
                assert response.status == 204
    assert await call_row(server, result.call_sid) == final


GOLDEN_FIRST_TURN = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    "<Say>Welcome to Acme.</Say>"
    '<Gather action="https://ivr.example.com/twilio/voice/runs/RUN/1/gather" '
    'actionOnEmptyResult="true" method="POST" numDigits="1" timeout="4">'
    "<Say>For sales press 1. For hours press 2.</Say></Gather>"
    '<Redirect method="POST">https://ivr.example.com/twilio/voice/runs/RUN/1/gather</Redirect>'
    "</Response>"
)
GOLDEN_DIAL_TURN = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Dial action="https://ivr.example.com/twilio/voice/runs/RUN/2/dial" method="POST" '
    'timeout="15"><Number>+15550001111</Number></Dial></Response>'
)
GOLDEN_RECORD_TURN = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    "<Say>Leave a message after the tone.</Say>"
    '<Record action="https://ivr.example.com/twilio/voice/runs/RUN/3/record" '
    'finishOnKey="#" maxLength="60" method="POST" playBeep="true" timeout="5" />'
    '<Redirect method="POST">https://ivr.example.com/twilio/voice/runs/RUN/3/record</Redirect>'
    "</Response>"
)
GOLDEN_LAST_TURN = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Goodbye.</Say><Hangup /></Response>'
)


async def test_rendered_twiml_matches_the_golden_documents(servers: ServerFactory) -> None:
    server = await servers.start([MENU_FLOW])
    result = await phone(server).call(ScriptedCaller(["1", "busy", "recorded:3:#"]))
    bodies = [re.sub(r"/runs/[0-9a-f]{32}/", "/runs/RUN/", r.body) for r in result.webhooks]

    assert bodies == [GOLDEN_FIRST_TURN, GOLDEN_DIAL_TURN, GOLDEN_RECORD_TURN, GOLDEN_LAST_TURN]


async def test_health_check(servers: ServerFactory) -> None:
    server = await servers.start()
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.base_url + "/healthz") as response,
    ):
        assert response.status == 200
        assert await response.json() == {"status": "ok"}, "liveness only: no workflow ids"


async def test_an_oversized_webhook_is_refused_before_anything_is_stored(
    servers: ServerFactory,
) -> None:
    server = await servers.start([MENU_FLOW])
    form = {"CallSid": "CA" + "b" * 32, "From": "+15551230000", "Padding": "x" * 100_000}
    status, _body = await signed_post(server, "/twilio/voice", form)
    assert status == 413
    assert await server.count("calls") == 0


async def test_any_instance_serves_any_turn(servers: ServerFactory) -> None:
    first = await servers.start([MENU_FLOW])
    second = await servers.start([MENU_FLOW])  # same database, its own caches
    call = {"CallSid": "CA" + "d" * 32, "From": "+15551230000", "To": "+15559870000"}

    _, greeting = await signed_post(first, "/twilio/voice", call)
    status, answer = await signed_post(second, action_path(greeting), call | {"Digits": "2"})

    assert status == 200
    assert "<Say>We are open nine to six.</Say>" in answer
    row = await call_row(first, call["CallSid"])
    assert row["state"]["path"] == ["welcome", "main", "hours", "goodbye"]  # type: ignore[index]
