"""Text-to-speech for prompts: a small pool of pyttsx3 (espeak-ng) worker processes.

Why processes, and why ``asyncio.create_subprocess_exec`` with JSON lines
--------------------------------------------------------------------------
pyttsx3's engine is a per-process singleton that deadlocked when used from threads, its
``runAndWait()`` can hang for good (nothing queued), and a hung C call cannot be interrupted
from Python. So each engine lives alone in its own process and does one job at a time; a job
that overruns is ended by killing that process (``SIGKILL``) and starting a new one, while the
other workers go on serving.

The workers are ``python prompts/tts_worker.py`` started with
``asyncio.create_subprocess_exec`` and spoken to in JSON lines over stdin/stdout, rather than
``multiprocessing`` ("spawn"):

* everything is awaited on the event loop (pipe reads, process exit); no helper threads, no
  blocking ``Connection.poll``/``Queue.get`` to wrap in executors;
* killing and replacing a worker is ``proc.kill(); await proc.wait()``; there is no shared
  ``multiprocessing`` queue or lock that a killed process could leave corrupted or held;
* the child does not re-import the server's ``__main__`` (which "spawn" does), starts in
  ~0.1 s, and imports nothing but the standard library and pyttsx3;
* a crash is seen as end-of-file on the worker's stdout the moment it happens.

pyttsx3 prints ``Audio saved to ...`` on stdout; the worker moves its protocol stream to a
private duplicate of fd 1 and points fd 1 (and ``sys.stdout``) at /dev/null before importing
pyttsx3, so no print can corrupt the protocol.

Semantics
---------
``synthesize()`` validates the request in this process (text, rate, language, voice: the
voice list is read once from the first worker's engine), then queues it. Idle workers take
jobs in arrival order; at most ``max_queue`` jobs wait, and one more fails at once with
:class:`TtsOverloaded`. ``timeout`` bounds the whole call as the caller sees it, measured from
the call: a job still queued at its deadline is dropped, a job running at its deadline has its
worker killed and replaced; either way the caller gets :class:`SpeechTimedOut` at the
deadline. A worker that dies (during a job or while idle) is replaced; its job, if any, fails
with :class:`SpeechFailed`. The WAV is written next to ``out_path`` under a temporary name and
renamed into place only when the job succeeded, so ``out_path`` is either complete or
untouched.

Output is what the engine writes: 16-bit mono PCM WAV at 22050 Hz (converted elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prompts.errors import (
    InvalidSpeech,
    PromptError,
    SpeechFailed,
    SpeechTimedOut,
    UnknownVoice,
)

__all__ = [
    "InvalidSpeech",
    "SpeechFailed",
    "SpeechTimedOut",
    "TtsClosed",
    "TtsError",
    "TtsOverloaded",
    "TtsPool",
    "UnknownVoice",
    "Voice",
    "VoiceCatalog",
]

log = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("tts_worker.py")
MAX_TEXT_CHARS = 2000
MIN_RATE = 80
MAX_RATE = 400
DEFAULT_RATE = 175  # espeak-ng's own default, words per minute
START_TIMEOUT_S = 30.0
CLOSE_GRACE_S = 2.0
RESPAWN_BACKOFF_S = 1.0
PROTOCOL_LINE_LIMIT = 1 << 20
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
ALLOWED_CONTROL = frozenset("\t\n\r")


TtsError = PromptError
"""Base of every text-to-speech error: the prompt errors of :mod:`prompts.errors`
(``SpeechFailed``, ``SpeechTimedOut``, ``UnknownVoice``, ``InvalidSpeech``) and the two below."""


class TtsOverloaded(SpeechFailed):
    """The queue is full: the request was refused without waiting."""


class TtsClosed(SpeechFailed):
    """The pool is not started, or is closing / closed."""


@dataclass(frozen=True, slots=True)
class Voice:
    """One engine voice: ``id`` as espeak-ng names it (e.g. ``gmw/en-us``, ``ko``)."""

    id: str
    name: str
    languages: tuple[str, ...]

    @property
    def language(self) -> str:
        return self.languages[0] if self.languages else self.id.rsplit("/", 1)[-1]


def _normalise_tag(tag: str) -> str:
    return tag.strip().lower().replace("_", "-")


def _primary(tag: str) -> str:
    return tag.split("-", 1)[0]


class VoiceCatalog:
    """The engine's voices, and the mapping from language tags (``en-US``, ``ko``) to them."""

    def __init__(self, voices: Iterable[Voice]) -> None:
        self.voices: tuple[Voice, ...] = tuple(voices)
        self._by_id = {v.id: v for v in self.voices}

    @classmethod
    def from_worker(cls, raw: Sequence[dict[str, Any]]) -> VoiceCatalog:
        return cls(
            Voice(
                id=str(v["id"]).lower(),
                name=str(v.get("name", v["id"])),
                languages=tuple(_normalise_tag(str(x)) for x in v.get("languages") or ()),
            )
            for v in raw
        )

    def languages(self) -> list[str]:
        """The primary language subtags the engine speaks, sorted."""
        return sorted({_primary(v.language) for v in self.voices})

    def for_language(self, language: str) -> list[Voice]:
        """Every voice of the language's family (``en-US`` -> all English voices)."""
        primary = _primary(_normalise_tag(language))
        return [v for v in self.voices if _primary(v.language) == primary]

    def resolve(self, language: str, voice: str | None = None) -> str:
        """The engine voice id for ``language`` (and the explicit ``voice``, if given)."""
        if not isinstance(language, str) or not LANGUAGE_TAG.match(language.strip()):
            raise InvalidSpeech(f"not a language tag: {language!r} (expected e.g. 'en-US', 'ko')")
        tag = _normalise_tag(language)
        family = self.for_language(tag)
        if not family:
            raise UnknownVoice(
                f"no voice speaks {language!r}; languages available: "
                + ", ".join(self.languages()),
                self.languages(),
            )
        ids = [v.id for v in family]
        if voice is not None:
            chosen = self._by_id.get(voice.strip().lower()) if isinstance(voice, str) else None
            if chosen is None or chosen not in family:
                raise UnknownVoice(
                    f"no voice {voice!r} for {language!r}; voices for it: " + ", ".join(ids),
                    ids,
                )
            return chosen.id
        # Best first: the exact tag as a voice language (en-us -> gmw/en-us), as a voice id
        # (en -> gmw/en), then the bare language (ko-kr -> ko), else the family's first voice.
        primary = _primary(tag)
        for wanted in (tag, primary):
            for v in family:
                if v.language == wanted:
                    return v.id
            for v in family:
                if v.id.rsplit("/", 1)[-1] == wanted:
                    return v.id
        return family[0].id


