"""Test calls placed from the console: a softphone call whose caller is a person at a page.

:class:`TestCallPhone` places a call with :class:`ivr.softphone.Softphone` against this
process's own voice webhooks (signed, as Twilio signs them), running the workflow version the
admin chose (:class:`workflows.test_calls.TestCallVersions`). The page reads what the caller
hears (:meth:`LiveTestCall.view`: each line, with the audio to play: a ``<Play>``'s file, a
``<Say>`` spoken by the server's own voice) and answers what the call asks: keys or words at a
``<Gather>``, the outcome of a ``<Dial>``, a recording (:meth:`LiveTestCall.answer`). A call
waiting in a hold queue is never offered to an agent (:mod:`workflows.people.queue`): the
admin says which agent takes it (:meth:`LiveTestCall.take`), and it leaves the queue as
Twilio's REST API takes a real one out, to ring that agent.

A question left unanswered for :data:`ANSWER_WITHIN` hangs the call up; ended calls are kept
for the page a while (:data:`KEEP_ENDED`), and at most :data:`LIVE_AT_ONCE` run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import yarl

from ivr.softphone import (
    DIAL_STATUSES,
    CallerHungUp,
    DialAttempt,
    DialResult,
    GatherPrompt,
    RecordPrompt,
    RecordResult,
    Softphone,
)
from ivr.twiml_reader import DTMF_KEYS, Pause, Play, Prompt, Say
from workflows.test_calls import TestCallVersions, new_test_call_id

log = logging.getLogger(__name__)

ANSWER_WITHIN: Final = 600.0
"""Seconds a call waits for the page to answer before the caller hangs up."""
KEEP_ENDED: Final = 600.0
"""Seconds an ended call stays readable."""
LIVE_AT_ONCE: Final = 20
"""Test calls in progress at once in one process."""
DEFAULT_LANGUAGE: Final = "en-US"

Speaker = Callable[[str, str], Awaitable[str | None]]
"""``(text, language)`` → the path of that text spoken by the server (None: cannot speak)."""


class TooManyTestCalls(RuntimeError):
    """:data:`LIVE_AT_ONCE` test calls are already in progress."""


class NotAsked(ValueError):
    """An answer the call is not waiting for (or that does not fit the question)."""


@dataclass
class HeardLine:
    """One line of what the caller heard, with its audio once known."""

    text: str
    audio: str | None = None
    ready: bool = True
    """False while the server is still speaking it (the page waits for it, to keep order)."""


@dataclass(frozen=True)
class Answer:
    """What the page answers: ``keys`` (digits, or words for speech; empty: silence), a
    dial's ``status`` and ``seconds``, a recording's ``seconds`` and ``ended_by``, or
    ``hang_up``."""

    kind: Literal["keys", "dial", "record", "hang_up"]
    keys: str = ""
    status: str = "completed"
    seconds: int = 0
    ended_by: str = "#"


@dataclass
class LiveTestCall:
    """A test call: what it heard, what it asks now, how it ended."""

    id: str
    workflow_id: str
    version: str
    caller: str
    called: str
    lines: list[HeardLine] = field(default_factory=list)
    question: dict[str, Any] | None = None
    ended_by: str | None = None
    ended_at: float | None = None
    speaker: Speaker | None = None
    """Speaks ``<Say>`` lines for the page (None: they are shown, not heard)."""
    audio_of: Callable[[str], str | None] | None = None
    """Where the page finds a ``<Play>``'s audio (None: nowhere)."""
    _answers: asyncio.Queue[Answer] = field(default_factory=asyncio.Queue)
    _speaking: set[asyncio.Task[None]] = field(default_factory=set)
    _taken: asyncio.Future[tuple[str, str]] | None = None
    """While the call waits in a hold queue: set to the redirect that takes it out."""

    # --- what the page reads and answers -----------------------------------------------

    def view(self) -> dict[str, Any]:
        """The call for the page: the lines heard so far (up to the first still being
        spoken, so that they are played in order), the question, how it ended."""
        shown = []
        for line in self.lines:
            if not line.ready:
                break
            shown.append({"text": line.text, "audio": line.audio})
        settled = len(shown) == len(self.lines)
        return {
            "id": self.id,
            "workflow_id": self.workflow_id,
            "version": self.version,
            "from": self.caller,
            "to": self.called,
            "lines": shown,
            "question": self.question if settled else None,
            "ended_by": self.ended_by if settled else None,
        }

    def answer(self, answer: Answer) -> None:
        """Answer the question the call asks (or hang up, at any time).

        Raises :class:`NotAsked` when the call asks nothing of that kind, or the keys do not
        fit (letters where only keys are taken)."""
        if self.ended_by is not None:
            raise NotAsked("the call has ended")
        if answer.kind != "hang_up":
            question = self.question
            if question is None or question["kind"] != answer.kind:
                asked = question["kind"] if question else "nothing"
                raise NotAsked(f"the call asks for {asked}, not {answer.kind}")
            words = not all(key in DTMF_KEYS for key in answer.keys)
            if answer.kind == "keys" and words and not question["speech"]:
                raise NotAsked("only the keys 0-9, * and # can be pressed here")
            if answer.kind == "dial" and answer.status not in DIAL_STATUSES:
                raise NotAsked(f"a dial ends {', '.join(sorted(DIAL_STATUSES))}")
        self.question = None
        self._answers.put_nowait(answer)

    def take(self, url: str) -> None:
        """Take the call out of the hold queue it waits in (the caller checked that it does,
        :func:`workflows.people.queue.offer_test_call`) to ``url``, its run's queue action
        naming the agent who takes it, as the REST API redirects a real call.

        Raises :class:`NotAsked` when the call has ended or is being taken out already."""
        if self.ended_by is not None:
            raise NotAsked("the call has ended")
        if self._taken is None:  # not waiting for it yet: it will find it when it does
            self._taken = asyncio.get_running_loop().create_future()
        elif self._taken.done():
            raise NotAsked("the call is being taken out of the queue already")
        self._taken.set_result((url, "POST"))

    # --- the caller, for the softphone ----------------------------------------------------

    def hear(self, line: str) -> None:
        if line.startswith(("Say: ", "Play: ")):
            return  # prompt_heard adds it, with its audio
        self.lines.append(HeardLine(line))

    def prompt_heard(self, prompt: Prompt, url: str | None) -> None:
        if isinstance(prompt, Pause):
            return  # its own "Pause:" line comes through hear()
        if isinstance(prompt, Play):
            audio = self.audio_of(url) if url and self.audio_of else None
            if prompt.digits and not url:
                text = f"Play: digits {prompt.digits}"
            else:
                text = f"Play: {audio or url}"
            self.lines.append(HeardLine(text, audio))
            return
        line = HeardLine(f"Say: {prompt.text}", ready=self.speaker is None)
        self.lines.append(line)
        if self.speaker is not None:
            self._speak(line, prompt)

    async def keys(self, gather: GatherPrompt) -> str | None:
        answer = await self._ask(
            {
                "kind": "keys",
                "speech": gather.speech,
                "dtmf": gather.dtmf,
                "num_digits": gather.num_digits,
                "timeout": gather.timeout,
                "hints": gather.hints,
            }
        )
        return answer.keys or None

    async def dial(self, dial: DialAttempt) -> DialResult:
        answer = await self._ask(
            {"kind": "dial", "targets": list(dial.targets), "timeout": dial.timeout}
        )
        seconds = answer.seconds if answer.status == "completed" else 0
        return DialResult(answer.status, seconds)

    async def record(self, record: RecordPrompt) -> RecordResult | None:
        answer = await self._ask(
            {"kind": "record", "max_seconds": record.max_length, "beep": record.play_beep}
        )
        if answer.seconds <= 0:
            return None
        return RecordResult(answer.seconds, answer.ended_by)

    async def dequeued(self, call_sid: str, followed: int) -> tuple[str, str]:
        """The softphone's wait for a redirect out of a hold queue: the one :meth:`take`
        makes. (Each round of the queue's wait music asks again and is cancelled when it
        ends; the redirect outlives the rounds, so one made between two is not lost.)"""
        if self._taken is None:
            self._taken = asyncio.get_running_loop().create_future()
        taken = self._taken
        redirect = await asyncio.shield(taken)
        if self._taken is taken:
            self._taken = None
        return redirect

    async def _ask(self, question: dict[str, Any]) -> Answer:
        self.question = question
        try:
            async with asyncio.timeout(ANSWER_WITHIN):
                answer = await self._answers.get()
        except TimeoutError:
            self.question = None
            self.lines.append(HeardLine(f"No answer from the page in {ANSWER_WITHIN:g} s"))
            raise CallerHungUp from None
        except asyncio.CancelledError:
            # Taken out of a hold queue while its music asked for keys: nothing asks now.
            if self.question is question:
                self.question = None
            raise
        if answer.kind == "hang_up":
            raise CallerHungUp
        return answer

    def _speak(self, line: HeardLine, say: Say) -> None:
        speaker = self.speaker
        assert speaker is not None

        async def speak() -> None:
            try:
                line.audio = await speaker(say.text, say.language or DEFAULT_LANGUAGE)
            except Exception:
                log.exception("test call %s: could not speak a line", self.id)
            finally:
                line.ready = True

        task = asyncio.create_task(speak(), name=f"test-call-speech:{self.id}")
        self._speaking.add(task)
        task.add_done_callback(self._speaking.discard)

    def speaking(self) -> list[asyncio.Task[None]]:
        """The lines being spoken now (to stop them when the server stops)."""
        return list(self._speaking)

    async def settle(self) -> None:
        """Wait for the lines still being spoken."""
        while self._speaking:
            await asyncio.gather(*self._speaking, return_exceptions=True)


