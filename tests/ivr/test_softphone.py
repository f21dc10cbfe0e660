"""Softphone tests against a real aiohttp server that checks Twilio signatures."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from ivr.softphone import (
    CallerHungUp,
    CallResult,
    DialAttempt,
    GatherPrompt,
    InvalidAnswerError,
    RequestRecord,
    ScriptedCaller,
    ScriptExhaustedError,
    Softphone,
    TerminalCaller,
    parse_dial_outcome,
    parse_record_outcome,
)
from ivr.twiml_reader import Gather, Say, TwimlError, parse_twiml

TOKEN = "0123456789abcdef0123456789abcdef"
VOICE = "/twilio/voice"
STATUS = "/twilio/voice/status"


@dataclass(frozen=True)
class Hit:
    """A request as the server saw it."""

    method: str
    path: str
    params: dict[str, str]
    signature_ok: bool


class TwimlServer:
    """Serves canned TwiML per path and verifies every request's signature."""

    def __init__(self) -> None:
        self.documents: dict[str, str] = {STATUS: "<Response/>"}
        self.content_types: dict[str, str] = {}
        self.hits: list[Hit] = []
        self.public_url: str | None = None
        self.base_url = ""
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    def twiml(self, path: str, body: str) -> None:
        self.documents[path] = f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post() if request.method == "POST" else {}
        params = {key: str(value) for key, value in form.items()}
        url = str(request.url) if self.public_url is None else self.public_url + request.path_qs
        signature = request.headers.get("X-Twilio-Signature", "")
        valid = bool(RequestValidator(TOKEN).validate(url, params, signature))
        self.hits.append(Hit(request.method, request.path, params | dict(request.query), valid))
        if not valid:
            return web.Response(status=403, text="invalid signature")
        body = self.documents.get(request.path)
        if body is None:
            return web.Response(status=404, text="no such document")
        content_type = self.content_types.get(request.path, "text/xml")
        return web.Response(text=body, content_type=content_type)

    def phone(
        self, *, auth_token: str = TOKEN, public_url: str | None = None, max_requests: int = 200
    ) -> Softphone:
        return Softphone(
            self.base_url, auth_token=auth_token, public_url=public_url, max_requests=max_requests
        )


