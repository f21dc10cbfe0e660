"""Which stored ``RecordingUrl`` the fetcher of recordings accepts, and what it would fetch for
it: only a recording of the configured account on ``api.twilio.com``, rebuilt on the
configured API base (no other host is ever asked, whatever the URL says). Fetching itself
runs through the admin API in ``tests/ringflow/admin/test_call_recordings.py``."""

from __future__ import annotations

import pytest

from ivr.recordings import NotOurRecording, RecordingFetcher, recording_fetcher
from ringflow.settings import load_settings

ACCOUNT = "AC" + "0123456789abcdef" * 2
RECORDING = "RE" + "fedcba9876543210" * 2
TWILIO_PATH = f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}"
TOKEN = "an-auth-token-0123456789abcdef"


def fetcher(base: str | None = None) -> RecordingFetcher:
    return RecordingFetcher(ACCOUNT, TOKEN, api_base_url=base)


@pytest.mark.parametrize("suffix", ["", ".mp3", ".wav"])
def test_a_recording_of_the_account_is_fetched_as_mp3_from_twilio(suffix: str) -> None:
    url = f"https://api.twilio.com{TWILIO_PATH}{suffix}"
    assert fetcher().media_url(url) == f"https://api.twilio.com{TWILIO_PATH}.mp3"
    assert fetcher().media_url(f"https://API.Twilio.com:443{TWILIO_PATH}") == (
        f"https://api.twilio.com{TWILIO_PATH}.mp3"
    )


def test_a_configured_api_base_replaces_twilios_host() -> None:
    stub = fetcher("http://127.0.0.1:8089/")
    assert stub.media_url(f"https://api.twilio.com{TWILIO_PATH}") == (
        f"http://127.0.0.1:8089{TWILIO_PATH}.mp3"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"http://api.twilio.com{TWILIO_PATH}", "not on api.twilio.com"),
        (f"https://api.twilio.com:8443{TWILIO_PATH}", "not on api.twilio.com"),
        (f"https://user:pass@api.twilio.com{TWILIO_PATH}", "not on api.twilio.com"),
        (f"https://api.twilio.com@evil.example{TWILIO_PATH}", "not on api.twilio.com"),
        (f"https://evil.example{TWILIO_PATH}", "not on api.twilio.com"),
        (f"https://api.twilio.com.evil.example{TWILIO_PATH}", "not on api.twilio.com"),
        (f"https://169.254.169.254{TWILIO_PATH}", "not on api.twilio.com"),
        (f"https://api.twilio.com{TWILIO_PATH}?to=https://evil.example", "not a Twilio recording"),
        (f"https://api.twilio.com{TWILIO_PATH}#x", "not a Twilio recording"),
        (f"//api.twilio.com{TWILIO_PATH}", "not on api.twilio.com"),
        (TWILIO_PATH, "not on api.twilio.com"),
        ("", "not on api.twilio.com"),
        ("https://[::1", "not on api.twilio.com"),
        (f"https://api.twilio.com{TWILIO_PATH}.json", "not a Twilio recording"),
        (f"https://api.twilio.com{TWILIO_PATH}/", "not a Twilio recording"),
        (f"https://api.twilio.com{TWILIO_PATH}/../../Calls", "not a Twilio recording"),
        (f"https://api.twilio.com{TWILIO_PATH.upper()}", "not a Twilio recording"),
        (f"https://api.twilio.com{TWILIO_PATH[:-1]}", "not a Twilio recording"),
        (f"https://api.twilio.com{TWILIO_PATH.replace('/R', '/%52')}", "not a Twilio recording"),
        (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls/CA{'0' * 32}", "not a"),
        (f"https://api.twilio.com{TWILIO_PATH.replace(ACCOUNT, 'AC' + '1' * 32)}", "another"),
    ],
)
def test_anything_else_is_refused_before_anything_is_fetched(url: str, reason: str) -> None:
    with pytest.raises(NotOurRecording, match=reason):
        fetcher("http://127.0.0.1:8089").media_url(url)


@pytest.mark.parametrize(
    ("sid", "token", "options", "why"),
    [
        ("", TOKEN, {}, "needs an account SID and an auth token"),
        (ACCOUNT, "", {}, "needs an account SID and an auth token"),
        (ACCOUNT, TOKEN, {"timeout": 0}, "timeout must be a positive"),
        (ACCOUNT, TOKEN, {"timeout": float("nan")}, "timeout must be a positive"),
        (ACCOUNT, TOKEN, {"api_base_url": "ftp://127.0.0.1"}, "must be an http"),
        (ACCOUNT, TOKEN, {"api_base_url": "http://"}, "must be an http"),
    ],
)
def test_a_fetcher_that_could_not_work_is_refused_when_made(
    sid: str, token: str, options: dict[str, object], why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        RecordingFetcher(sid, token, **options)  # type: ignore[arg-type]


def test_the_settings_make_a_fetcher_only_with_an_account_and_a_token() -> None:
    assert recording_fetcher(load_settings(twilio_account_sid=ACCOUNT)) is None
    assert recording_fetcher(load_settings(twilio_auth_token=TOKEN)) is None
    made = recording_fetcher(
        load_settings(
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=TOKEN,
            twilio_api_base_url="http://127.0.0.1:8089",
        )
    )
    assert made is not None
    assert made.media_url(f"https://api.twilio.com{TWILIO_PATH}").startswith(
        "http://127.0.0.1:8089/"
    )
