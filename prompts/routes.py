"""Public media routes: the converted audio of a prompt, for Twilio's ``<Play>`` (and Asterisk).

``GET /media/prompts/{media_key}.wav``       8 kHz mono 16-bit PCM WAV
``GET /media/prompts/{media_key}.ulaw.wav``  8 kHz mono mu-law (G.711) WAV

No token: Twilio fetches ``<Play>`` URLs with a plain GET and no signature. The 128-bit random
``media_key`` is the only secret, and it changes whenever the prompt's audio does, so the
answer never changes for a given URL: ``Cache-Control: public, max-age=31536000, immutable``,
``ETag`` = the audio's sha256 (a matching If-None-Match gets a 304). Unknown keys (and keys of
prompts whose audio is gone) are a 404.

**Content types.** Both files are ``audio/wav``. Twilio's ``<Play>`` accepts ``audio/wav``,
``audio/wave``, ``audio/x-wav``, ``audio/mpeg``, AIFF, GSM and ``audio/ulaw`` (its docs,
"Supported audio file types"); it decides by the Content-Type, and mu-law inside a WAV
container is still a WAV file, so ``audio/wav`` is right for both (``audio/ulaw`` / the RFC's
``audio/basic`` mean headerless mu-law samples, which this is not). Twilio plays both; the PCM
one is what Ringflow's TwiML uses, since Twilio transcodes everything to 8 kHz mu-law anyway.
Asterisk is pickier: its ``format_wav`` module reads 16-bit signed linear PCM WAV only (a
mu-law WAV is refused with "Not a wav file"), and its mu-law format is the headerless ``.ulaw``
file. So for Asterisk, too, the PCM ``.wav`` is the one to use (or fetch the mu-law WAV
and strip its header into a ``.ulaw`` file).

Files are served with aiohttp's ``FileResponse`` (sendfile, Range requests), whose own ETag
(mtime and size) is replaced by the digest: the same audio has the same ETag on every server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from aiohttp import web
from aiohttp.helpers import ETAG_ANY, ETag

from prompts.service import PromptService
from prompts.store import MediaFormat

__all__ = ["CACHE_CONTROL", "PROMPT_SERVICE", "DigestFileResponse", "media", "routes"]

PROMPT_SERVICE: Final = web.AppKey("prompt_service", PromptService)
CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
_KEY: Final = "{media_key:[0-9a-f]{32}}"


class DigestFileResponse(web.FileResponse):
    """A FileResponse whose ETag is the file's digest rather than its mtime and size."""

    def __init__(self, path: Path, digest: str, headers: dict[str, str]) -> None:
        super().__init__(path, headers=headers)
        self._digest = digest

    @property
    def etag(self) -> ETag | None:
        return web.FileResponse.etag.fget(self)  # type: ignore[attr-defined,no-any-return]

    @etag.setter
    def etag(self, _value: object) -> None:
        # FileResponse.prepare sets its own; the digest always wins
        web.FileResponse.etag.fset(self, self._digest)  # type: ignore[attr-defined]


def media(
    service_key: web.AppKey[PromptService], fmt: MediaFormat
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler serving ``fmt`` files of the service stored under ``service_key``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        service = request.app[service_key]
        path = await service.media(request.match_info["media_key"], fmt)
        if path is None:
            raise web.HTTPNotFound(text="no such prompt audio")
        digest = path.name.split(".", 1)[0]
        headers = {"Content-Type": "audio/wav", "Cache-Control": CACHE_CONTROL}
        match = request.if_none_match
        if match is not None and any(tag.value in (digest, ETAG_ANY) for tag in match):
            return web.Response(status=304, headers=headers | {"ETag": f'"{digest}"'})
        return DigestFileResponse(path, digest, headers)

    return handler


def routes(service_key: web.AppKey[PromptService] = PROMPT_SERVICE) -> list[web.AbstractRouteDef]:
    """The public media routes, for the app that stores the service under ``service_key``."""
    return [
        web.get(f"/media/prompts/{_KEY}.wav", media(service_key, "wav"), allow_head=True),
        web.get(f"/media/prompts/{_KEY}.ulaw.wav", media(service_key, "ulaw"), allow_head=True),
    ]