@pytest.fixture
async def server() -> AsyncIterator[TwimlServer]:
    twiml_server = TwimlServer()
    runner = web.AppRunner(twiml_server.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    twiml_server.base_url = f"http://{host}:{port}"
    try:
        yield twiml_server
    finally:
        await runner.cleanup()


def last_webhook(result: CallResult) -> RequestRecord:
    return result.webhooks[-1]


async def test_gather_digits_are_posted_to_the_action(server: TwimlServer) -> None:
    server.twiml(
        VOICE,
        '<Gather numDigits="1" action="/twilio/menu"><Say>Press 1 for sales</Say></Gather>'
        "<Say>We did not get that</Say>",
    )
    server.twiml("/twilio/menu", "<Say>Sales, please hold</Say><Hangup/><Say>never</Say>")
    caller = ScriptedCaller(["1"])

    result = await server.phone().call(caller, from_="+15551110000", to="+15552220000")

    assert result.ended_by == "hangup-verb"
    assert result.transcript == (
        "Say: Press 1 for sales",
        "Keys: 1",
        "Say: Sales, please hold",
        "Hangup",
    )
    assert caller.transcript == list(result.transcript)
    first, menu = result.webhooks
    assert first.params["CallStatus"] == "ringing"
    assert first.params["Direction"] == "inbound"
    assert first.params["From"] == first.params["Caller"] == "+15551110000"
    assert first.params["To"] == first.params["Called"] == "+15552220000"
    assert first.params["ApiVersion"] == "2010-04-01"
    assert first.params["CallSid"].startswith("CA")
    assert len(first.params["CallSid"]) == 34
    assert first.params["AccountSid"].startswith("AC")
    assert len(first.params["AccountSid"]) == 34
    assert "Digits" not in first.params
    assert menu.url == server.base_url + "/twilio/menu"
    assert menu.params["Digits"] == "1"
    assert menu.params["CallStatus"] == "in-progress"
    assert menu.params["CallSid"] == first.params["CallSid"] == result.call_sid
    assert [hit.path for hit in server.hits] == [VOICE, "/twilio/menu", STATUS]
    assert all(hit.signature_ok for hit in server.hits)
    assert server.hits[1].params["Digits"] == "1"


async def test_gather_strips_the_finish_key(server: TwimlServer) -> None:
    server.twiml(VOICE, '<Gather action="/twilio/pin"/>')
    server.twiml("/twilio/pin", "<Hangup/>")

    result = await server.phone().call(ScriptedCaller(["1234#"]))

    assert "Keys: 1234#" in result.transcript
    assert last_webhook(result).params["Digits"] == "1234"
    assert last_webhook(result).params["FinishedOnKey"] == "#"


async def test_silence_without_action_on_empty_result_falls_through(server: TwimlServer) -> None:
    server.twiml(
        VOICE,
        '<Gather action="/twilio/menu" timeout="3"><Say>Press a key</Say></Gather>'
        "<Redirect>/twilio/voice/again</Redirect>",
    )
    server.twiml("/twilio/voice/again", "<Say>Goodbye</Say>")

    result = await server.phone().call(ScriptedCaller([None]))

    assert result.transcript == (
        "Say: Press a key",
        "Silence",
        "Say: Goodbye",
        "Hangup (end of document)",
    )
    assert result.ended_by == "end-of-document"
    assert [hit.path for hit in server.hits] == [VOICE, "/twilio/voice/again", STATUS]
    assert "Digits" not in server.hits[1].params


async def test_silence_with_action_on_empty_result_posts_without_digits(
    server: TwimlServer,
) -> None:
    server.twiml(
        VOICE,
        '<Gather action="/twilio/menu" actionOnEmptyResult="true"><Say>Hi</Say></Gather>'
        "<Say>not reached</Say>",
    )
    server.twiml("/twilio/menu", "<Hangup/>")

    result = await server.phone().call(ScriptedCaller([""]))

    assert [hit.path for hit in server.hits] == [VOICE, "/twilio/menu", STATUS]
    assert "Digits" not in last_webhook(result).params
    assert "Say: not reached" not in result.transcript


async def test_speech_answer_sends_speech_result(server: TwimlServer) -> None:
    server.twiml(VOICE, '<Gather input="dtmf speech" action="/twilio/menu" hints="sales"/>')
    server.twiml("/twilio/menu", "<Hangup/>")
    caller = ScriptedCaller(["sales please"])

    result = await server.phone().call(caller)

    assert "Speech: sales please" in result.transcript
    params = last_webhook(result).params
    assert params["SpeechResult"] == "sales please"
    assert params["Confidence"] == "0.9"
    assert "Digits" not in params
    assert caller.questions == [
        GatherPrompt(num_digits=None, timeout=5, finish_on_key="#", speech=True, hints="sales")
    ]


async def test_letters_on_a_dtmf_gather_are_refused(server: TwimlServer) -> None:
    server.twiml(VOICE, "<Gather/>")

    with pytest.raises(InvalidAnswerError, match="only accepts the keys"):
        await server.phone().call(ScriptedCaller(["hello"]))


async def test_dial_with_action_posts_the_dial_status(server: TwimlServer) -> None:
    server.twiml(
        VOICE,
        '<Dial action="/twilio/after-dial" timeout="20" callerId="+15550001111">'
        "<Number>+15553334444</Number><Client>alice</Client></Dial><Say>not reached</Say>",
    )
    server.twiml("/twilio/after-dial", "<Say>Nobody answered</Say><Hangup/>")
    caller = ScriptedCaller(["no-answer"])

    result = await server.phone().call(caller)

    assert result.transcript[:2] == ("Dial: +15553334444, client:alice", "Dial result: no-answer")
    params = last_webhook(result).params
    assert params["DialCallStatus"] == "no-answer"
    assert params["DialCallDuration"] == "0"
    assert params["DialCallSid"].startswith("CA")
    assert caller.questions == [
        DialAttempt(targets=("+15553334444", "client:alice"), timeout=20, caller_id="+15550001111")
    ]


async def test_dial_without_action_continues_with_the_next_verb(server: TwimlServer) -> None:
    server.twiml(VOICE, "<Dial>+15553334444</Dial><Say>Thanks for calling</Say>")

    result = await server.phone().call(ScriptedCaller(["completed:35"]))

    assert result.transcript == (
        "Dial: +15553334444",
        "Dial result: completed",
        "Say: Thanks for calling",
        "Hangup (end of document)",
    )
    assert result.duration == 36
    assert len(result.webhooks) == 1


async def test_silent_record_skips_the_action(server: TwimlServer) -> None:
    server.twiml(
        VOICE,
        '<Record action="/twilio/voicemail" maxLength="30"/><Say>No message left</Say>',
    )
    server.twiml("/twilio/voicemail", "<Hangup/>")

    result = await server.phone().call(ScriptedCaller([None]))

    assert result.transcript == (
        "Record: (beep)",
        "Silence",
        "Say: No message left",
        "Hangup (end of document)",
    )
    assert [hit.path for hit in server.hits] == [VOICE, STATUS]


async def test_recording_ended_by_hangup_posts_it_and_ends_the_call(server: TwimlServer) -> None:
    server.twiml(VOICE, '<Record playBeep="false"/>')

    result = await server.phone().call(ScriptedCaller(["recorded:12"]))

    assert result.ended_by == "caller-hangup"
    assert result.transcript[0] == "Record: (no beep)"
    assert result.transcript[-1] == "Caller hung up"
    params = last_webhook(result).params
    account = params["AccountSid"]
    assert params["RecordingUrl"] == (
        f"https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{params['RecordingSid']}"
    )
    assert params["RecordingSid"].startswith("RE")
    assert params["RecordingDuration"] == "12"
    assert params["Digits"] == "hangup"
    assert last_webhook(result).url == server.base_url + VOICE  # no action: the document URL
    assert result.duration == 12


async def test_recording_ended_by_a_key_continues_at_the_action(server: TwimlServer) -> None:
    server.twiml(VOICE, '<Record action="voicemail" finishOnKey="#"/>')
    server.twiml("/twilio/voicemail", "<Say>Thanks</Say><Hangup/>")

    result = await server.phone().call(ScriptedCaller(["recorded:8:#"]))

    assert result.transcript[-2:] == ("Say: Thanks", "Hangup")
    assert last_webhook(result).params["Digits"] == "#"


async def test_relative_urls_resolve_against_the_document_url(server: TwimlServer) -> None:
    server.twiml(VOICE, "<Redirect>voice/menu/start</Redirect>")
    server.twiml("/twilio/voice/menu/start", '<Redirect method="GET">../step?x=1</Redirect>')
    server.twiml("/twilio/voice/step", '<Gather action="done" method="GET"/>')
    server.twiml("/twilio/voice/done", "<Hangup/>")

    result = await server.phone().call(ScriptedCaller(["42#"]))

    assert [hit.path for hit in server.hits] == [
        VOICE,
        "/twilio/voice/menu/start",
        "/twilio/voice/step",
        "/twilio/voice/done",
        STATUS,
    ]
    assert [hit.method for hit in server.hits] == ["POST", "POST", "GET", "GET", "POST"]
    assert all(hit.signature_ok for hit in server.hits)
    assert server.hits[2].params["x"] == "1"
    assert server.hits[2].params["CallSid"] == result.call_sid
    assert server.hits[3].params["Digits"] == "42"
    assert result.ended_by == "hangup-verb"


async def test_hangup_ends_the_call_and_the_status_callback_follows(server: TwimlServer) -> None:
    server.twiml(VOICE, '<Say>Hello</Say><Pause length="2"/><Hangup/><Say>never</Say>')

    result = await server.phone().call(ScriptedCaller([]))

    assert result.transcript == ("Say: Hello", "Pause: 2s", "Hangup")
    assert result.ended_by == "hangup-verb"
    assert result.status == "completed"
    callback = result.status_callback
    assert callback is not None
    assert callback is result.requests[-1]
    assert callback.url == server.base_url + STATUS
    assert callback.status == 200
    assert callback.params["CallStatus"] == "completed"
    assert callback.params["CallDuration"] == "3" == str(result.duration)
    assert callback.params["CallSid"] == result.call_sid
    assert server.hits[-1] == Hit("POST", STATUS, callback.params, True)


async def test_a_wrong_token_gets_403_and_ends_with_error(server: TwimlServer) -> None:
    server.twiml(VOICE, "<Say>Hello</Say>")

    result = await server.phone(auth_token="not-the-token").call(ScriptedCaller([]))

    assert result.ended_by == "error"
    assert [r.status for r in result.requests] == [403]  # no status callback after a 403
    assert result.requests[0].body == "invalid signature"
    assert result.transcript == (f"Error: POST {server.base_url}{VOICE} answered HTTP 403",)


async def test_public_url_is_used_for_signatures(server: TwimlServer) -> None:
    server.public_url = "https://ringflow.example.com"
    server.twiml(VOICE, "<Redirect>https://ringflow.example.com/twilio/next?step=2</Redirect>")
    server.twiml("/twilio/next", "<Hangup/>")

    result = await server.phone(public_url="https://ringflow.example.com/").call(ScriptedCaller([]))

    assert result.ended_by == "hangup-verb"
    assert [hit.path for hit in server.hits] == [VOICE, "/twilio/next", STATUS]
    assert all(hit.signature_ok for hit in server.hits)


async def test_the_script_running_out_is_a_clear_error(server: TwimlServer) -> None:
    server.twiml(VOICE, '<Gather numDigits="1"><Say>Press 1</Say></Gather><Gather/>')

    with pytest.raises(ScriptExhaustedError, match=r"ran out of answers.*keys.*Press 1"):
        await server.phone().call(ScriptedCaller(["1"]))


async def test_caller_hangup_ends_the_call(server: TwimlServer) -> None:
    server.twiml(VOICE, "<Gather><Say>Press something</Say></Gather>")

    result = await server.phone().call(ScriptedCaller([CallerHungUp]))

    assert result.ended_by == "caller-hangup"
    assert result.transcript == ("Say: Press something", "Caller hung up")
    callback = result.status_callback
    assert callback is not None
    assert callback.params["CallStatus"] == "completed"


async def test_redirect_loops_stop_at_max_requests(server: TwimlServer) -> None:
    server.twiml(VOICE, f"<Redirect>{VOICE}</Redirect>")

    result = await server.phone(max_requests=5).call(ScriptedCaller([]))

    assert result.ended_by == "error"
    assert len(result.webhooks) == 5
    assert result.transcript[-1].startswith("Error: more than 5 webhook requests")
    assert result.status_callback is not None


async def test_reject_as_first_verb_leaves_the_call_unanswered(server: TwimlServer) -> None:
    server.twiml(VOICE, '<Reject reason="busy"/><Say>never</Say>')

    result = await server.phone().call(ScriptedCaller([]))

    assert result.status == "busy"
    assert result.ended_by == "hangup-verb"
    callback = result.status_callback
    assert callback is not None
    assert (callback.params["CallStatus"], callback.params["CallDuration"]) == ("busy", "0")


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ("this is not xml", "text/xml", "not well-formed XML"),
        ("<Say>no response root</Say>", "text/xml", "needs <Response>"),
        ("<Response><Say>Hi</Say></Response>", "text/plain", "text/plain"),
    ],
)
async def test_answers_that_are_not_twiml_end_with_error(
    server: TwimlServer, body: str, content_type: str, reason: str
) -> None:
    server.documents[VOICE] = body
    server.content_types[VOICE] = content_type

    result = await server.phone().call(ScriptedCaller([]))

    assert result.ended_by == "error"
    assert result.transcript[-1].startswith("Error: ")
    assert reason in result.transcript[-1]
    assert result.requests[0].body == body
    assert result.status_callback is not None


