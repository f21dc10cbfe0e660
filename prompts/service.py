"""Prompts: uploaded audio and spoken text, stored once per sound, served to Twilio.

:class:`PromptService` is the package's one entry point (the admin routes and the composition
root use it; workflows refer to prompts by id):

* ``add_audio`` / ``replace_audio`` check and convert an upload (:mod:`prompts.audio`);
* ``add_speech`` / ``replace_speech`` have the :class:`Synthesizer` say a text, once per
  (text, language, voice, rate): the result is remembered in ``speech_cache``, and requests
  for the same text that arrive while it is being synthesised wait for that one synthesis;
* ``get`` / ``list`` / ``delete`` (refused while a workflow uses the prompt);
* ``media`` resolves a public media key to the file to serve.

**Audio and rows.** The audio of a digest is stored in the database (:mod:`prompts.blobs`) in
the transaction that stores the prompt row using it, and deleted in the transaction that leaves
no row using it (which also forgets the speech cache entries pointing at it). So any server
process serves any prompt, with nothing shared but PostgreSQL: the files in the data dir
(:mod:`prompts.store`) are a local cache, written after the commit by the process that made
the audio and, on another process, at the first request for it (one fetch at a time per file,
chunk by chunk, checked against its sha256). Deleting the cache loses nothing.

**Media keys change with the audio.** A replaced prompt gets a new ``media_key``: its media
are served as immutable (cached for a year by Twilio and proxies), so new audio needs a new URL.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy import Connection, Executable, Row, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from prompts.audio import Converted, convert, prepare_upload
from prompts.blobs import drop_audio, lock_audio, read_chunk, store_audio, stored_audio
from prompts.db import prompt_audio, prompts, speech_cache
from prompts.errors import (
    InvalidAudio,
    InvalidSpeech,
    PromptError,
    PromptInUse,
    PromptNotFound,
    SpeechFailed,
)
from prompts.store import MediaFormat, PromptStore
from ringflow.changes import PROMPTS, announce
from ringflow.clock import Clock
from ringflow.database import Database, stored_time

__all__ = [
    "MEDIA_PREFIX",
    "Prompt",
    "PromptService",
    "Synthesizer",
    "media_path",
    "text_digest",
]

log = logging.getLogger(__name__)

R = TypeVar("R")
MEDIA_PREFIX: Final = "/media/prompts/"
MEDIA_KEY: Final = re.compile(r"[0-9a-f]{32}")
MAX_NAME: Final = 200
SPEECH_ATTEMPTS: Final = 3


class Synthesizer(Protocol):
    """A speech engine (``prompts.tts.TtsPool`` in the server)."""

    async def synthesize(
        self, text: str, language: str, voice: str | None, rate: int | None, out_path: Path
    ) -> None:
        """Write ``text`` spoken as a WAV file at ``out_path``; raise UnknownVoice,
        SpeechTimedOut or SpeechFailed."""
        ...


def media_path(media_key: str, fmt: MediaFormat) -> str:
    """The path (under the public URL) Twilio fetches a prompt's audio at."""
    return f"{MEDIA_PREFIX}{media_key}{'.wav' if fmt == 'wav' else '.ulaw.wav'}"


