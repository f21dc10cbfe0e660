"""Recordings in the call log, played back through the admin API: a call leaves a voicemail
through the voice webhooks (a softphone playing Twilio's part), the Twilio stub holds its MP3
(made by ffmpeg), ``GET /api/calls/{sid}`` lists it and ``GET .../recordings/1`` streams the
stub's bytes. Then what goes wrong, each answered clearly: no such recording, no Twilio
account, a recording Twilio no longer has or will not hand over, Twilio unreachable or failing
in the middle, a test call's recording (no audio), and a forged ``RecordingUrl`` (nothing
fetched)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from ivr.softphone import ScriptedCaller, Softphone
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.conftest import (
    AUTH_TOKEN,
    PUBLIC_URL,
    RunningServer,
    ServerFactory,
    eventually,
    signed_post,
    workflow,
)
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.prompts.media import tone

CALLER = "+14155550123"
LINE_NUMBER = "+15005550009"
VOICEMAIL = workflow(
    f"""
id: voicemail-line
trigger: {{event: call.incoming, to: "{LINE_NUMBER}"}}
start: voicemail
steps:
  voicemail: {{record: {{say: "Leave a message after the tone.", max_seconds: 60}}, next: bye}}
  bye: {{hangup: "Thank you. Goodbye."}}
"""
)


@dataclass(frozen=True)
class Fetched:
    """An answer of the recording endpoint, its body as bytes."""

    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes


async def start_line(servers: ServerFactory, twilio: TwilioApiStub) -> RunningServer:
    """A server with the voicemail line, an admin token and ``twilio``'s account."""
    return await servers.start(
        [VOICEMAIL],
        admin_token=ADMIN_TOKEN,
        twilio_account_sid=twilio.account_sid,
        twilio_api_base_url=twilio.base_url,
    )


@pytest.fixture
async def line(servers: ServerFactory, server_stub: TwilioApiStub) -> AsyncIterator[ApiClient]:
    """A server with the voicemail line and a Twilio account (the stub), and its API client."""
    server = await start_line(servers, server_stub)
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server, session)


@pytest.fixture(scope="module")
def message_mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real MP3 (1.5 s of a tone, encoded by ffmpeg): what the caller left."""
    return tone(tmp_path_factory.mktemp("recordings"), "message.mp3", 1.5).read_bytes()


async def leave_message(api: ApiClient, seconds: int = 7) -> tuple[str, str]:
    """A call to the voicemail line that leaves a message: its CallSid and RecordingSid."""
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    # Twilio's RecordingUrl names the account the call belongs to: the server's.
    phone.account_sid = ACCOUNT_SID
    result = await phone.call(
        ScriptedCaller([f"recorded:{seconds}:#"]), from_=CALLER, to=LINE_NUMBER
    )
    [posted] = [r.params for r in result.webhooks if "RecordingSid" in r.params]
    return result.call_sid, posted["RecordingSid"]


async def fetch(api: ApiClient, path: str, **extra_headers: str) -> Fetched:
    """GET ``path`` (a path under the server, ``/api/...``) with the admin token."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **extra_headers}
    async with api.session.get(api.server.base_url + path, headers=headers) as answer:
        return Fetched(
            answer.status, answer.content_type, dict(answer.headers), await answer.read()
        )


def recording_path(sid: str, number: int = 1) -> str:
    return f"/api/calls/{sid}/recordings/{number}"


async def test_a_voicemail_is_listed_and_plays_the_bytes_twilio_holds(
    line: ApiClient, server_stub: TwilioApiStub, message_mp3: bytes
) -> None:
    sid, recording = await leave_message(line, seconds=7)
    server_stub.add_recording(recording, message_mp3)

    call = (await line.call("GET", f"/calls/{sid}")).json
    assert call["recordings"] == [{"duration": 7, "audio": recording_path(sid)}]
    [listed] = [c for c in (await line.call("GET", "/calls")).json if c["sid"] == sid]
    assert listed["recordings"] == call["recordings"]

    played = await fetch(line, call["recordings"][0]["audio"])
    assert played.status == 200
    assert played.content_type == "audio/mpeg"
    assert played.body == message_mp3
    assert played.headers["Cache-Control"] == "private, max-age=3600"
    # Fetched once, as Twilio's media URL of the MP3, with the account's credentials.
    [upstream] = server_stub.recording_fetches()
    assert upstream.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording}.mp3"
    assert upstream.auth == (ACCOUNT_SID, AUTH_TOKEN)