async def test_server_errors_end_the_call(server: TwimlServer) -> None:
    server.twiml(VOICE, "<Redirect>/twilio/missing</Redirect>")

    result = await server.phone().call(ScriptedCaller([]))

    assert result.ended_by == "error"
    assert result.webhooks[-1].status == 404
    assert result.status_callback is not None  # only a 403 on the first request skips it


async def test_unsigned_requests_without_a_token(server: TwimlServer) -> None:
    server.twiml(VOICE, "<Hangup/>")

    result = await Softphone(server.base_url).call(ScriptedCaller([]))

    assert result.ended_by == "error"
    assert result.requests[0].signature is None


async def test_terminal_caller_reads_answers_and_hangs_up_on_eof(server: TwimlServer) -> None:
    server.twiml(
        VOICE,
        '<Gather numDigits="1" action="/twilio/menu"><Say>Press 2</Say></Gather>',
    )
    server.twiml("/twilio/menu", '<Dial action="/twilio/after">+15553334444</Dial>')
    server.twiml("/twilio/after", "<Gather/>")
    output = io.StringIO()
    caller = TerminalCaller(stdin=io.StringIO("abc\n2\nbusy\n"), stdout=output)

    result = await server.phone().call(caller)

    assert result.ended_by == "caller-hangup"
    assert result.transcript == (
        "Say: Press 2",
        "Keys: 2",
        "Dial: +15553334444",
        "Dial result: busy",
        "Caller hung up",
    )
    printed = output.getvalue()
    assert "Say: Press 2\n" in printed
    assert "only the keys 0-9, * and # work here" in printed


