"""Prompt audio lives in the database: an instance with its own, empty data dir plays what
another one uploaded, its data dir is only a cache (deleting it loses nothing), and long audio
is stored and served in chunks, byte for byte."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from ivr.softphone import CallerHungUp, ScriptedCaller, Softphone
from prompts.blobs import CHUNK_BYTES, drop_audio
from prompts.db import prompt_audio, prompt_audio_chunks
from prompts.service import PromptService
from ringflow.changes import POLL_EVERY_S
from ringflow.database import Database
from server import CATALOG
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import FrozenClock
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, ServerFactory, eventually
from tests.prompts.fakes import ToneSynthesizer
from tests.prompts.media import stream_info, tone
from tests.ringflow.admin.test_prompts import YAML, audio_form, line_playing, upload


def another_instance(db: Database, data_dir: Path) -> PromptService:
    """A second server process's prompt service: the same database, its own data dir."""
    return PromptService(
        db,
        data_dir,
        ToneSynthesizer(),
        max_bytes=10 * 1024 * 1024,
        min_seconds=0.3,
        max_seconds=60,
        clock=FrozenClock(),
    )


async def chunks_of(db: Database, digest: str) -> int:
    table = prompt_audio_chunks
    query = select(func.count()).select_from(table).where(table.c.digest == digest)
    return int(await db.read(lambda conn: conn.execute(query).scalar_one()))


async def test_long_audio_is_stored_in_chunks_and_served_whole_by_another_instance(
    service: PromptService, tmp_path: Path
) -> None:
    seconds = 2 * CHUNK_BYTES / 16000 + 1  # 8 kHz 16-bit PCM: more than two chunks
    prompt = await service.add_audio(tone(tmp_path, "long.wav", seconds), "long.wav")
    assert prompt.size_bytes > 2 * CHUNK_BYTES
    assert await chunks_of(service.db, prompt.digest) >= 3 + 2  # PCM 3, mu-law at least 2

    other = another_instance(service.db, tmp_path / "other-data")
    for fmt in ("wav", "ulaw"):
        served = await other.media(prompt.media_key, fmt)
        assert served is not None
        assert served.parent == tmp_path / "other-data" / "prompts"
        assert served.read_bytes() == service.store.path(prompt.digest, fmt).read_bytes()
    assert list(other.store.work.iterdir()) == []


async def test_the_data_dir_is_only_a_cache(service: PromptService, tmp_path: Path) -> None:
    prompt = await service.add_audio(tone(tmp_path, "menu.mp3", 1.0), "menu.mp3")
    original = service.store.path(prompt.digest, "wav").read_bytes()
    shutil.rmtree(service.store.root)
    again = PromptService(
        service.db,
        tmp_path / "data",
        service.synthesizer,
        max_bytes=service.max_bytes,
        min_seconds=service.min_seconds,
        max_seconds=service.max_seconds,
        clock=FrozenClock(),
    )
    served = await again.media(prompt.media_key, "wav")
    assert served is not None
    assert served.read_bytes() == original


async def test_one_fetch_serves_concurrent_requests(service: PromptService, tmp_path: Path) -> None:
    prompt = await service.add_audio(tone(tmp_path, "hold.wav", 1.0), "hold.wav")
    other = another_instance(service.db, tmp_path / "other-data")
    paths = await asyncio.gather(*(other.media(prompt.media_key, "ulaw") for _ in range(8)))
    assert len(set(paths)) == 1
    assert paths[0] is not None
    assert stream_info(paths[0])["codec"] == "pcm_mulaw"


async def test_a_deleted_prompt_is_gone_from_every_instance(
    service: PromptService, tmp_path: Path
) -> None:
    prompt = await service.add_audio(tone(tmp_path, "bye.wav", 1.0), "bye.wav")
    other = another_instance(service.db, tmp_path / "other-data")
    assert await other.media(prompt.media_key, "wav") is not None

    async def nobody(_prompt_id: str) -> list[str]:
        return []

    await service.delete(prompt.id, nobody)
    assert await other.media(prompt.media_key, "wav") is None  # its cached file is not served
    assert await chunks_of(service.db, prompt.digest) == 0
    count = select(func.count()).select_from(prompt_audio)
    assert await service.db.read(lambda conn: conn.execute(count).scalar_one()) == 0