class TestCallPhone:
    """Places and keeps the console's test calls, in this process."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        versions: TestCallVersions,
        *,
        auth_token: str | None,
        public_url: str | None,
        speaker: Speaker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._versions = versions
        self._auth_token = auth_token
        self._public_url = public_url
        self._speaker = speaker
        self._clock = clock
        self._calls: OrderedDict[str, LiveTestCall] = OrderedDict()
        self._running: dict[str, asyncio.Task[None]] = {}

    def place(
        self,
        base_url: str,
        *,
        version_id: int,
        workflow_id: str,
        version: str,
        caller: str,
        called: str,
    ) -> LiveTestCall:
        """Start a test call of ``version_id`` against the webhooks at ``base_url`` (this
        process's own address); returns at once, the call goes on in the background."""
        self._forget_old()
        if len(self._running) >= LIVE_AT_ONCE:
            raise TooManyTestCalls(f"{LIVE_AT_ONCE} test calls are in progress; end one first")
        call_id = new_test_call_id()
        origin = yarl.URL(base_url).origin()
        call = LiveTestCall(
            call_id,
            workflow_id,
            version,
            caller,
            called,
            speaker=self._speaker,
            audio_of=lambda url: self._page_audio(url, origin),
        )
        self._versions.place(call_id, version_id)
        self._calls[call_id] = call
        phone = Softphone(
            base_url,
            auth_token=self._auth_token,
            public_url=self._public_url,
            dequeued=call.dequeued,
        )
        task = asyncio.create_task(self._run(phone, call), name=f"test-call:{call_id}")
        self._running[call_id] = task
        task.add_done_callback(lambda _done: self._running.pop(call_id, None))
        log.info("test call %s: placed, workflow %s version %s", call_id, workflow_id, version)
        return call

    def get(self, call_id: str) -> LiveTestCall | None:
        """A test call placed here (in progress, or ended lately)."""
        return self._calls.get(call_id)

    async def close(self) -> None:
        """Hang up every test call in progress (the server is stopping)."""
        tasks = list(self._running.values())
        for call in self._calls.values():
            tasks.extend(call.speaking())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, phone: Softphone, call: LiveTestCall) -> None:
        try:
            result = await phone.call(call, from_=call.caller, to=call.called, call_sid=call.id)
            ended_by: str = result.ended_by
        except Exception:
            log.exception("test call %s: failed", call.id)
            call.lines.append(HeardLine("Error: the test call failed (see the server's log)"))
            ended_by = "error"
        finally:
            self._versions.ended(call.id)
        await call.settle()
        call.question = None
        call.ended_at = self._clock()
        call.ended_by = ended_by

    def _page_audio(self, url: str, origin: yarl.URL) -> str | None:
        """Where the page finds a ``<Play>``'s audio: a path on this server (the page is
        served from it), or None for audio elsewhere (the page's policy plays no foreign
        media)."""
        wire = yarl.URL(url)
        if not wire.is_absolute():
            return str(wire)
        public = yarl.URL(self._public_url).origin() if self._public_url else None
        if wire.origin() in (origin, public):
            return wire.raw_path_qs
        return None

    def _forget_old(self) -> None:
        now = self._clock()
        for call_id, call in list(self._calls.items()):
            if call.ended_at is not None and now - call.ended_at > KEEP_ENDED:
                del self._calls[call_id]