def test_outcome_parsers() -> None:
    assert parse_dial_outcome("completed:35").duration == 35
    assert parse_dial_outcome("no-answer").status == "no-answer"
    with pytest.raises(ValueError, match="not one of"):
        parse_dial_outcome("answered")
    with pytest.raises(ValueError, match="only a completed dial"):
        parse_dial_outcome("busy:3")
    assert parse_record_outcome(None) is None
    recorded = parse_record_outcome("recorded:12")
    assert recorded is not None
    assert (recorded.duration, recorded.digits) == (12, "hangup")
    timed_out = parse_record_outcome("7 timeout")
    assert timed_out is not None
    assert timed_out.digits == ""


def test_twiml_reader_defaults_and_warnings() -> None:
    document = parse_twiml(
        '<Response><Gather timeout="soon" method="PUT" numDigits="2">'
        '<Say loop="2">Hi <break time="1s"/> there</Say></Gather></Response>'
    )
    gather = document.verbs[0]
    assert isinstance(gather, Gather)
    assert (gather.timeout, gather.method, gather.num_digits) == (5, "POST", 2)
    assert gather.prompts == (Say(text="Hi there", loop=2),)
    assert len(document.warnings) == 2
    with pytest.raises(TwimlError, match="cannot be nested"):
        parse_twiml("<Response><Gather><Dial>+1555</Dial></Gather></Response>")
    with pytest.raises(TwimlError, match="DOCTYPE"):
        parse_twiml('<!DOCTYPE x [<!ENTITY a "b">]><Response/>')