async def test_audio_only_on_disk_from_before_is_adopted(
    service: PromptService, tmp_path: Path
) -> None:
    prompt = await service.add_audio(tone(tmp_path, "old.wav", 1.0), "old.wav")
    await service.db.write(lambda conn: drop_audio(conn, prompt.digest))  # as before 0013
    other = another_instance(service.db, tmp_path / "other-data")
    assert await other.media(prompt.media_key, "wav") is None
    assert await service.adopt_cached_files() == 1
    assert await service.adopt_cached_files() == 0
    served = await other.media(prompt.media_key, "wav")
    assert served is not None
    assert served.read_bytes() == service.store.path(prompt.digest, "wav").read_bytes()


async def test_audio_uploaded_through_one_instance_plays_through_another(
    servers: ServerFactory, tmp_path: Path
) -> None:
    one = await servers.start(admin_token=ADMIN_TOKEN, data_dir=tmp_path / "data-a")
    two = await servers.start(admin_token=ADMIN_TOKEN, data_dir=tmp_path / "data-b")
    async with aiohttp.ClientSession() as session:
        api = ApiClient(one, session)
        status, prompt = await upload(api, tone(tmp_path, "welcome.mp3", 2.0), name="welcome")
        assert status == 201
        published = await api.call(
            "POST",
            "/workflows",
            data=line_playing(str(prompt["id"])),
            content_type=YAML,
            params={"publish": "true"},
        )
        assert published.status == 201
        from_a = await session.get(one.base_url + str(prompt["media"]["wav"]))  # type: ignore[index]
        original = await from_a.read()

        await eventually(  # at once on PostgreSQL (NOTIFY); SQLite polls every few seconds
            lambda: any(a.workflow.id == "jingle-line" for a in two.app[CATALOG].active),
            within=POLL_EVERY_S + 2,
            what="the workflow on the other instance",
        )
        phone = Softphone(two.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
        result = await phone.call(ScriptedCaller([CallerHungUp]), to="+15005550004")
        played = [line.removeprefix("Play: ") for line in result.transcript if "Play: " in line]
        assert len(played) == 1
        assert re.fullmatch(PUBLIC_URL + r"/media/prompts/[0-9a-f]{32}\.wav", played[0])
        path = played[0].removeprefix(PUBLIC_URL)

        assert not (tmp_path / "data-b" / "prompts" / f"{prompt['digest']}.wav").exists()
        from_b = await session.get(two.base_url + path)
        assert from_b.status == 200
        assert await from_b.read() == original
        assert from_b.headers["ETag"] == f'"{prompt["digest"]}"'
        assert "immutable" in from_b.headers["Cache-Control"]
        cached = await session.get(
            two.base_url + path, headers={"If-None-Match": f'"{prompt["digest"]}"'}
        )
        assert cached.status == 304

        shutil.rmtree(tmp_path / "data-b" / "prompts")  # the cache, deleted under the server
        refetched = await session.get(two.base_url + path)
        assert refetched.status == 200
        assert await refetched.read() == original


async def test_a_prompt_replaced_through_one_instance_plays_anew_on_another(
    servers: ServerFactory, tmp_path: Path, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("at once needs LISTEN/NOTIFY; on SQLite within playback.REMEMBER_FOR")
    one = await servers.start(admin_token=ADMIN_TOKEN, data_dir=tmp_path / "data-a")
    two = await servers.start(admin_token=ADMIN_TOKEN, data_dir=tmp_path / "data-b")
    phone = Softphone(two.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)

    async def played() -> str:
        result = await phone.call(ScriptedCaller([CallerHungUp]), to="+15005550004")
        return next(line for line in result.transcript if line.startswith("Play: "))

    async with aiohttp.ClientSession() as session:
        api = ApiClient(one, session)
        _, prompt = await upload(api, tone(tmp_path, "first.wav", 1.0), name="jingle")
        await api.call(
            "POST",
            "/workflows",
            data=line_playing(str(prompt["id"])),
            content_type=YAML,
            params={"publish": "true"},
        )
        await eventually(
            lambda: any(a.workflow.id == "jingle-line" for a in two.app[CATALOG].active)
        )
        before = await played()  # B now remembers the prompt's address
        replaced = await api.call(
            "PUT",
            f"/prompts/{prompt['id']}/audio",
            form=audio_form(tone(tmp_path, "second.wav", 1.0, frequency=880)),
        )
        assert replaced.status == 200
        new_path = str(replaced.json["media"]["wav"])
        started = time.monotonic()
        await eventually(
            lambda: _plays(played, new_path), within=1.0, what="B to play the new audio"
        )
        assert time.monotonic() - started < 1.0
        assert before != f"Play: {PUBLIC_URL}{new_path}"


async def _plays(played: Callable[[], Awaitable[str]], path: str) -> bool:
    return await played() == f"Play: {PUBLIC_URL}{path}"
