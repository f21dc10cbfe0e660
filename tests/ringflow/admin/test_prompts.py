"""The prompt endpoints and prompts in calls, on a real server with real audio (ffmpeg) and the
server's real voice (espeak-ng): uploads are converted to 8 kHz mono and served where the
TwiML's <Play> points; a prompt a published workflow plays cannot be deleted."""

from __future__ import annotations

import io
import re
from pathlib import Path

import aiohttp
import pytest

from ivr.softphone import CallerHungUp, ScriptedCaller, Softphone
from tests.api_client import ApiClient
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, eventually
from tests.prompts.media import stream_info, tone

YAML = "application/yaml"


def audio_form(
    path: Path, name: str | None = None, *, filename: str | None = None
) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(path.read_bytes()), filename=filename or path.name)
    if name:
        form.add_field("name", name)
    return form


async def upload(api: ApiClient, path: Path, **kwargs: str) -> tuple[int, dict[str, object]]:
    answer = await api.call("POST", "/prompts", form=audio_form(path, **kwargs))
    return answer.status, answer.json


def line_playing(prompt_id: str) -> str:
    return f"""\
id: jingle-line
trigger: {{event: call.incoming, to: "+15005550004"}}
start: jingle
steps:
  jingle: {{play: {prompt_id}, next: bye}}
  bye: {{say: "Goodbye."}}
"""


async def test_an_upload_is_converted_and_played_where_twiml_points(
    api: ApiClient, tmp_path: Path
) -> None:
    status, prompt = await upload(api, tone(tmp_path, "welcome.mp3", 2.0), name="welcome")
    assert status == 201
    assert prompt["kind"] == "audio"
    assert prompt["original_format"] == "mp3"
    assert 1900 <= int(str(prompt["duration_ms"])) <= 2100
    prompt_id = str(prompt["id"])

    published = await api.call(
        "POST",
        "/workflows",
        data=line_playing(prompt_id),
        content_type=YAML,
        params={"publish": "true"},
    )
    assert published.status == 201
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    result = await phone.call(ScriptedCaller([CallerHungUp]), to="+15005550004")
    played = [line for line in result.transcript if line.startswith("Play: ")]
    assert len(played) == 1
    url = played[0].removeprefix("Play: ")
    assert re.fullmatch(PUBLIC_URL + r"/media/prompts/[0-9a-f]{32}\.wav", url)

    async with aiohttp.ClientSession() as session:
        served = await session.get(api.server.base_url + url.removeprefix(PUBLIC_URL))
        assert served.status == 200
        assert served.content_type == "audio/wav"
        assert "immutable" in served.headers["Cache-Control"]
        audio = tmp_path / "served.wav"
        audio.write_bytes(await served.read())
        served.close()
    info = stream_info(audio)
    assert (info["codec"], info["sample_rate"], info["channels"]) == ("pcm_s16le", "8000", "1")

    detail = await api.call("GET", f"/prompts/{prompt_id}")
    assert detail.json["used_by"] == ["jingle-line"]
    in_use = await api.call("DELETE", f"/prompts/{prompt_id}")
    assert in_use.status == 409
    assert "jingle-line" in in_use.json["detail"]
    assert (await api.call("DELETE", "/workflows/jingle-line")).status == 204
    assert (await api.call("DELETE", f"/prompts/{prompt_id}")).status == 204
    assert (await api.call("GET", f"/prompts/{prompt_id}")).status == 404


@pytest.mark.parametrize("fmt", ["wav", "ogg", "m4a"])
async def test_other_formats_come_out_8k_mono(api: ApiClient, tmp_path: Path, fmt: str) -> None:
    status, prompt = await upload(api, tone(tmp_path, f"tone.{fmt}", 1.0))
    assert status == 201
    assert prompt["original_format"] == fmt