async def test_a_queue_is_waited_in_until_a_leave_then_its_action(server: TwimlServer) -> None:
    server.twiml(
        VOICE,
        '<Say>Please hold.</Say><Enqueue action="/left" waitUrl="/wait">support</Enqueue>'
        "<Say>Never reached.</Say>",
    )
    server.twiml(
        "/wait",
        '<Gather numDigits="1" action="/key"><Say>You are number 1 in line.</Say></Gather>',
    )
    server.twiml("/key", "<Say>We will call you back.</Say><Leave/>")
    server.twiml("/left", "<Say>Goodbye.</Say><Hangup/>")
    # Silence through one round of the wait music, then 1 in the second.
    result = await server.phone().call(ScriptedCaller([None, "1"]))

    assert list(result.transcript) == [
        "Say: Please hold.",
        "Enqueue: support",
        "Say: You are number 1 in line.",
        "Silence",
        "Say: You are number 1 in line.",
        "Keys: 1",
        "Say: We will call you back.",
        "Leave",
        "Left the queue support",
        "Say: Goodbye.",
        "Hangup",
    ]
    paths = [hit.path for hit in server.hits]
    assert paths == [VOICE, "/wait", "/wait", "/key", "/left", STATUS]
    assert server.hits[4].params["QueueResult"] == "leave"
    assert all(hit.signature_ok for hit in server.hits)


async def test_a_redirect_takes_the_call_out_of_the_queue(server: TwimlServer) -> None:
    server.twiml(VOICE, '<Enqueue waitUrl="/wait">support</Enqueue>')
    server.twiml("/wait", '<Gather numDigits="1"><Say>Please hold.</Say></Gather>')
    server.twiml("/agent", "<Say>Connecting you now.</Say>")
    redirected = asyncio.Event()

    async def dequeued(call_sid: str, followed: int) -> tuple[str, str]:
        assert followed == 0
        await redirected.wait()
        return server.base_url + "/agent", "POST"

    class Waiting(ScriptedCaller):
        async def keys(self, gather: GatherPrompt) -> str | None:
            redirected.set()  # the business takes the call while the music plays
            await asyncio.sleep(10)
            return None

    phone = Softphone(server.base_url, auth_token=TOKEN, dequeued=dequeued)
    result = await asyncio.wait_for(phone.call(Waiting()), 5)
    assert list(result.transcript) == [
        "Enqueue: support",
        "Say: Please hold.",
        "Dequeued (redirected by the REST API)",
        "Say: Connecting you now.",
        "Hangup (end of document)",
    ]


def test_an_enqueue_needs_a_queue_name() -> None:
    with pytest.raises(TwimlError, match="queue name"):
        parse_twiml("<Response><Enqueue/></Response>")