async def test_a_player_seeking_gets_the_part_it_asks_for(
    line: ApiClient, server_stub: TwilioApiStub, message_mp3: bytes
) -> None:
    sid, recording = await leave_message(line)
    server_stub.add_recording(recording, message_mp3)
    path, total = recording_path(sid), len(message_mp3)

    middle = await fetch(line, path, Range="bytes=100-1099")
    assert middle.status == 206
    assert middle.body == message_mp3[100:1100]
    assert middle.headers["Content-Range"] == f"bytes 100-1099/{total}"
    assert middle.headers["Accept-Ranges"] == "bytes"
    assert middle.content_type == "audio/mpeg"
    # Twilio was asked for that part, with the account's credentials.
    assert server_stub.recording_fetches()[-1].headers["Range"] == "bytes=100-1099"

    tail = await fetch(line, path, Range="bytes=-500")
    assert (tail.status, tail.body) == (206, message_mp3[-500:])
    assert tail.headers["Content-Range"] == f"bytes {total - 500}-{total - 1}/{total}"

    past_the_end = await fetch(line, path, Range=f"bytes={total}-")
    assert past_the_end.status == 416
    assert past_the_end.headers["Content-Range"] == f"bytes */{total}"


async def test_a_part_twilio_does_not_label_is_refused_not_passed_on(
    line: ApiClient, server_stub: TwilioApiStub, message_mp3: bytes
) -> None:
    sid, recording = await leave_message(line)
    server_stub.add_recording(recording, message_mp3, labels_parts=False)
    unlabelled = await fetch(line, recording_path(sid), Range="bytes=100-1099")
    # A player given bytes it cannot place would play noise: a clear 502 instead.
    assert unlabelled.status == 502
    assert b"without saying which" in unlabelled.body
    # The whole recording still plays.
    whole = await fetch(line, recording_path(sid))
    assert (whole.status, whole.body) == (200, message_mp3)


@pytest.mark.parametrize("asked", ["bytes=0-10,20-30", "items=0-10", "bytes=x-", "bytes=-"])
async def test_a_range_that_is_not_one_byte_range_gets_the_whole_audio(
    line: ApiClient, server_stub: TwilioApiStub, message_mp3: bytes, asked: str
) -> None:
    sid, recording = await leave_message(line)
    server_stub.add_recording(recording, message_mp3)
    whole = await fetch(line, recording_path(sid), Range=asked)
    assert (whole.status, whole.body) == (200, message_mp3)
    # Only one well-formed range is ever passed on.
    assert "Range" not in server_stub.recording_fetches()[-1].headers


async def test_a_call_without_recordings_lists_none(line: ApiClient) -> None:
    phone = Softphone(line.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    silent = await phone.call(ScriptedCaller([None]), from_=CALLER, to=LINE_NUMBER)
    assert (await line.call("GET", f"/calls/{silent.call_sid}")).json["recordings"] == []
    missing = await line.call("GET", f"/calls/{silent.call_sid}/recordings/1")
    assert missing.status == 404
    assert "has no recording '1' (it has 0)" in missing.json["detail"]


@pytest.mark.parametrize("number", ["2", "0", "one", "99999999"])
async def test_a_recording_the_call_does_not_have_is_a_404(
    line: ApiClient, server_stub: TwilioApiStub, number: str
) -> None:
    sid, _ = await leave_message(line)
    answer = await line.call("GET", f"/calls/{sid}/recordings/{number}")
    assert answer.status == 404
    assert answer.content_type == "application/problem+json"
    assert f"call {sid} has no recording" in answer.json["detail"]
    assert server_stub.recording_fetches() == []


async def test_an_unknown_call_is_a_404_naming_it(line: ApiClient) -> None:
    answer = await line.call("GET", "/calls/CA" + "9" * 32 + "/recordings/1")
    assert answer.status == 404
    assert answer.json["detail"] == f"call {'CA' + '9' * 32!r} does not exist"


async def test_without_a_twilio_account_the_answer_names_the_settings(
    servers: ServerFactory, message_mp3: bytes
) -> None:
    server = await servers.start([VOICEMAIL], admin_token=ADMIN_TOKEN)
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server, session)
        sid, _ = await leave_message(api)
        # Still listed with its path: the account may be configured later.
        assert (await api.call("GET", f"/calls/{sid}")).json["recordings"][0]["audio"]
        answer = await api.call("GET", f"/calls/{sid}/recordings/1")
    assert answer.status == 503
    assert "TWILIO_ACCOUNT_SID" in answer.json["detail"]
    assert "TWILIO_AUTH_TOKEN" in answer.json["detail"]


