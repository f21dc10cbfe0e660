"""PromptService on SQLite and PostgreSQL: add, replace, delete, the speech cache, media."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from prompts import errors as prompt_errors
from prompts import tts
from prompts.blobs import drop_audio
from prompts.db import prompts, speech_cache
from prompts.errors import (
    InvalidAudio,
    InvalidSpeech,
    PromptInUse,
    PromptNotFound,
    SpeechFailed,
    UnknownVoice,
)
from prompts.service import PromptService, text_digest
from tests.prompts.fakes import ToneSynthesizer
from tests.prompts.media import stream_info, tone


def files(service: PromptService) -> set[str]:
    return {path.name for path in service.store.root.iterdir() if path.is_file()}


async def nobody_uses(_prompt_id: str) -> list[str]:
    return []


async def count(service: PromptService, table: str) -> int:
    chosen = prompts if table == "prompts" else speech_cache
    query = select(func.count()).select_from(chosen)
    return int(await service.db.read(lambda conn: conn.execute(query).scalar_one()))


async def test_an_upload_becomes_a_stored_prompt(service: PromptService, tmp_path: Path) -> None:
    upload = tone(tmp_path, "upload.tmp", 1.5, fmt="mp3")
    prompt = await service.add_audio(upload, "Welcome message.mp3")
    assert prompt.id.startswith("pr_")
    assert len(prompt.id) == 19
    assert len(prompt.media_key) == 32
    assert (prompt.name, prompt.kind, prompt.original_format) == ("Welcome message", "audio", "mp3")
    assert files(service) == {f"{prompt.digest}.wav", f"{prompt.digest}.ulaw.wav"}
    assert list(service.store.work.iterdir()) == []
    assert await service.get(prompt.id) == prompt
    assert await service.list() == [prompt]
    assert prompt.created_at.tzinfo is not None
    data = prompt.to_json()
    assert data["media"] == {
        "wav": f"/media/prompts/{prompt.media_key}.wav",
        "ulaw": f"/media/prompts/{prompt.media_key}.ulaw.wav",
    }
    assert data["duration_ms"] == prompt.duration_ms
    assert data["kind"] == "audio"
    wav = await service.media(prompt.media_key, "wav")
    ulaw = await service.media(prompt.media_key, "ulaw")
    assert wav is not None
    assert ulaw is not None
    assert stream_info(wav)["codec"] == "pcm_s16le"
    assert stream_info(ulaw)["codec"] == "pcm_mulaw"
    assert await service.media("0" * 32, "wav") is None
    assert await service.media("../../etc/passwd", "wav") is None


async def test_a_refused_upload_stores_nothing(service: PromptService, tmp_path: Path) -> None:
    fake = tmp_path / "fake.wav"
    fake.write_text("not audio at all")
    with pytest.raises(InvalidAudio, match="looks like text"):
        await service.add_audio(fake, "fake.wav", "Fake")
    assert await service.list() == []
    assert files(service) == set()


async def test_the_same_audio_twice_shares_its_files(
    service: PromptService, tmp_path: Path
) -> None:
    upload = tone(tmp_path, "a.wav", 1.0)
    first = await service.add_audio(upload, "a.wav", "First")
    second = await service.add_audio(upload, "a.wav", "Second")
    assert first.digest == second.digest
    assert first.media_key != second.media_key
    await service.delete(first.id, nobody_uses)
    assert files(service) == {f"{second.digest}.wav", f"{second.digest}.ulaw.wav"}
    assert await service.media(first.media_key, "wav") is None
    assert await service.media(second.media_key, "wav") is not None
    await service.delete(second.id, nobody_uses)
    assert files(service) == set()


async def test_replacing_changes_the_audio_and_the_media_key(
    service: PromptService, tmp_path: Path
) -> None:
    prompt = await service.add_audio(tone(tmp_path, "a.ogg", 1.0), "a.ogg", "Menu")
    replaced = await service.replace_audio(
        prompt.id, tone(tmp_path, "b.m4a", 2.0, frequency=700), "b.m4a"
    )
    assert (replaced.id, replaced.name, replaced.created_at) == (
        prompt.id,
        "Menu",
        prompt.created_at,
    )
    assert replaced.digest != prompt.digest
    assert replaced.media_key != prompt.media_key
    assert replaced.original_format == "m4a"
    assert replaced.updated_at >= prompt.updated_at
    assert files(service) == {f"{replaced.digest}.wav", f"{replaced.digest}.ulaw.wav"}
    assert await service.media(prompt.media_key, "wav") is None
    assert await service.get(prompt.id) == replaced

    spoken = await service.replace_speech(replaced.id, "Press one.", "en", name="Menu 2")
    assert (spoken.kind, spoken.text, spoken.language, spoken.name) == (
        "speech",
        "Press one.",
        "en",
        "Menu 2",
    )
    assert files(service) == {f"{spoken.digest}.wav", f"{spoken.digest}.ulaw.wav"}
    back = await service.replace_audio(spoken.id, tone(tmp_path, "c.wav", 1.0), "c.wav")
    assert (back.kind, back.text, back.language) == ("audio", None, None)
    assert await count(service, "speech_cache") == 0  # its audio is used by no prompt now


async def test_unknown_prompts_are_not_found(service: PromptService, tmp_path: Path) -> None:
    with pytest.raises(PromptNotFound, match="pr_0000000000000000"):
        await service.get("pr_0000000000000000")
    with pytest.raises(PromptNotFound):
        await service.replace_audio("pr_missing", tone(tmp_path, "a.wav", 1.0), "a.wav")
    with pytest.raises(PromptNotFound):
        await service.delete("pr_missing", nobody_uses)


async def test_a_prompt_in_use_is_not_deleted(service: PromptService, tmp_path: Path) -> None:
    prompt = await service.add_audio(tone(tmp_path, "a.wav", 1.0), "a.wav")
    asked: list[str] = []

    async def used_by_two(prompt_id: str) -> list[str]:
        asked.append(prompt_id)
        return ["support-line", "after-hours"]

    with pytest.raises(PromptInUse) as caught:
        await service.delete(prompt.id, used_by_two)
    assert asked == [prompt.id]
    assert caught.value.workflows == ("support-line", "after-hours")
    assert "support-line, after-hours" in caught.value.reason
    assert await service.get(prompt.id) == prompt
    assert len(files(service)) == 2


async def test_the_same_text_is_synthesised_once(
    service: PromptService, synthesizer: ToneSynthesizer
) -> None:
    first = await service.add_speech("Thanks for calling.", "en", "en", 150, "Greeting")
    second = await service.add_speech("Thanks for calling.", "en", "en", 150)
    assert synthesizer.calls == ["Thanks for calling."]
    assert first.digest == second.digest
    assert first.id != second.id
    assert (second.name, second.kind, second.voice, second.rate) == (
        "Thanks for calling.",
        "speech",
        "en",
        150,
    )
    assert stream_info(service.store.path(first.digest, "wav"))["sample_rate"] == "8000"
    other = await service.add_speech("Thanks for calling.", "en", "en", 180)
    assert len(synthesizer.calls) == 2
    assert other.digest != first.digest
    assert await count(service, "speech_cache") == 2
    assert text_digest("a", "en", None, None) != text_digest("a", "en", "", None)


async def test_concurrent_requests_for_one_text_synthesise_once(
    service: PromptService, synthesizer: ToneSynthesizer
) -> None:
    synthesizer.delay = 0.2
    made = await asyncio.gather(*(service.add_speech("Please hold.", "en") for _ in range(5)))
    assert synthesizer.calls == ["Please hold."]
    assert len({prompt.id for prompt in made}) == 5
    assert len({prompt.digest for prompt in made}) == 1


async def test_speech_whose_audio_went_missing_is_synthesised_again(
    service: PromptService, synthesizer: ToneSynthesizer
) -> None:
    first = await service.add_speech("Goodbye.", "en")
    service.store.discard(first.digest)  # only the local cache: the database still has it
    await service.add_speech("Goodbye.", "en")
    assert synthesizer.calls == ["Goodbye."]
    await service.db.write(lambda conn: drop_audio(conn, first.digest))
    again = await service.add_speech("Goodbye.", "en")
    assert synthesizer.calls == ["Goodbye.", "Goodbye."]
    assert service.store.has(again.digest)


async def test_speech_errors_reach_the_caller(service: PromptService) -> None:
    with pytest.raises(UnknownVoice, match="klingon"):
        await service.add_speech("Hello.", "en", "klingon")
    with pytest.raises(InvalidSpeech, match="no text"):
        await service.add_speech("   ", "en")
    assert await service.list() == []
    assert list(service.store.work.iterdir()) == []


async def test_deleting_speech_forgets_its_cache_entry(
    service: PromptService, synthesizer: ToneSynthesizer
) -> None:
    prompt = await service.add_speech("One moment.", "en")
    await service.delete(prompt.id, nobody_uses)
    assert files(service) == set()
    assert await count(service, "speech_cache") == 0
    await service.add_speech("One moment.", "en")
    assert len(synthesizer.calls) == 2


async def test_engine_errors_reach_the_caller_and_others_become_speech_failed(
    service: PromptService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prompts.tts raises the prompt errors themselves (TtsError is PromptError).
    assert issubclass(tts.TtsOverloaded, SpeechFailed)
    assert tts.UnknownVoice is prompt_errors.UnknownVoice
    raised: list[Exception] = [
        prompt_errors.UnknownVoice("no voice 'x' for 'en'", ("en", "en-us")),
        prompt_errors.SpeechTimedOut("did not finish within 10 s"),
        RuntimeError("boom"),
    ]

    async def failing(*_args: object) -> None:
        raise raised.pop(0)

    monkeypatch.setattr(service.synthesizer, "synthesize", failing)
    with pytest.raises(prompt_errors.UnknownVoice) as unknown:
        await service.add_speech("Hi there.", "en", "x")
    assert unknown.value.available == ("en", "en-us")
    with pytest.raises(prompt_errors.SpeechTimedOut, match="10 s"):
        await service.add_speech("Hi there.", "en")
    with pytest.raises(SpeechFailed, match="boom"):
        await service.add_speech("Hi there.", "en")


async def test_a_failed_insert_leaves_no_files(
    service: PromptService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = service.db.write
    calls = 0

    async def first_write_fails(work: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database gone")
        return await write(work)

    monkeypatch.setattr(service.db, "write", first_write_fails)
    with pytest.raises(RuntimeError, match="database gone"):
        await service.add_audio(tone(tmp_path, "a.wav", 1.0), "a.wav")
    assert files(service) == set()
