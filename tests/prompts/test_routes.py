"""The public media routes: the converted audio, with the right type and cache headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from prompts.routes import CACHE_CONTROL, PROMPT_SERVICE, routes
from prompts.service import Prompt, PromptService
from tests.prompts.media import stream_info, tone


@pytest.fixture
async def client(service: PromptService) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app[PROMPT_SERVICE] = service
    app.add_routes(routes())
    async with TestClient(TestServer(app)) as running:
        yield running


@pytest.fixture
async def prompt(service: PromptService, tmp_path: Path) -> Prompt:
    return await service.add_audio(tone(tmp_path, "menu.mp3", 1.0), "menu.mp3")


@pytest.mark.parametrize(("suffix", "fmt", "codec"), [
    (".wav", "wav", "pcm_s16le"),
    (".ulaw.wav", "ulaw", "pcm_mulaw"),
])  # fmt: skip
async def test_the_converted_audio_is_served_cacheable_forever(
    client: TestClient[web.Request, web.Application],
    service: PromptService,
    prompt: Prompt,
    tmp_path: Path,
    suffix: str,
    fmt: str,
    codec: str,
) -> None:
    response = await client.get(f"/media/prompts/{prompt.media_key}{suffix}")
    body = await response.read()
    assert response.status == 200
    assert response.content_type == "audio/wav"
    assert response.headers["Cache-Control"] == CACHE_CONTROL
    assert response.headers["ETag"] == f'"{prompt.digest}"'
    stored = service.store.path(prompt.digest, "wav" if fmt == "wav" else "ulaw")
    assert body == stored.read_bytes()
    served = tmp_path / f"served{suffix}"
    served.write_bytes(body)
    info = stream_info(served)
    assert (info["codec"], info["sample_rate"], info["channels"]) == (codec, "8000", "1")

    again = await client.get(
        f"/media/prompts/{prompt.media_key}{suffix}",
        headers={"If-None-Match": f'"{prompt.digest}"'},
    )
    assert again.status == 304
    assert again.headers["ETag"] == f'"{prompt.digest}"'
    assert await again.read() == b""


async def test_unknown_keys_are_404(
    client: TestClient[web.Request, web.Application], service: PromptService, prompt: Prompt
) -> None:
    for path in (
        f"/media/prompts/{'0' * 32}.wav",
        f"/media/prompts/{'0' * 32}.ulaw.wav",
        f"/media/prompts/{prompt.media_key}.mp3",
        f"/media/prompts/{prompt.media_key[:-1]}.wav",
        f"/media/prompts/{prompt.digest}.wav",
    ):
        response = await client.get(path)
        assert response.status == 404, path

    async def nobody(_prompt_id: str) -> list[str]:
        return []

    await service.delete(prompt.id, nobody)
    response = await client.get(f"/media/prompts/{prompt.media_key}.wav")
    assert response.status == 404