def text_digest(text: str, language: str, voice: str | None, rate: int | None) -> str:
    """The speech cache key of a text said in ``language`` by ``voice`` at ``rate``."""
    fields = json.dumps([text, language, voice, rate], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(fields.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt as stored."""

    id: str
    name: str
    kind: str
    text: str | None
    language: str | None
    voice: str | None
    rate: int | None
    digest: str
    duration_ms: int
    size_bytes: int
    original_format: str
    media_key: str
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The prompt as the admin API shows it (media as paths under the public URL)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "text": self.text,
            "language": self.language,
            "voice": self.voice,
            "rate": self.rate,
            "digest": self.digest,
            "duration_ms": self.duration_ms,
            "size_bytes": self.size_bytes,
            "original_format": self.original_format,
            "media": {
                "wav": media_path(self.media_key, "wav"),
                "ulaw": media_path(self.media_key, "ulaw"),
            },
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _prompt(row: Row[Any] | dict[str, Any]) -> Prompt:
    values = dict(row._mapping) if isinstance(row, Row) else dict(row)
    values["created_at"] = stored_time(values["created_at"])
    values["updated_at"] = stored_time(values["updated_at"])
    return Prompt(**values)


def _remember_speech(dialect: str, row: dict[str, Any]) -> Executable:
    """Insert or overwrite the speech cache entry ``row``."""
    insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(speech_cache)
    statement = insert.values(row)
    return statement.on_conflict_do_update(
        index_elements=["text_digest"],
        set_={
            "digest": statement.excluded.digest,
            "duration_ms": statement.excluded.duration_ms,
            "created_at": statement.excluded.created_at,
        },
    )


def prompts_among(conn: Connection, ids: Collection[str]) -> set[str]:
    """Which of ``ids`` are prompts."""
    if not ids:
        return set()
    found = conn.execute(select(prompts.c.id).where(prompts.c.id.in_(list(ids)))).scalars()
    return set(found)


class PromptService:
    """Prompts on ``db``, their files under ``data_dir / "prompts"``."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        synthesizer: Synthesizer,
        *,
        max_bytes: int,
        min_seconds: float,
        max_seconds: float,
        convert_timeout: float = 120.0,
        probe_timeout: float = 10.0,
        max_conversions: int | None = None,
        clock: Clock,
    ) -> None:
        if max_bytes < 1 or min_seconds < 0 or max_seconds <= min_seconds:
            raise ValueError("need max_bytes >= 1 and 0 <= min_seconds < max_seconds")
        self.db = db
        self.store = PromptStore(data_dir)
        self.store.clear_stale_work()
        self.synthesizer = synthesizer
        self.max_bytes = max_bytes
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self.convert_timeout = convert_timeout
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._slots = asyncio.Semaphore(max_conversions or os.cpu_count() or 2)
        self._files = asyncio.Lock()
        self._speaking: dict[str, asyncio.Task[None]] = {}
        self._fetching: dict[tuple[str, MediaFormat], asyncio.Task[Path | None]] = {}

    async def close(self) -> None:
        """Stop syntheses no request waits for any more."""
        tasks: builtins.list[asyncio.Task[Any]] = [
            *self._speaking.values(),
            *self._fetching.values(),
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # --- uploaded audio ---------------------------------------------------------------

    async def add_audio(self, path: Path, filename: str, name: str | None = None) -> Prompt:
        """A new prompt from the uploaded file at ``path`` (the caller removes it after);
        ``filename`` (the uploader's) names the prompt when ``name`` does not."""
        label = _name(name or Path(filename).stem or "prompt")
        converted = await self._convert_upload(path)
        now = self._clock()
        values = self._new_values(label, "audio", now) | _audio_values(converted)

        def insert(conn: Connection) -> None:
            store_audio(conn, converted.digest, converted.pcm, converted.ulaw, now)
            conn.execute(prompts.insert().values(values))

        async with self._files:
            try:
                await self.db.write(insert)
            except BaseException:
                _remove(converted.pcm, converted.ulaw)
                raise
            self.store.place(converted.digest, converted.pcm, converted.ulaw)
        return _prompt(values)

    async def replace_audio(
        self, prompt_id: str, path: Path, filename: str, name: str | None = None
    ) -> Prompt:
        """Give prompt ``prompt_id`` the audio of the uploaded file (and ``name``, if given)."""
        await self.get(prompt_id)  # fail before converting
        label = _name(name) if name is not None else None
        converted = await self._convert_upload(path)
        changes = _audio_values(converted) | {
            "kind": "audio",
            "text": None,
            "language": None,
            "voice": None,
            "rate": None,
        }
        if label is not None:
            changes["name"] = label

        def change(conn: Connection) -> tuple[Prompt | None, builtins.list[str]]:
            store_audio(conn, converted.digest, converted.pcm, converted.ulaw, self._clock())
            return self._update(conn, prompt_id, changes, converted.digest)

        async with self._files:
            try:
                updated, orphans = await self.db.write(change)
            except BaseException:
                _remove(converted.pcm, converted.ulaw)
                raise
            if updated is None:
                _remove(converted.pcm, converted.ulaw)
            else:
                self.store.place(converted.digest, converted.pcm, converted.ulaw)
            self._discard(orphans)
        if updated is None:
            raise PromptNotFound(prompt_id)
        return updated

    async def _convert_upload(self, path: Path) -> Converted:
        async with self._slots:
            return await prepare_upload(
                path,
                self.store.ready_work(),
                max_bytes=self.max_bytes,
                min_seconds=self.min_seconds,
                max_seconds=self.max_seconds,
                time_limit=self.convert_timeout,
                probe_limit=self.probe_timeout,
            )

    # --- speech -------------------------------------------------------------------------

    async def add_speech(
        self,
        text: str,
        language: str,
        voice: str | None = None,
        rate: int | None = None,
        name: str | None = None,
    ) -> Prompt:
        """A new prompt saying ``text``; synthesised only if this text (with this language,
        voice and rate) never was, or its audio is gone."""
        text = _text(text)
        label = _name(name or text[:60])

        def insert(conn: Connection, cached: Spoken) -> tuple[Prompt, builtins.list[str]]:
            values = self._new_values(label, "speech", self._clock()) | {
                "text": text,
                "language": language,
                "voice": voice,
                "rate": rate,
                "digest": cached.digest,
                "duration_ms": cached.duration_ms,
                "size_bytes": cached.wav_bytes,
                "original_format": "wav",
            }
            conn.execute(prompts.insert().values(values))
            return _prompt(values), []

        return await self._with_speech(text, language, voice, rate, insert)

    async def replace_speech(
        self,
        prompt_id: str,
        text: str,
        language: str,
        voice: str | None = None,
        rate: int | None = None,
        name: str | None = None,
    ) -> Prompt:
        """Make prompt ``prompt_id`` say ``text`` (and take ``name``, if given)."""
        await self.get(prompt_id)
        text = _text(text)
        label = _name(name) if name is not None else None

        def change(conn: Connection, cached: Spoken) -> tuple[Prompt | None, builtins.list[str]]:
            changes: dict[str, Any] = {
                "kind": "speech",
                "text": text,
                "language": language,
                "voice": voice,
                "rate": rate,
                "digest": cached.digest,
                "duration_ms": cached.duration_ms,
                "size_bytes": cached.wav_bytes,
                "original_format": "wav",
            }
            if label is not None:
                changes["name"] = label
            return self._update(conn, prompt_id, changes, cached.digest)

        updated = await self._with_speech(text, language, voice, rate, change)
        if updated is None:
            raise PromptNotFound(prompt_id)
        return updated

    async def _with_speech(
        self,
        text: str,
        language: str,
        voice: str | None,
        rate: int | None,
        use: Callable[[Connection, Spoken], tuple[R, builtins.list[str]]],
    ) -> R:
        """``use`` the cached audio of the text (in the transaction that found it), after
        synthesising it if it is not cached; ``use`` also returns the digests it left unused."""
        key = text_digest(text, language, voice, rate)
        query = select(speech_cache).where(speech_cache.c.text_digest == key)

        def cached(conn: Connection) -> tuple[R, builtins.list[str]] | None:
            row = conn.execute(query).first()
            audio = None if row is None else stored_audio(conn, row.digest)
            if row is None or audio is None:
                return None
            return use(conn, Spoken(row.digest, row.duration_ms, audio.wav_bytes))

        for _attempt in range(SPEECH_ATTEMPTS):
            async with self._files:
                hit = await self.db.write(cached)
                if hit is not None:
                    self._discard(hit[1])
            if hit is not None:
                return hit[0]
            await self._speak_once(key, text, language, voice, rate)
        raise SpeechFailed("the spoken audio was removed while it was being stored: try again")

    async def _speak_once(
        self, key: str, text: str, language: str, voice: str | None, rate: int | None
    ) -> None:
        """Synthesise ``text`` into the cache, or wait for the synthesis already under way."""
        task = self._speaking.get(key)
        if task is None:
            task = asyncio.create_task(self._speak(key, text, language, voice, rate))
            self._speaking[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        await asyncio.shield(task)

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        if self._speaking.get(key) is task:
            del self._speaking[key]
        if not task.cancelled() and task.exception() is not None:
            log.debug("speech synthesis failed: %s", task.exception())

    async def _speak(
        self, key: str, text: str, language: str, voice: str | None, rate: int | None
    ) -> None:
        spoken = self.store.ready_work() / f"{secrets.token_hex(8)}.speech.wav"
        try:
            try:
                await self.synthesizer.synthesize(text, language, voice, rate, spoken)
            except PromptError:
                raise
            except Exception as error:
                raise _speech_error(error) from error
            if not spoken.is_file() or spoken.stat().st_size == 0:
                raise SpeechFailed("the speech engine wrote no audio")
            try:
                async with self._slots:
                    converted = await convert(
                        spoken,
                        "wav",
                        self.store.work,
                        max_seconds=self.max_seconds,
                        time_limit=self.convert_timeout,
                    )
            except InvalidAudio as error:
                reason = f"the speech engine's audio is unusable: {error.reason}"
                raise SpeechFailed(reason) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                spoken.unlink()
        row = {
            "text_digest": key,
            "digest": converted.digest,
            "duration_ms": converted.duration_ms,
            "created_at": self._clock(),
        }

        def remember(conn: Connection) -> None:
            store_audio(conn, converted.digest, converted.pcm, converted.ulaw, self._clock())
            conn.execute(_remember_speech(conn.dialect.name, row))

        async with self._files:
            try:
                await self.db.write(remember)
            except BaseException:
                _remove(converted.pcm, converted.ulaw)
                raise
            self.store.place(converted.digest, converted.pcm, converted.ulaw)

    async def spoken(self, text: str, language: str) -> Prompt:
        """The prompt saying ``text`` for a ``say`` step rendered by the server: made (and
        synthesised) the first time, found by its name ``say:<digest>`` afterwards."""
        made = await self.spoken_if_made(text, language)
        if made is not None:
            return made
        return await self.add_speech(text, language, None, None, name=_say_name(text, language))

    async def spoken_if_made(self, text: str, language: str) -> Prompt | None:
        """The prompt of :meth:`spoken` if it was made already, else None (one read, no
        synthesis: what a caller's turn may afford)."""
        query = (
            select(prompts)
            .where(prompts.c.name == _say_name(text, language))
            .order_by(prompts.c.created_at)
        )
        row = await self.db.read(lambda conn: conn.execute(query).first())
        return None if row is None else _prompt(row)

    # --- reading and removing ---------------------------------------------------------------

    async def get(self, prompt_id: str) -> Prompt:
        """The prompt ``prompt_id``; PromptNotFound if there is none."""
        query = select(prompts).where(prompts.c.id == prompt_id)
        row = await self.db.read(lambda conn: conn.execute(query).first())
        if row is None:
            raise PromptNotFound(prompt_id)
        return _prompt(row)

    async def delete(
        self, prompt_id: str, in_use: Callable[[str], Awaitable[Sequence[str]]]
    ) -> None:
        """Remove prompt ``prompt_id``, unless ``in_use(prompt_id)`` names workflows that play
        it (PromptInUse); its files go too when no other prompt uses them."""
        await self.get(prompt_id)
        workflows = await in_use(prompt_id)
        if workflows:
            raise PromptInUse(prompt_id, workflows)

        def remove(conn: Connection) -> tuple[bool, builtins.list[str]]:
            gone = conn.execute(
                delete(prompts).where(prompts.c.id == prompt_id).returning(prompts.c.digest)
            ).scalar_one_or_none()
            if gone is not None:
                announce(conn, PROMPTS)  # other processes forget its address
            return gone is not None, self._orphans(conn, [gone] if gone else [])

        async with self._files:
            found, orphans = await self.db.write(remove)
            self._discard(orphans)
        if not found:
            raise PromptNotFound(prompt_id)

    async def media(self, media_key: str, fmt: MediaFormat) -> Path | None:
        """The file to serve for ``media_key`` in ``fmt``, or None (unknown key, or missing):
        from the local cache, filled from the database first if need be."""
        if not MEDIA_KEY.fullmatch(media_key):
            return None
        query = select(prompts.c.digest).where(prompts.c.media_key == media_key)
        digest = await self.db.read(lambda conn: conn.execute(query).scalar_one_or_none())
        if digest is None:
            return None
        path = self.store.path(digest, fmt)
        if path.is_file():
            return path
        key = (digest, fmt)
        task = self._fetching.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(digest, fmt), name=f"fetch:{digest[:12]}")
            self._fetching[key] = task
            task.add_done_callback(lambda done: self._fetched(key, done))
        return await asyncio.shield(task)

    def _fetched(self, key: tuple[str, MediaFormat], task: asyncio.Task[Path | None]) -> None:
        if self._fetching.get(key) is task:
            del self._fetching[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("could not fetch prompt audio %s", key[0], exc_info=task.exception())

    async def _fetch(self, digest: str, fmt: MediaFormat) -> Path | None:
        """Copy the stored ``fmt`` file of ``digest`` into the local cache, a chunk at a time;
        its path, or None when it is not (or no longer) stored whole."""
        audio = await self.db.read(lambda conn: stored_audio(conn, digest))
        if audio is None:
            return None
        part = self.store.ready_work() / f"{secrets.token_hex(8)}.fetch"
        hashed = hashlib.sha256()
        size = 0
        try:
            with part.open("wb") as out:
                for seq in itertools.count():
                    if size >= audio.size(fmt):
                        break
                    piece = await self.db.read(partial(read_chunk, digest=digest, fmt=fmt, seq=seq))
                    if piece is None:
                        return None  # deleted meanwhile (no prompt uses it any more)
                    out.write(piece)
                    hashed.update(piece)
                    size += len(piece)
            if size != audio.size(fmt) or hashed.hexdigest() != audio.sha256(fmt):
                log.error("stored prompt audio %s (%s) does not match its sha256", digest, fmt)
                return None
            async with self._files:
                return self.store.keep(digest, fmt, part)
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()

    async def adopt_cached_files(self) -> int:
        """Store in the database the audio of prompts made before it was stored there, from
        this data dir's files; how many digests were stored. Run once at start: prompts whose
        files are elsewhere are logged (their media answer 404 until replaced)."""
        query = (
            select(prompts.c.digest)
            .distinct()
            .where(prompts.c.digest.not_in(select(prompt_audio.c.digest)))
        )
        missing = await self.db.read(lambda conn: builtins.list(conn.execute(query).scalars()))
        adopted = 0
        for digest in missing:
            if not self.store.has(digest):
                log.warning("prompt audio %s is not in the database nor in this data dir", digest)
                continue
            pcm, ulaw = self.store.path(digest, "wav"), self.store.path(digest, "ulaw")
            store = partial(store_audio, digest=digest, pcm=pcm, ulaw=ulaw, now=self._clock())
            await self.db.write(store)
            adopted += 1
        if adopted:
            log.info("stored the audio of %d prompt digest(s) from the data dir", adopted)
        return adopted

    # --- helpers ----------------------------------------------------------------------------

    def _new_values(self, name: str, kind: str, now: datetime) -> dict[str, Any]:
        return {
            "id": "pr_" + secrets.token_hex(8),
            "name": name,
            "kind": kind,
            "text": None,
            "language": None,
            "voice": None,
            "rate": None,
            "media_key": secrets.token_hex(16),
            "created_at": now,
            "updated_at": now,
        }

    def _update(
        self, conn: Connection, prompt_id: str, changes: dict[str, Any], new_digest: str
    ) -> tuple[Prompt | None, builtins.list[str]]:
        """Apply ``changes`` (new audio: a new media key) to the prompt; also return the
        digests no prompt uses any more (the old one, or the new one if the prompt is gone)."""
        old = conn.execute(
            select(prompts.c.digest).where(prompts.c.id == prompt_id)
        ).scalar_one_or_none()
        if old is None:
            return None, self._orphans(conn, [new_digest])
        values = changes | {"media_key": secrets.token_hex(16), "updated_at": self._clock()}
        row = conn.execute(
            update(prompts).where(prompts.c.id == prompt_id).values(values).returning(*prompts.c)
        ).one()
        announce(conn, PROMPTS)  # its old address is gone: other processes forget it
        return _prompt(row), self._orphans(conn, [old])

    @staticmethod
    def _orphans(conn: Connection, digests: builtins.list[str]) -> builtins.list[str]:
        """Those of ``digests`` no prompt uses; their speech cache entries are forgotten."""
        orphans = []
        for digest in sorted(set(digests)):
            lock_audio(conn, digest)  # an addition of this digest waits, or we wait for it
            used = conn.execute(
                select(func.count()).select_from(prompts).where(prompts.c.digest == digest)
            ).scalar_one()
            if not used:
                conn.execute(delete(speech_cache).where(speech_cache.c.digest == digest))
                drop_audio(conn, digest)
                orphans.append(digest)
        return orphans

    def _discard(self, digests: builtins.list[str]) -> None:
        for digest in digests:
            self.store.discard(digest)

    async def list(self) -> builtins.list[Prompt]:
        """Every prompt, oldest first."""
        query = select(prompts).order_by(prompts.c.created_at, prompts.c.id)
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [_prompt(row) for row in rows]


@dataclass(frozen=True, slots=True)
class Spoken:
    """A speech cache hit whose audio is stored."""

    digest: str
    duration_ms: int
    wav_bytes: int


def _remove(*paths: Path) -> None:
    """Remove work files a failed write did not use."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _audio_values(converted: Converted) -> dict[str, Any]:
    return {
        "digest": converted.digest,
        "duration_ms": converted.duration_ms,
        "size_bytes": converted.size_bytes,
        "original_format": converted.original_format,
    }


def _say_name(text: str, language: str) -> str:
    """The name of the prompt a ``say`` spoken by the server plays."""
    return "say:" + text_digest(text, language, None, None)[:24]


def _name(name: str) -> str:
    label = name.strip()
    if not 1 <= len(label) <= MAX_NAME:
        raise PromptError(f"the name must have 1 to {MAX_NAME} characters")
    return label


def _text(text: str) -> str:
    said = text.strip()
    if not said:
        raise InvalidSpeech("there is no text to say")
    return said


def _speech_error(error: Exception) -> PromptError:
    """A speech engine's error as a prompt error: the engine's own are already (see
    ``prompts.tts``); anything else is a SpeechFailed."""
    if isinstance(error, PromptError):
        return error
    return SpeechFailed(f"the speech engine failed: {str(error) or type(error).__name__}")