def check_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidSpeech("text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidSpeech(f"text is {len(text)} characters, at most {MAX_TEXT_CHARS} allowed")
    for ch in text:
        if ch not in ALLOWED_CONTROL and unicodedata.category(ch) in ("Cc", "Cs"):
            raise InvalidSpeech(f"text contains the control character U+{ord(ch):04X}")
    return text


def check_rate(rate: int | None) -> int:
    if rate is None:
        return DEFAULT_RATE
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise InvalidSpeech(f"rate must be {MIN_RATE}-{MAX_RATE} words per minute, not {rate!r}")
    return rate


@dataclass(eq=False)
class _Job:
    message: dict[str, Any]
    deadline: float  # loop.time()
    future: asyncio.Future[None]
    part: Path | None = None
    out: Path | None = None
    started: bool = False


class _WorkerGone(Exception):
    """The worker process ended or broke the protocol."""


@dataclass(eq=False)
class _Worker:
    """One worker process and its pipes."""

    proc: asyncio.subprocess.Process
    exited: asyncio.Task[int] = field(init=False)
    voices: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.exited = asyncio.get_running_loop().create_task(self.proc.wait())

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return not self.exited.done()

    async def read_message(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            line = await self.proc.stdout.readline()
        except (ValueError, asyncio.LimitOverrunError) as exc:
            raise _WorkerGone(f"protocol line too long: {exc}") from exc
        if not line:
            raise _WorkerGone("the worker process ended")
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise _WorkerGone(f"protocol broken: {line[:80]!r}") from exc
        if not isinstance(message, dict):
            raise _WorkerGone(f"protocol broken: {line[:80]!r}")
        return message

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _WorkerGone("the worker process ended") from exc

    async def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self._reap()

    async def stop(self, grace: float) -> None:
        """Close stdin so the worker exits by itself; kill it after ``grace`` seconds."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            async with asyncio.timeout(grace):
                await asyncio.shield(self.exited)
        except TimeoutError:
            pass
        await self.kill()

    async def _reap(self) -> None:
        await asyncio.shield(self.exited)
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if self.proc.stdin is not None:
                await self.proc.stdin.wait_closed()

    def exit_description(self) -> str:
        code = self.proc.returncode
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


class TtsPool:
    """``workers`` pyttsx3 worker processes, one job at a time each, behind a bounded queue.

    ``allow_test_hooks=True`` starts the workers with ``--test-hooks`` and enables
    :meth:`run_test_job` (a job that hangs or crashes its worker); never set it in production.
    """

    def __init__(
        self,
        workers: int = 2,
        timeout: float = 10.0,
        max_queue: int = 100,
        *,
        allow_test_hooks: bool = False,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.workers = workers
        self.timeout = float(timeout)
        self.max_queue = max_queue
        self.allow_test_hooks = allow_test_hooks
        self.start_timeout = start_timeout
        self._queue: asyncio.Queue[_Job | None] | None = None
        self._slots: list[_Worker | None] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._catalog: VoiceCatalog | None = None
        self._state: Literal["new", "running", "closed"] = "new"
        self._next_id = 0
        self._hard_close = False
        self.restarts = 0  # workers replaced after a timeout or a crash

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker and wait until each has its engine ready."""
        if self._state != "new":
            raise TtsClosed("a TtsPool can be started once")
        self._state = "running"
        # Unbounded on purpose: _submit enforces max_queue, close() must always fit its stops.
        self._queue = asyncio.Queue()
        results = await asyncio.gather(
            *(self._spawn() for _ in range(self.workers)), return_exceptions=True
        )
        started = [r for r in results if isinstance(r, _Worker)]
        errors = [r for r in results if not isinstance(r, _Worker)]
        if errors:
            await asyncio.gather(*(w.kill() for w in started))
            self._state = "closed"
            first = errors[0]
            if isinstance(first, BaseException) and not isinstance(first, Exception):
                raise first
            raise SpeechFailed(f"text-to-speech workers did not start: {first}") from (
                first if isinstance(first, BaseException) else None
            )
        self._catalog = VoiceCatalog.from_worker(started[0].voices)
        self._slots = list(started)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._serve(i), name=f"tts-worker-{i}") for i in range(self.workers)
        ]

    async def close(self) -> None:
        """Refuse new jobs, fail queued ones, let running ones finish briefly, end all workers."""
        if self._state == "closed":
            return
        was_running = self._state == "running"
        self._state = "closed"
        if not was_running or self._queue is None:
            return
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None and not job.future.done():
                job.future.set_exception(TtsClosed("the text-to-speech pool was closed"))
        for _ in self._tasks:
            self._queue.put_nowait(None)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=CLOSE_GRACE_S)
            self._hard_close = True
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in self._slots:
            if worker is not None:
                await worker.kill()
        self._slots = [None] * len(self._slots)

    async def __aenter__(self) -> TtsPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- public API -----------------------------------------------------------------------

    @property
    def catalog(self) -> VoiceCatalog:
        if self._catalog is None:
            raise TtsClosed("the text-to-speech pool is not started")
        return self._catalog

    def resolve_voice(self, language: str, voice: str | None = None) -> str:
        """The engine voice a request would use; raises :class:`UnknownVoice`."""
        return self.catalog.resolve(language, voice)

    def worker_pids(self) -> list[int]:
        """The process ids of the live workers (for monitoring, and tests)."""
        return [w.pid for w in self._slots if w is not None and w.alive]

    @property
    def queued(self) -> int:
        return 0 if self._queue is None else self._queue.qsize()

    async def synthesize(
        self,
        text: str,
        language: str,
        voice: str | None,
        rate: int | None,
        out_path: Path,
    ) -> None:
        """Speak ``text`` into a WAV file at ``out_path`` (16-bit mono 22050 Hz)."""
        self._check_running()
        text = check_text(text)
        words_per_minute = check_rate(rate)
        voice_id = self.catalog.resolve(language, voice)
        out_path = Path(out_path)
        if not out_path.parent.is_dir():
            raise SpeechFailed(f"output folder {out_path.parent} does not exist")
        part = out_path.with_name(f".{out_path.name}.{secrets.token_hex(6)}.part")
        message = {
            "op": "synth",
            "text": text,
            "voice": voice_id,
            "rate": words_per_minute,
            "path": str(part),
        }
        await self._submit(message, part=part, out=out_path)

    async def run_test_job(self, kind: Literal["hang", "crash"]) -> None:
        """Tests only: a job that hangs (until the timeout) or crashes its worker."""
        if not self.allow_test_hooks:
            raise TtsError("test jobs need TtsPool(allow_test_hooks=True)")
        self._check_running()
        await self._submit({"op": kind})

    # -- internals ------------------------------------------------------------------------

    def _check_running(self) -> None:
        if self._state != "running":
            raise TtsClosed(
                "the text-to-speech pool is not started"
                if self._state == "new"
                else "the text-to-speech pool is closed"
            )

    async def _submit(
        self, message: dict[str, Any], part: Path | None = None, out: Path | None = None
    ) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        self._next_id += 1
        message["id"] = self._next_id
        job = _Job(
            message=message,
            deadline=loop.time() + self.timeout,
            future=loop.create_future(),
            part=part,
            out=out,
        )
        if self._queue.qsize() >= self.max_queue:
            raise TtsOverloaded(
                f"text-to-speech queue is full ({self.max_queue} jobs waiting); try again later"
            )
        self._queue.put_nowait(job)
        try:
            async with asyncio.timeout(job.deadline - loop.time()):
                await asyncio.shield(job.future)
        except TimeoutError:
            raise self._timed_out(job.started) from None
        finally:
            if not job.future.done():
                job.future.cancel()

    async def _spawn(self) -> _Worker:
        args = [sys.executable, str(WORKER_SCRIPT)]
        if self.allow_test_hooks:
            args.append("--test-hooks")
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=PROTOCOL_LINE_LIMIT,
        )
        worker = _Worker(proc)
        try:
            async with asyncio.timeout(self.start_timeout):
                ready = await worker.read_message()
            if ready.get("ready") is not True or not isinstance(ready.get("voices"), list):
                raise _WorkerGone(f"unexpected first message {str(ready)[:80]}")
        except BaseException as exc:
            await worker.kill()
            if isinstance(exc, TimeoutError):
                raise SpeechFailed(f"worker not ready within {self.start_timeout:g} s") from exc
            if isinstance(exc, _WorkerGone):
                raise SpeechFailed(
                    f"worker failed to start: {exc} ({worker.exit_description()})"
                ) from exc
            raise
        worker.voices = ready["voices"]
        return worker

    async def _replace(self, index: int, reason: str) -> None:
        """Kill slot ``index``'s worker (if any) and start a new one, retrying with a pause."""
        old = self._slots[index]
        self._slots[index] = None
        if old is not None:
            await old.kill()
            log.warning(
                "text-to-speech worker %d (pid %d) replaced: %s (%s)",
                index,
                old.pid,
                reason,
                old.exit_description(),
            )
            self.restarts += 1
        while self._state == "running":
            try:
                self._slots[index] = await self._spawn()
                return
            except SpeechFailed as exc:
                log.error("text-to-speech worker %d could not start: %s", index, exc)
                await asyncio.sleep(RESPAWN_BACKOFF_S)

    async def _next_job(self, index: int) -> _Job | Literal[False] | None:
        """The next job, ``None`` to stop, or ``False`` when the idle worker died first."""
        assert self._queue is not None
        worker = self._slots[index]
        assert worker is not None
        getter = asyncio.ensure_future(self._queue.get())
        try:
            await asyncio.wait({getter, worker.exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                # Safe: asyncio.Queue removes an item only once get() resumes, so a cancelled
                # get() never loses one.
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        return False

    async def _serve(self, index: int) -> None:
        try:
            while self._state == "running":
                worker = self._slots[index]
                if worker is None or not worker.alive:
                    await self._replace(index, "the worker process ended while idle")
                    continue
                job = await self._next_job(index)
                if job is None:
                    break
                if job is False:
                    continue
                if job.future.done():  # the caller gave up while it waited
                    continue
                if not worker.alive:
                    await self._replace(index, "the worker process ended while idle")
                    worker = self._slots[index]
                    if worker is None:  # closing
                        self._fail(job, TtsClosed("the text-to-speech pool was closed"))
                        break
                try:
                    await self._run(index, worker, job)
                except Exception as exc:  # a bug here must not leave the slot dead
                    log.exception("text-to-speech worker %d: unexpected error", index)
                    self._fail(job, SpeechFailed(f"text-to-speech failed: {exc!r}"))
                    await self._replace(index, "unexpected error in the pool")
        finally:
            worker = self._slots[index]
            if worker is not None:
                if self._hard_close:  # the grace is over: a job is still running
                    await worker.kill()
                else:
                    await worker.stop(CLOSE_GRACE_S)

    async def _run(self, index: int, worker: _Worker, job: _Job) -> None:
        job.started = True
        try:
            try:
                async with asyncio.timeout_at(job.deadline):
                    await worker.send(job.message)
                    while True:
                        reply = await worker.read_message()
                        if reply.get("id") == job.message["id"]:
                            break
                        log.warning("text-to-speech worker %d: stray reply %.80s", index, reply)
            except TimeoutError:
                self._fail(job, self._timed_out(started=True))
                await self._replace(index, "job timed out")
                return
            except _WorkerGone as exc:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await asyncio.shield(worker.exited)
                self._fail(
                    job,
                    SpeechFailed(
                        f"text-to-speech worker crashed: {exc} ({worker.exit_description()})"
                    ),
                )
                await self._replace(index, f"crashed during a job: {exc}")
                return
            except asyncio.CancelledError:
                self._fail(job, TtsClosed("the text-to-speech pool was closed"))
                raise
            if reply.get("ok") is True:
                self._finish(job)
            else:
                self._fail(job, SpeechFailed(f"text-to-speech failed: {reply.get('error')}"))
                if reply.get("fatal"):
                    await self._replace(index, f"engine error: {reply.get('error')}")
        finally:
            if job.part is not None:
                with contextlib.suppress(OSError):
                    job.part.unlink(missing_ok=True)

    def _finish(self, job: _Job) -> None:
        if job.future.done():
            return
        if job.part is not None and job.out is not None:
            try:
                os.replace(job.part, job.out)
            except OSError as exc:
                job.future.set_exception(SpeechFailed(f"could not write {job.out}: {exc}"))
                return
        job.future.set_result(None)

    def _timed_out(self, started: bool) -> SpeechTimedOut:
        where = "its worker was replaced" if started else "it was still waiting for a worker"
        return SpeechTimedOut(f"text-to-speech did not finish within {self.timeout:g} s; {where}")

    @staticmethod
    def _fail(job: _Job, error: TtsError) -> None:
        if not job.future.done():
            job.future.set_exception(error)


class LazyTtsPool:
    """A :class:`TtsPool` started on the first request, not with the server: most servers
    (and every test server) never speak, and its workers are processes."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._pool: TtsPool | None = None
        self._starting = asyncio.Lock()
        self._closed = False

    async def _started(self) -> TtsPool:
        async with self._starting:
            if self._closed:
                raise TtsClosed("the text-to-speech pool was closed")
            if self._pool is None:
                pool = TtsPool(**self._options)
                await pool.start()
                self._pool = pool
            return self._pool

    async def synthesize(
        self, text: str, language: str, voice: str | None, rate: int | None, out_path: Path
    ) -> None:
        """See :meth:`TtsPool.synthesize`."""
        pool = await self._started()
        await pool.synthesize(text, language, voice, rate, out_path)

    async def close(self) -> None:
        """Close the pool if it was started."""
        async with self._starting:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