async def test_bad_uploads_are_refused_with_a_clear_message(api: ApiClient, tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 20)
    status, problem = await upload(api, text)
    assert status == 422
    assert problem["errors"][0]["field"] == "file"  # type: ignore[index]
    assert "text" in str(problem["detail"])

    wav = tone(tmp_path, "cut.wav", 2.0)
    cut = tmp_path / "truncated.wav"
    cut.write_bytes(wav.read_bytes()[: len(wav.read_bytes()) // 3])
    status, problem = await upload(api, cut)
    assert status == 422
    assert "truncated" in str(problem["detail"])

    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    status, problem = await upload(api, empty)
    assert status == 422
    assert "empty" in str(problem["detail"])

    big = tmp_path / "big.wav"
    big.write_bytes(b"RIFF" + b"\0" * (10 * 1024 * 1024 + 10))
    status, problem = await upload(api, big)
    assert status == 413

    only_a_name = aiohttp.FormData(default_to_multipart=True)
    only_a_name.add_field("name", "x")
    no_file = await api.call("POST", "/prompts", form=only_a_name)
    assert no_file.status == 422
    assert no_file.json["errors"] == [{"field": "file", "message": "required"}]
    wrong_type = await api.call("POST", "/prompts", data="hello", content_type="text/plain")
    assert wrong_type.status == 415
    no_token = await api.call("GET", "/prompts", token=False)
    assert no_token.status == 401


async def test_a_part_with_a_control_character_in_its_headers_is_a_400(api: ApiClient) -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n'
        b'--b\r\nContent-Disposition: form-data; name="\x0b\x01"\r\n\r\n2\r\n--b--\r\n'
    )
    answer = await api.call(
        "POST", "/prompts", data=body, content_type="multipart/form-data; boundary=b"
    )
    assert answer.status == 400
    assert answer.json["detail"] == "the body is not valid multipart/form-data"
    assert list((api.server.settings.data_dir / "uploads").glob("*")) == []


async def test_text_is_spoken_once_in_english_and_korean(api: ApiClient) -> None:
    english = await api.call(
        "POST", "/prompts/speech", json_body={"text": "Thank you for calling.", "language": "en"}
    )
    assert english.status == 201
    assert 500 <= english.json["duration_ms"] <= 5000
    korean = await api.call(
        "POST", "/prompts/speech", json_body={"text": "전화해 주셔서 감사합니다", "language": "ko"}
    )
    assert korean.status == 201
    assert 500 <= korean.json["duration_ms"] <= 6000
    again = await api.call(
        "POST", "/prompts/speech", json_body={"text": "Thank you for calling.", "language": "en"}
    )
    assert again.json["digest"] == english.json["digest"]  # the cached audio, not a new one
    bad = await api.call(
        "POST", "/prompts/speech", json_body={"text": "Hi", "language": "xx-klingon"}
    )
    assert bad.status == 422
    assert bad.json["errors"][0]["field"] == "body.language"
    missing = await api.call("POST", "/prompts/speech", json_body={"language": "en"})
    assert missing.status == 422
    assert missing.json["errors"][0]["field"] == "body.text"


async def test_workflows_may_only_play_prompts_that_exist(api: ApiClient) -> None:
    answer = await api.call(
        "POST", "/workflows", data=line_playing("pr_0000000000000000"), content_type=YAML
    )
    assert answer.status == 422
    assert answer.json["errors"][0]["message"] == "unknown prompt 'pr_0000000000000000'"
    assert answer.json["errors"][0]["field"].startswith("steps.jingle.play")


async def test_a_say_step_rendered_by_the_server_is_played_as_audio(api: ApiClient) -> None:
    flow = """\
id: spoken-line
trigger: {event: call.incoming, to: "+15005550005"}
start: hello
steps:
  hello: {say: {text: "Welcome to Acme.", language: en-US, render: server}}
"""
    published = await api.call(
        "POST", "/workflows", data=flow, content_type=YAML, params={"publish": "true"}
    )
    assert published.status == 201

    async def spoken() -> bool:  # made with the server's own voice when it was published
        return any(p["name"].startswith("say:") for p in (await api.call("GET", "/prompts")).json)

    await eventually(spoken, within=30, what="the say step's speech")
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    result = await phone.call(ScriptedCaller(), to="+15005550005")
    played = [line for line in result.transcript if line.startswith("Play: ")]
    assert len(played) == 1
    assert "/media/prompts/" in played[0]