async def test_a_recording_twilio_no_longer_has_is_a_404_saying_so(
    line: ApiClient, server_stub: TwilioApiStub, message_mp3: bytes
) -> None:
    sid, recording = await leave_message(line)
    server_stub.add_recording(recording, message_mp3)
    server_stub.delete_recording(recording)
    answer = await line.call("GET", f"/calls/{sid}/recordings/1")
    assert answer.status == 404
    assert answer.json["detail"] == (
        f"recording 1 of call {sid} is gone: Twilio no longer has the recording (404)"
    )
    assert len(server_stub.recording_fetches()) == 1


async def test_twilio_refusing_the_credentials_is_a_502_without_the_token(
    servers: ServerFactory, message_mp3: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    # Twilio's account has another token now than the server was given.
    async with TwilioApiStub(ACCOUNT_SID, "another-auth-token-0123456789abcdef") as twilio:
        server = await start_line(servers, twilio)
        async with aiohttp.ClientSession() as session:
            api = ApiClient(server, session)
            sid, recording = await leave_message(api)
            twilio.add_recording(recording, message_mp3)
            with caplog.at_level(logging.WARNING, logger="ivr.recordings"):
                answer = await api.call("GET", f"/calls/{sid}/recordings/1")
    assert answer.status == 502
    assert answer.json["detail"] == (
        f"recording 1 of call {sid} cannot be played now:"
        " Twilio refused to hand over the recording (HTTP 401)"
    )
    assert AUTH_TOKEN not in answer.text
    assert "Twilio answered 401" in caplog.text
    assert AUTH_TOKEN not in caplog.text


async def test_twilio_unreachable_is_a_502_saying_so(
    servers: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    twilio = await TwilioApiStub().start()
    gone_base = twilio.base_url
    await twilio.close()  # nothing listens there any more
    server = await servers.start(
        [VOICEMAIL],
        admin_token=ADMIN_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=gone_base,
    )
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server, session)
        sid, _ = await leave_message(api)
        with caplog.at_level(logging.WARNING, logger="ivr.recordings"):
            answer = await api.call("GET", f"/calls/{sid}/recordings/1")
    assert answer.status == 502
    assert "Twilio could not be reached" in answer.json["detail"]
    assert "Twilio unreachable" in caplog.text
    assert AUTH_TOKEN not in caplog.text + answer.text


async def test_twilio_failing_in_the_middle_cuts_the_audio_short(
    line: ApiClient, server_stub: TwilioApiStub, message_mp3: bytes
) -> None:
    sid, recording = await leave_message(line)
    server_stub.add_recording(recording, message_mp3, cut_after=len(message_mp3) // 2)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    url = line.server.base_url + recording_path(sid)
    async with line.session.get(url, headers=headers) as answer:
        assert answer.status == 200  # sent before the audio, which then breaks off
        with pytest.raises(aiohttp.ClientPayloadError):
            await answer.read()
    # The server goes on serving: the whole recording plays once Twilio sends it whole.
    server_stub.add_recording(recording, message_mp3)
    assert (await fetch(line, recording_path(sid))).body == message_mp3


async def _forged_voicemail(api: ApiClient, recording_url: str) -> str:
    """A call whose voicemail webhook carries ``recording_url`` (a forged request, signed
    like Twilio's as if the token had leaked, or a Twilio-compatible API misbehaving)."""
    sid = "CA" + "f" * 32
    call = {"CallSid": sid, "From": CALLER, "To": LINE_NUMBER, "AccountSid": ACCOUNT_SID}
    first = await signed_post(api.server, "/twilio/voice", call)
    action = re.search(r'<Record [^>]*action="([^"]+)"', first.text)
    assert action is not None, first.text
    path = action.group(1).replace("&amp;", "&").removeprefix(PUBLIC_URL)
    form = call | {"RecordingUrl": recording_url, "RecordingDuration": "5", "Digits": "#"}
    assert (await signed_post(api.server, path, form)).status == 200
    return sid


NOT_ON_TWILIO = "the recording's URL is not on api.twilio.com"


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("{stub}/2010-04-01/Accounts/{account}/Recordings/{recording}", NOT_ON_TWILIO),
        (
            "https://api.twilio.com.evil.example/2010-04-01/Accounts/{account}"
            "/Recordings/{recording}",
            NOT_ON_TWILIO,
        ),
        (
            "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{recording}/../x",
            "the recording's URL is not a Twilio recording",
        ),
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC{other}/Recordings/{recording}",
            "the recording belongs to another Twilio account",
        ),
    ],
)
async def test_a_forged_recording_url_is_never_fetched(
    line: ApiClient,
    server_stub: TwilioApiStub,
    message_mp3: bytes,
    where: str,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    recording = "RE" + "a" * 32
    server_stub.add_recording(recording, message_mp3)  # there to be taken, if it were asked
    forged = where.format(
        stub=server_stub.base_url, account=ACCOUNT_SID, recording=recording, other="b" * 32
    )
    sid = await _forged_voicemail(line, forged)
    call = (await line.call("GET", f"/calls/{sid}")).json
    assert call["recordings"] == [{"duration": 5, "audio": recording_path(sid)}]

    with caplog.at_level(logging.WARNING, logger="ringflow.admin.calls"):
        answer = await line.call("GET", f"/calls/{sid}/recordings/1")
    assert answer.status == 404
    assert answer.json["detail"] == (
        f"recording 1 of call {sid} cannot be played: {reason} (not fetched)"
    )
    assert server_stub.recording_fetches() == []
    assert "was not fetched" in caplog.text


async def record_in_a_test_call(api: ApiClient, seconds: int) -> str:
    """A test call of the voicemail line (from the console's API) that leaves a message of
    ``seconds``; its id, once its recording is in the call log."""
    placed = await api.call(
        "POST", "/test-calls", json_body={"workflow_id": "voicemail-line", "to": LINE_NUMBER}
    )
    assert placed.status == 201, placed.text
    call_id: str = placed.json["id"]

    async def asks_to_record() -> bool:
        question = (await api.call("GET", f"/test-calls/{call_id}")).json["question"]
        return bool(question) and question["kind"] == "record"

    await eventually(asks_to_record, within=20, what="the test call to ask for a recording")
    answered = await api.call(
        "POST", f"/test-calls/{call_id}/answer", json_body={"kind": "record", "seconds": seconds}
    )
    assert answered.status == 200, answered.text

    async def listed() -> bool:
        found = await api.call("GET", f"/calls/{call_id}")
        return found.status == 200 and bool(found.json["recordings"])

    await eventually(listed, within=20, what="the test call's recording in the call log")
    return call_id


async def test_a_test_calls_recording_is_listed_without_audio(
    line: ApiClient, server_stub: TwilioApiStub
) -> None:
    call_id = await record_in_a_test_call(line, seconds=4)
    call = (await line.call("GET", f"/calls/{call_id}")).json
    assert call["test"] is True
    assert call["recordings"] == [{"duration": 4, "audio": None}]
    answer = await line.call("GET", f"/calls/{call_id}/recordings/1")
    assert answer.status == 404
    assert answer.json["detail"] == (
        f"recording 1 of call {call_id} has no audio: a test call records nothing"
    )
    assert server_stub.recording_fetches() == []


@pytest.mark.parametrize("token", [False, "rf_" + "x" * 43])
async def test_the_audio_needs_a_valid_token(
    line: ApiClient, server_stub: TwilioApiStub, token: str | bool
) -> None:
    sid, _ = await leave_message(line)
    answer = await line.call("GET", f"/calls/{sid}/recordings/1", token=token)
    assert answer.status == 401
    assert server_stub.recording_fetches() == []
