"""Admin API for prompts: upload audio, or have text spoken; list, get, replace, delete.

Uploads are ``multipart/form-data`` with a ``file`` part (WAV, MP3, OGG or M4A) and an optional
``name``; the file streams to a temporary file and is refused with 413 as soon as it passes
the size limit. Spoken prompts are JSON ``{"text", "language", "voice", "rate", "name"}``.
Problems name the field: ``file`` for audio that cannot be used, ``body.language`` for a
language the voice does not speak. A prompt that a published workflow plays cannot be deleted
(409, naming the workflows).
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Literal

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from prompts.errors import (
    AudioTooLarge,
    AudioTooLong,
    AudioTooShort,
    InvalidAudio,
    InvalidSpeech,
    PromptError,
    PromptInUse,
    PromptNotFound,
    SpeechFailed,
    SpeechTimedOut,
    UnknownVoice,
)
from prompts.service import Prompt, PromptService
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import ApiProblem, FieldError, conflict, not_found
from ringflow.private_files import private_dir

CHUNK = 64 * 1024
LANGUAGE = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$"
PromptName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


@dataclass(frozen=True)
class PromptAdmin:
    """What the prompt endpoints need."""

    service: PromptService
    in_use: Callable[[str], Awaitable[Sequence[str]]]
    """The published workflows that play a prompt."""
    scratch: Path
    """Where uploads are written while they are checked."""


PROMPT_ADMIN = web.AppKey("prompt_admin", PromptAdmin)


class MediaOut(BaseModel):
    wav: str = Field(description="8 kHz mono 16-bit PCM WAV, for Twilio <Play> (path)")
    ulaw: str = Field(description="8 kHz mono mu-law WAV (path)")


class PromptOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    kind: Literal["audio", "speech"]
    text: str | None
    language: str | None
    voice: str | None
    rate: int | None
    digest: str
    duration_ms: int
    size_bytes: int
    original_format: str
    media: MediaOut
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, prompt: Prompt) -> PromptOut:
        return cls.model_validate(prompt.to_json())


class PromptDetailOut(PromptOut):
    used_by: list[str] = Field(description="published workflows that play it")


class SpeechIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    language: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    ] = "en"
    voice: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    rate: int | None = Field(default=None, ge=80, le=400, description="words per minute")
    name: PromptName | None = None


def _admin(request: web.Request) -> PromptAdmin:
    return request.config_dict[PROMPT_ADMIN]


def _problem(error: PromptError, field: str) -> ApiProblem:
    """A prompt error as the problem an admin can act on."""
    if isinstance(error, PromptNotFound):
        return not_found(error.reason)
    if isinstance(error, PromptInUse):
        return conflict(error.reason)
    if isinstance(error, AudioTooLarge):
        return ApiProblem(413, error.reason)
    if isinstance(error, SpeechTimedOut | SpeechFailed):
        return ApiProblem(503, error.reason, headers={"Retry-After": "5"})
    if isinstance(error, UnknownVoice | InvalidSpeech):
        return ApiProblem(422, error.reason, [FieldError(field, error.reason)])
    if isinstance(error, InvalidAudio | AudioTooShort | AudioTooLong):
        return ApiProblem(422, error.reason, [FieldError("file", error.reason)])
    return ApiProblem(422, error.reason)


async def _upload(request: web.Request, admin: PromptAdmin) -> tuple[Path, str, str | None]:
    """The uploaded file (in a temporary file the caller removes), its name, and ``name``."""
    if request.content_type != "multipart/form-data":
        raise ApiProblem(
            415, f"send the audio as multipart/form-data, not {request.content_type!r}"
        )
    limit = admin.service.max_bytes
    if request.content_length is not None and request.content_length > limit + CHUNK:
        raise ApiProblem(413, f"an audio file is at most {limit} bytes")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError, HttpProcessingError):
        raise ApiProblem(400, "the body is not valid multipart/form-data") from None
    upload: Path | None = None
    filename = ""
    name: str | None = None
    try:
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file" and upload is None:
                filename = (part.filename or "upload")[:200]
                upload = await _save(part, admin.scratch, limit)
            elif part.name == "name":
                name = (await part.text()).strip()[:200] or None
    except ApiProblem:
        if upload is not None:
            _discard(upload)
        raise
    except (ValueError, AssertionError, UnicodeDecodeError, HttpProcessingError):
        # HttpProcessingError: a part's headers aiohttp cannot parse (control characters...)
        if upload is not None:
            _discard(upload)
        raise ApiProblem(400, "the body is not valid multipart/form-data") from None
    if upload is None:
        raise ApiProblem(
            422, "no audio: send it in a part named `file`", [FieldError("file", "required")]
        )
    return upload, filename, name


def _scratch(folder: Path) -> tuple[IO[bytes], Path]:
    """A new temporary file in ``folder`` (local disk: quick enough for the event loop)."""
    private_dir(folder)  # the file itself is 0600 (tempfile)
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix="upload-", delete=False)  # noqa: SIM115
    return handle, Path(handle.name)


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


async def _save(part: BodyPartReader, folder: Path, limit: int) -> Path:
    handle, path = _scratch(folder)
    size = 0
    try:
        with handle:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ApiProblem(413, f"an audio file is at most {limit} bytes")
                handle.write(chunk)
    except BaseException:
        _discard(path)
        raise
    return path


# --- handlers --------------------------------------------------------------------------


async def list_prompts(request: web.Request) -> web.Response:
    prompts = await _admin(request).service.list()
    return json_answer([PromptOut.of(prompt) for prompt in prompts])


async def upload_prompt(request: web.Request) -> web.Response:
    admin = _admin(request)
    path, filename, name = await _upload(request, admin)
    try:
        prompt = await admin.service.add_audio(path, filename, name)
    except PromptError as error:
        raise _problem(error, "file") from None
    finally:
        _discard(path)
    return json_answer(PromptOut.of(prompt), status=201)


async def speak_prompt(request: web.Request) -> web.Response:
    admin = _admin(request)
    body = await json_body(request, SpeechIn)
    try:
        prompt = await admin.service.add_speech(
            body.text, body.language, body.voice, body.rate, body.name
        )
    except PromptError as error:
        raise _problem(error, "body.language" if body.voice is None else "body.voice") from None
    return json_answer(PromptOut.of(prompt), status=201)


async def get_prompt(request: web.Request) -> web.Response:
    admin = _admin(request)
    prompt_id = request.match_info["prompt_id"]
    try:
        prompt = await admin.service.get(prompt_id)
    except PromptError as error:
        raise _problem(error, "prompt_id") from None
    used_by = list(await admin.in_use(prompt_id))
    detail = PromptDetailOut.model_validate({**prompt.to_json(), "used_by": used_by})
    return json_answer(detail)


async def replace_prompt_audio(request: web.Request) -> web.Response:
    admin = _admin(request)
    prompt_id = request.match_info["prompt_id"]
    try:
        await admin.service.get(prompt_id)
    except PromptError as error:
        raise _problem(error, "prompt_id") from None
    path, filename, name = await _upload(request, admin)
    try:
        prompt = await admin.service.replace_audio(prompt_id, path, filename, name)
    except PromptError as error:
        raise _problem(error, "file") from None
    finally:
        _discard(path)
    return json_answer(PromptOut.of(prompt))


async def replace_prompt_speech(request: web.Request) -> web.Response:
    admin = _admin(request)
    prompt_id = request.match_info["prompt_id"]
    body = await json_body(request, SpeechIn)
    try:
        prompt = await admin.service.replace_speech(
            prompt_id, body.text, body.language, body.voice, body.rate, body.name
        )
    except PromptError as error:
        raise _problem(error, "body.language" if body.voice is None else "body.voice") from None
    return json_answer(PromptOut.of(prompt))


async def delete_prompt(request: web.Request) -> web.Response:
    admin = _admin(request)
    try:
        await admin.service.delete(request.match_info["prompt_id"], admin.in_use)
    except PromptError as error:
        raise _problem(error, "prompt_id") from None
    return web.Response(status=204)


_UPLOAD = Body(
    media={
        "multipart/form-data": {
            "type": "object",
            "properties": {
                "file": {"type": "string", "format": "binary"},
                "name": {"type": "string", "maxLength": 200},
            },
            "required": ["file"],
        }
    },
    description="An audio file (WAV, MP3, OGG or M4A) in the part `file`; `name` optional.",
)


def endpoints() -> list[Endpoint]:
    """The prompt endpoints."""
    tag = "prompts"
    one = "/prompts/{prompt_id}"
    return [
        Endpoint("GET", "/prompts", list_prompts, "List prompts", tag, answer=list[PromptOut]),
        Endpoint(
            "POST",
            "/prompts",
            upload_prompt,
            "Upload an audio prompt: checked, converted to 8 kHz mono, loudness-normalised",
            tag,
            body=_UPLOAD,
            answer=PromptOut,
            status=201,
            errors=(400, 422, 503),
        ),
        Endpoint(
            "POST",
            "/prompts/speech",
            speak_prompt,
            "Make a prompt from text, spoken by the server's voice (cached by text)",
            tag,
            body=Body(model=SpeechIn),
            answer=PromptOut,
            status=201,
            errors=(400, 422, 503),
        ),
        Endpoint(
            "GET",
            one,
            get_prompt,
            "A prompt, and the workflows that play it",
            tag,
            answer=PromptDetailOut,
            errors=(404,),
        ),
        Endpoint(
            "PUT",
            one + "/audio",
            replace_prompt_audio,
            "Replace a prompt's audio with an uploaded file",
            tag,
            body=_UPLOAD,
            answer=PromptOut,
            errors=(400, 404, 422, 503),
        ),
        Endpoint(
            "PUT",
            one + "/speech",
            replace_prompt_speech,
            "Replace a prompt with text spoken by the server",
            tag,
            body=Body(model=SpeechIn),
            answer=PromptOut,
            errors=(400, 404, 422, 503),
        ),
        Endpoint(
            "DELETE",
            one,
            delete_prompt,
            "Delete a prompt no published workflow plays",
            tag,
            status=204,
            errors=(404, 409),
        ),
    ]


def register(api: Api) -> None:
    """Add the prompt endpoints to ``api``."""
    api.add(*endpoints())
