"""A softphone: plays Twilio's part in a phone call against a Ringflow server.

:class:`Softphone` talks real HTTP to a running server exactly the way Twilio's voice
engine does: it posts the inbound-call webhook, signs every request with
``X-Twilio-Signature`` when it knows the auth token, executes the TwiML it gets back
verb by verb, follows ``action`` URLs and ``<Redirect>`` s, waits in ``<Enqueue>`` queues
(their wait URL again and again, until a ``<Leave>`` or a REST API redirect takes the call
out), and posts the status callback when the call ends. Whoever plays the caller (and the
far end of a ``<Dial>``) is a :class:`CallerScript`: :class:`ScriptedCaller` for tests,
:class:`TerminalCaller` for ``ringflow call``.

Every line the caller hears (or that describes what happens) goes into the transcript,
with these prefixes: ``Say:``, ``Play:``, ``Pause:``, ``Dial:``, ``Dial result:``,
``Record:``, ``Keys:``, ``Speech:``, ``Silence``, ``Enqueue:``, ``Leave``, ``Left the queue``,
``Dequeued``, ``Hangup``; plus ``Caller hung up`` and ``Error:`` lines.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol, TextIO, TypeAlias, runtime_checkable
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import aiohttp
import yarl
from twilio.request_validator import RequestValidator

from ivr.twiml_reader import (
    DTMF_KEYS,
    Dial,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Pause,
    Play,
    Prompt,
    Record,
    Redirect,
    Reject,
    Say,
    TwimlDocument,
    TwimlError,
    Unsupported,
    parse_twiml,
)

__all__ = [
    "DIAL_STATUSES",
    "CallResult",
    "CallerHungUp",
    "CallerScript",
    "DialAttempt",
    "DialResult",
    "EndedBy",
    "GatherPrompt",
    "InvalidAnswerError",
    "PromptListener",
    "RecordPrompt",
    "RecordResult",
    "RequestRecord",
    "ScriptExhaustedError",
    "ScriptedCaller",
    "Softphone",
    "TerminalCaller",
    "parse_dial_outcome",
    "parse_record_outcome",
]

DIAL_STATUSES: Final = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
"""The values Twilio reports as ``DialCallStatus``."""

EndedBy: TypeAlias = Literal["hangup-verb", "end-of-document", "caller-hangup", "error"]

WEBHOOK_TIMEOUT_SECONDS: Final = 15
"""Twilio gives up on a webhook after 15 seconds."""

MAX_TWIML_BYTES: Final = 64 * 1024
"""Twilio refuses TwiML documents larger than 64 kB (error 11750)."""

_TWIML_CONTENT_TYPES: Final = frozenset({"text/xml", "application/xml", "text/html"})
_USER_AGENT: Final = "TwilioProxy/1.1"


class CallerHungUp(Exception):
    """Raised by a :class:`CallerScript` when the caller hangs up."""


class ScriptExhaustedError(RuntimeError):
    """A :class:`ScriptedCaller` was asked for more answers than it was given."""


class InvalidAnswerError(ValueError):
    """A caller's answer does not fit what the call asked for (e.g. letters for DTMF)."""


# --- what the call asks the caller, and what the caller answers ---------------------------


@dataclass(frozen=True)
class GatherPrompt:
    """A ``<Gather>`` waiting for input. ``num_digits`` None means unlimited."""

    num_digits: int | None
    timeout: int
    finish_on_key: str
    speech: bool = False
    hints: str | None = None
    dtmf: bool = True
    language: str = "en-US"


@dataclass(frozen=True)
class DialAttempt:
    """A ``<Dial>`` ringing ``targets`` (labels like ``+1555...``, ``client:alice``)."""

    targets: tuple[str, ...]
    timeout: int = 30
    caller_id: str | None = None
    record: str = "do-not-record"


@dataclass(frozen=True)
class DialResult:
    """How a ``<Dial>`` ended: a :data:`DIAL_STATUSES` value and the talk time in seconds."""

    status: str
    duration: int = 0

    def __post_init__(self) -> None:
        if self.status not in DIAL_STATUSES:
            allowed = ", ".join(sorted(DIAL_STATUSES))
            raise ValueError(f"dial status {self.status!r} is not one of {allowed}")
        if self.duration < 0:
            raise ValueError("a dial duration cannot be negative")
        if self.status != "completed" and self.duration:
            raise ValueError(f"only a completed dial has a duration, not {self.status!r}")


@dataclass(frozen=True)
class RecordPrompt:
    """A ``<Record>`` about to record."""

    max_length: int = 3600
    timeout: int = 5
    finish_on_key: str = "1234567890*#"
    play_beep: bool = True


@dataclass(frozen=True)
class RecordResult:
    """A recording of ``duration`` seconds and how it ended (Twilio's ``Digits``).

    ``digits`` is ``"hangup"`` when the caller hung up to end it (Twilio then still
    requests the action URL but the call is over), a key from the ``<Record>``'s
    ``finishOnKey`` when the caller pressed it (the call goes on), or ``""`` when the
    recording ended on silence or ``maxLength`` (the call goes on).
    """

    duration: int
    digits: str = "hangup"

    def __post_init__(self) -> None:
        if self.duration < 1:
            raise ValueError("a recording lasts at least 1 second (use None for silence)")
        if self.digits not in ("hangup", "") and (
            len(self.digits) != 1 or self.digits not in DTMF_KEYS
        ):
            raise ValueError(f"recording end {self.digits!r} must be a key, 'hangup' or ''")


@runtime_checkable
class PromptListener(Protocol):
    """A caller that also wants each prompt as the TwiML said it (a ``<Say>`` with its
    language, a ``<Play>`` with its URL resolved), besides the transcript's line: the
    console's test calls play them in the page."""

    def prompt_heard(self, prompt: Prompt, url: str | None) -> None:
        """``prompt`` was heard; ``url``: a ``<Play>``'s audio, resolved (else None)."""
        ...


class CallerScript(Protocol):
    """Who plays the caller and the far end of a call."""

    async def keys(self, gather: GatherPrompt) -> str | None:
        """Keys pressed (or speech, when the gather accepts it); None means silence."""
        ...

    async def dial(self, dial: DialAttempt) -> DialResult:
        """What happens to a ``<Dial>``."""
        ...

    async def record(self, record: RecordPrompt) -> RecordResult | None:
        """The caller's recording; None means the caller stayed silent."""
        ...

    def hear(self, line: str) -> None:
        """One line of transcript."""
        ...


# --- what the call did ----------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the softphone made and what came back.

    ``url`` is the URL requested without the query string a GET adds for ``params``;
    ``status`` is 0 when no HTTP answer arrived (``body`` then holds the error).
    ``kind`` is ``"webhook"`` or ``"status-callback"``.
    """

    url: str
    params: dict[str, str]
    status: int
    body: str
    method: str = "POST"
    kind: str = "webhook"
    signature: str | None = None


@dataclass(frozen=True)
class CallResult:
    """The outcome of :meth:`Softphone.call`.

    ``status`` is ``"completed"``, or ``"busy"`` / ``"no-answer"`` when the first verb
    was a ``<Reject>`` (Twilio never answers such a call). ``duration`` is an estimate
    in seconds. ``warnings`` collects what Twilio would log as TwiML warnings.
    """

    call_sid: str
    status: str
    duration: int
    transcript: tuple[str, ...]
    requests: tuple[RequestRecord, ...]
    ended_by: EndedBy
    warnings: tuple[str, ...] = ()

    @property
    def webhooks(self) -> tuple[RequestRecord, ...]:
        """The webhook requests (everything but the status callback), in order."""
        return tuple(r for r in self.requests if r.kind == "webhook")

    @property
    def status_callback(self) -> RequestRecord | None:
        """The status callback request, if one was sent."""
        return next((r for r in self.requests if r.kind == "status-callback"), None)


# --- callers ----------------------------------------------------------------------------------


def parse_dial_outcome(text: str) -> DialResult:
    """Parse ``"no-answer"``, ``"busy"``, ``"completed:35"`` (35 s of talk) ... ."""
    status, _, seconds = text.strip().partition(":")
    try:
        duration = int(seconds) if seconds else 0
    except ValueError:
        raise ValueError(f"dial outcome {text!r}: {seconds!r} is not a number of seconds") from None
    return DialResult(status=status.strip(), duration=duration)


def parse_record_outcome(text: str | None) -> RecordResult | None:
    """Parse a recording outcome; None, ``""`` or ``"silent"`` mean no recording.

    Accepts ``"recorded:12"`` (12 s, then the caller hangs up), ``"recorded:12:#"``
    (ended with #), ``"recorded:12:timeout"`` (ended on silence), and the same without the
    ``recorded:`` prefix, separated by ``:`` or spaces (``"12 #"``).
    """
    if text is None or text.strip().lower() in ("", "silent", "silence"):
        return None
    body = text.strip()
    if body.lower().startswith("recorded:"):
        body = body[len("recorded:") :]
    parts = body.replace(":", " ").split()
    try:
        duration = int(parts[0])
    except (IndexError, ValueError):
        message = f"recording outcome {text!r} must start with a number of seconds"
        raise ValueError(message) from None
    ending = parts[1] if len(parts) > 1 else "hangup"
    if len(parts) > 2:
        raise ValueError(f"recording outcome {text!r} has too many parts")
    return RecordResult(duration=duration, digits="" if ending == "timeout" else ending)


Answer: TypeAlias = str | CallerHungUp | type[CallerHungUp] | None


class ScriptedCaller:
    """A caller for tests: answers are consumed in order, one per question.

    For :meth:`keys` an answer is the keys/speech text (``""`` or None = silence); for
    :meth:`dial` a status like ``"no-answer"`` or ``"completed:35"``; for :meth:`record`
    ``"recorded:12"`` (see :func:`parse_record_outcome`) or None. A
    :class:`CallerHungUp` (class or instance) in the list makes the caller hang up at
    that point. Running out of answers raises :class:`ScriptExhaustedError`.
    """

    def __init__(self, answers: Iterable[Answer] = ()) -> None:
        self._answers: list[Answer] = list(answers)
        self._used = 0
        self.transcript: list[str] = []
        self.questions: list[GatherPrompt | DialAttempt | RecordPrompt] = []

    @property
    def remaining(self) -> int:
        """How many scripted answers have not been used yet."""
        return len(self._answers) - self._used

    def _next(self, question: GatherPrompt | DialAttempt | RecordPrompt, what: str) -> str | None:
        self.questions.append(question)
        if self._used >= len(self._answers):
            recent = "; ".join(self.transcript[-3:]) or "nothing"
            raise ScriptExhaustedError(
                f"ScriptedCaller ran out of answers: the call asked for {what} ({question}) "
                f"after all {len(self._answers)} scripted answers were used; "
                f"last heard: {recent}"
            )
        answer = self._answers[self._used]
        self._used += 1
        if isinstance(answer, CallerHungUp):
            raise answer
        if isinstance(answer, type):
            raise answer(f"scripted hang-up instead of {what}")
        return answer

    async def keys(self, gather: GatherPrompt) -> str | None:
        """The next answer as keys/speech; ``""`` and None are silence."""
        return self._next(gather, "keys") or None

    async def dial(self, dial: DialAttempt) -> DialResult:
        """The next answer as a dial outcome."""
        answer = self._next(dial, "a dial outcome")
        if answer is None:
            raise ValueError("ScriptedCaller: a dial outcome cannot be None, e.g. 'no-answer'")
        return parse_dial_outcome(answer)

    async def record(self, record: RecordPrompt) -> RecordResult | None:
        """The next answer as a recording outcome."""
        return parse_record_outcome(self._next(record, "a recording"))

    def hear(self, line: str) -> None:
        """Collect a transcript line."""
        self.transcript.append(line)


class TerminalCaller:
    """A caller at a terminal: prints the transcript and asks for answers.

    Lines are read in an executor so the event loop keeps running. End of input, or a
    line ``!hangup``, hangs up.
    """

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self._stdin = stdin
        self._stdout = stdout

    @property
    def _out(self) -> TextIO:
        return self._stdout if self._stdout is not None else sys.stdout

    def hear(self, line: str) -> None:
        """Print a transcript line."""
        print(line, file=self._out, flush=True)

    async def _ask(self, prompt: str) -> str:
        stream = self._stdin if self._stdin is not None else sys.stdin
        self._out.write(prompt)
        self._out.flush()
        line: str = await asyncio.get_running_loop().run_in_executor(None, stream.readline)
        if not line:
            self._out.write("\n")
            raise CallerHungUp("end of input")
        text = line.strip()
        if text.lower() == "!hangup":
            raise CallerHungUp("the caller typed !hangup")
        return text

    async def keys(self, gather: GatherPrompt) -> str | None:
        """Ask for keys (or speech); an empty line is silence."""
        accepts = " or ".join(
            kind for kind, on in (("keys", gather.dtmf), ("speech", gather.speech)) if on
        )
        details = [f"timeout {gather.timeout}s"]
        if gather.num_digits:
            details.append(f"{gather.num_digits} digit(s)")
        if gather.finish_on_key:
            details.append(f"ends with {gather.finish_on_key}")
        while True:
            text = await self._ask(f"[{accepts}; {', '.join(details)}; empty = silence] > ")
            if not text or gather.speech or all(key in DTMF_KEYS for key in text):
                return text or None
            self.hear("(only the keys 0-9, * and # work here)")

    async def dial(self, dial: DialAttempt) -> DialResult:
        """Ask what happens to the dialled call; empty means ``completed:30``."""
        while True:
            text = await self._ask(
                "[dial outcome: completed[:seconds] | busy | no-answer | failed | canceled;"
                " empty = completed:30] > "
            )
            try:
                return parse_dial_outcome(text or "completed:30")
            except ValueError as exc:
                self.hear(f"({exc})")

    async def record(self, record: RecordPrompt) -> RecordResult | None:
        """Ask how long the caller speaks and how the recording ends; empty is silence."""
        while True:
            text = await self._ask(
                f"[recording up to {record.max_length}s: seconds [key | timeout | hangup],"
                " default ending hangup; empty = silent] > "
            )
            try:
                result = parse_record_outcome(text)
            except ValueError as exc:
                self.hear(f"({exc})")
                continue
            if result is None or result.digits in ("", "hangup"):
                return result
            if result.digits in record.finish_on_key:
                return result
            self.hear(f"(only {record.finish_on_key} end this recording)")


# --- the softphone ----------------------------------------------------------------------------


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` appended to its query string (what Twilio does for GET)."""
    parts = urlsplit(url)
    extra = urlencode(list(params.items()))
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit(parts._replace(query=query))


@dataclass(frozen=True)
class _Request:
    """A webhook request the call has to make next."""

    url: str
    method: str
    extra: Mapping[str, str]


_WaitOutcome: TypeAlias = _Request | Literal["left", "again"] | EndedBy
"""How one round of waiting in a queue ended."""


class Softphone:
    """Plays Twilio's side of phone calls against the server at ``base_url``.

    ``public_url`` is the address Twilio would use for the server (e.g. an ngrok URL):
    signatures are computed over it, and absolute TwiML URLs under it are sent to
    ``base_url`` instead. Without ``auth_token`` requests are not signed. A ``session``
    passed in is used but not closed. ``max_requests`` bounds the webhook requests of a
    single call (a guard against ``<Redirect>`` loops).

    ``dequeued`` is how a call waiting in a queue (``<Enqueue>``) is taken out by the business,
    as Twilio's REST API does when it redirects a live call: given the call's SID and how many
    such redirects the call has followed, it waits for the next one and gives its URL and
    method. Without it a call leaves a queue only by a ``<Leave>``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth_token: str | None = None,
        public_url: str | None = None,
        voice_path: str = "/twilio/voice",
        status_path: str = "/twilio/voice/status",
        session: aiohttp.ClientSession | None = None,
        max_requests: int = 200,
        dequeued: Callable[[str, int], Awaitable[tuple[str, str]]] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.public_url = public_url.rstrip("/") if public_url else None
        self.voice_path = voice_path
        self.status_path = status_path
        self.max_requests = max_requests
        self.dequeued = dequeued
        self.account_sid = _sid("AC")
        self._validator = RequestValidator(auth_token) if auth_token else None
        self._session = session
        self._origin = yarl.URL(self.base_url).origin()

    async def call(
        self,
        caller: CallerScript,
        *,
        from_: str = "+15005550006",
        to: str = "+15005550001",
        call_sid: str | None = None,
    ) -> CallResult:
        """Place one inbound call and run it to its end."""
        run = _Call(self, caller, call_sid or _sid("CA"), from_, to)
        if self._session is not None:
            return await run.run(self._session)
        async with aiohttp.ClientSession() as session:
            return await run.run(session)

    def twilio_url(self, url: str) -> str:
        """The URL Twilio would have been given for a request to ``url`` (used to sign)."""
        wire = yarl.URL(url)
        if self.public_url is None or wire.origin() != self._origin:
            return str(wire)
        return self.public_url + wire.raw_path_qs

    def actual_url(self, url: str) -> str:
        """Where to send a request for ``url``: public URLs map back to ``base_url``."""
        public = self.public_url
        if public and (url == public or url.startswith((public + "/", public + "?"))):
            return str(self._origin) + url[len(public) :]
        return url

    def signature(self, url: str, params: Mapping[str, str]) -> str | None:
        """``X-Twilio-Signature`` for a request to ``url`` (None without an auth token).

        ``params`` are the POST form fields; for GET pass ``{}`` and a ``url`` that
        already carries the query string.
        """
        if self._validator is None:
            return None
        return str(self._validator.compute_signature(self.twilio_url(url), dict(params)))


class _Call:
    """The state of one call in progress."""

    def __init__(
        self, phone: Softphone, caller: CallerScript, call_sid: str, from_: str, to: str
    ) -> None:
        self.phone = phone
        self.caller = caller
        self.call_sid = call_sid
        self.from_ = from_
        self.to = to
        self.transcript: list[str] = []
        self.requests: list[RequestRecord] = []
        self.warnings: list[str] = []
        self.duration = 0
        self.webhook_count = 0
        self.status = "completed"
        self.forbidden_at_start = False
        self.session: aiohttp.ClientSession | None = None
        self.redirects_followed = 0
        """REST API redirects this call followed (each takes it out of a queue)."""

    # plumbing ---------------------------------------------------------------------------

    def hear(self, line: str) -> None:
        self.transcript.append(line)
        self.caller.hear(line)

    def params(self, call_status: str) -> dict[str, str]:
        return {
            "AccountSid": self.phone.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call_sid,
            "CallStatus": call_status,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": "inbound",
            "From": self.from_,
            "To": self.to,
        }

    def resolve(self, document_url: str, ref: str | None) -> str:
        return self.phone.actual_url(urljoin(document_url, ref) if ref else document_url)

    async def send(
        self, url: str, method: str, params: dict[str, str], kind: str
    ) -> tuple[RequestRecord, bytes, str]:
        """Make one request; returns its record, the raw body and the content type."""
        assert self.session is not None
        wire = str(yarl.URL(_with_query(url, params) if method == "GET" else url))
        signature = self.phone.signature(wire, {} if method == "GET" else params)
        headers = {"User-Agent": _USER_AGENT, "Accept": "*/*"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        try:
            async with self.session.request(
                method,
                yarl.URL(wire, encoded=True),
                data=params if method == "POST" else None,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS),
            ) as response:
                raw = await response.read()
                status = response.status
                content_type = response.content_type if "Content-Type" in response.headers else ""
                body = _decode(raw, response.charset)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raw, status, content_type = b"", 0, ""
            body = f"{type(exc).__name__}: {exc}"
        record = RequestRecord(url, dict(params), status, body, method, kind, signature)
        self.requests.append(record)
        return record, raw, content_type

    async def webhook(self, request: _Request, *, execute: bool = True) -> TwimlDocument | None:
        """Request TwiML; None (after an ``Error:`` line) when the call cannot go on."""
        if self.webhook_count >= self.phone.max_requests:
            self.hear(
                f"Error: more than {self.phone.max_requests} webhook requests in one call;"
                " stopping (a <Redirect> or <Gather> loop?)"
            )
            return None
        self.webhook_count += 1
        first = self.webhook_count == 1
        params = self.params("ringing" if first else "in-progress") | dict(request.extra)
        record, raw, content_type = await self.send(request.url, request.method, params, "webhook")
        if not execute:
            return None
        if record.status != 200:
            if record.status == 0:
                self.hear(f"Error: {request.method} {request.url} failed: {record.body}")
            else:
                self.hear(f"Error: {request.method} {request.url} answered HTTP {record.status}")
            self.forbidden_at_start = first and record.status == 403
            return None
        if content_type.startswith("audio/"):
            # Twilio plays an audio answer to the caller, then the document is over.
            return TwimlDocument(verbs=(Play(url=request.url),))
        if content_type not in _TWIML_CONTENT_TYPES:
            shown = content_type or "no Content-Type"
            self.hear(
                f"Error: {request.url} answered with {shown}; Twilio needs TwiML as "
                "text/xml or application/xml (error 12300)"
            )
            return None
        if len(raw) > MAX_TWIML_BYTES:
            self.hear(f"Error: {request.url} answered more than 64 kB of TwiML (error 11750)")
            return None
        try:
            document = parse_twiml(raw)
        except TwimlError as exc:
            self.hear(f"Error: {request.url} did not answer valid TwiML: {exc}")
            return None
        self.warnings.extend(f"{request.url}: {warning}" for warning in document.warnings)
        return document

    # the call -----------------------------------------------------------------------------

    async def run(self, session: aiohttp.ClientSession) -> CallResult:
        self.session = session
        request = _Request(self.phone.base_url + self.phone.voice_path, "POST", {})
        ended_by: EndedBy
        try:
            while True:
                document = await self.webhook(request)
                if document is None:
                    ended_by = "error"
                    break
                outcome = await self.execute(document, request.url)
                if isinstance(outcome, _Request):
                    request = outcome
                    continue
                ended_by = outcome
                break
        except CallerHungUp:
            self.hear("Caller hung up")
            ended_by = "caller-hangup"
        if not self.forbidden_at_start:
            params = self.params(self.status)
            params["CallDuration"] = str(self.duration)
            url = self.phone.base_url + self.phone.status_path
            await self.send(url, "POST", params, "status-callback")
        return CallResult(
            call_sid=self.call_sid,
            status=self.status,
            duration=self.duration,
            transcript=tuple(self.transcript),
            requests=tuple(self.requests),
            ended_by=ended_by,
            warnings=tuple(self.warnings),
        )

    async def execute(self, document: TwimlDocument, url: str) -> _Request | EndedBy:
        """Run a document's verbs; returns the next request or how the call ended."""
        for index, verb in enumerate(document.verbs):
            outcome: _Request | EndedBy | None = None
            if isinstance(verb, Say | Play | Pause):
                self.play(verb, url)
            elif isinstance(verb, Gather):
                outcome = await self.gather(verb, url)
            elif isinstance(verb, Redirect):
                outcome = _Request(self.resolve(url, verb.url), verb.method, {})
            elif isinstance(verb, Dial):
                outcome = await self.dial(verb, url)
            elif isinstance(verb, Record):
                outcome = await self.record(verb, url)
            elif isinstance(verb, Enqueue):
                outcome = await self.enqueue(verb, url)
            elif isinstance(verb, Leave):
                self.hear("Leave (not in a queue: nothing to leave)")
            elif isinstance(verb, Hangup):
                self.hear("Hangup")
                return "hangup-verb"
            elif isinstance(verb, Reject):
                if self.webhook_count == 1 and index == 0:
                    # Never answered: no billing, and the call ends busy / no-answer.
                    self.status = "busy" if verb.reason == "busy" else "no-answer"
                self.hear(f"Hangup (rejected: {verb.reason})")
                return "hangup-verb"
            elif isinstance(verb, Unsupported):
                self.hear(f"Error: the softphone cannot simulate <{verb.tag}>")
                return "error"
            if outcome is not None:
                return outcome
        self.hear("Hangup (end of document)")
        return "end-of-document"

    # queues ---------------------------------------------------------------------------------

    async def enqueue(self, verb: Enqueue, url: str) -> _Request | EndedBy | None:
        """Wait in the queue: the wait URL's TwiML again and again (the caller may press keys
        there) until a ``<Leave>`` (then the ``<Enqueue>``'s action, with ``QueueResult``
        ``leave``) or a REST API redirect takes the call out (then the redirect's URL)."""
        self.hear(f"Enqueue: {verb.queue}")
        entered = self.duration
        while True:
            if self.phone.dequeued is None:
                outcome: _WaitOutcome = await self.wait_once(verb, url, entered)
            else:
                outcome = await self.until_dequeued(self.wait_once(verb, url, entered))
            if isinstance(outcome, _Request):
                self.hear("Dequeued (redirected by the REST API)")
                return outcome
            if outcome == "left":
                break
            if outcome != "again":
                return outcome
        self.hear(f"Left the queue {verb.queue}")
        if verb.action is None:
            return None
        extra = {"QueueResult": "leave", "QueueTime": str(self.duration - entered)}
        return _Request(self.resolve(url, verb.action), verb.method, extra)

    async def until_dequeued(self, work: Awaitable[_WaitOutcome]) -> _WaitOutcome:
        """``work``, unless the call is redirected first (then the redirect's request; the
        wait is abandoned, as Twilio stops the wait music)."""
        assert self.phone.dequeued is not None
        waiting = asyncio.ensure_future(work)
        taken = asyncio.ensure_future(self.phone.dequeued(self.call_sid, self.redirects_followed))
        try:
            await asyncio.wait({waiting, taken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, taken):
                if not task.done():
                    task.cancel()
        if taken.done() and not taken.cancelled():
            self.redirects_followed += 1
            redirect_url, method = taken.result()
            return _Request(self.phone.actual_url(redirect_url), method, {})
        return waiting.result()

    async def wait_once(self, verb: Enqueue, url: str, entered: int) -> _WaitOutcome:
        """One round of the queue's wait TwiML."""
        if verb.wait_url is None:
            self.hear("Play: Twilio's hold music")
            self.duration += 30
            await asyncio.sleep(0.05)  # a waiting call, not a busy loop
            return "again"
        extra = {"QueueTime": str(self.duration - entered)}
        request = _Request(self.resolve(url, verb.wait_url), verb.wait_url_method, extra)
        document = await self.webhook(request, execute=True)
        if document is None:
            return "error"
        return await self.in_queue(document, request.url)

    async def in_queue(self, document: TwimlDocument, url: str) -> _WaitOutcome:
        """A document heard while waiting: prompts, a keypress whose answer is heard in the
        queue too, ``<Leave>``, ``<Redirect>`` to another wait document, ``<Hangup>``."""
        for verb in document.verbs:
            if isinstance(verb, Say | Play | Pause):
                self.play(verb, url)
            elif isinstance(verb, Gather | Redirect):
                if isinstance(verb, Gather):
                    request = await self.gather(verb, url)
                else:
                    request = _Request(self.resolve(url, verb.url), verb.method, {})
                if request is None:
                    continue
                answer = await self.webhook(request)
                if answer is None:
                    return "error"
                return await self.in_queue(answer, request.url)
            elif isinstance(verb, Leave):
                self.hear("Leave")
                return "left"
            elif isinstance(verb, Hangup):
                self.hear("Hangup")
                return "hangup-verb"
            else:
                tag = type(verb).__name__ if not isinstance(verb, Unsupported) else verb.tag
                self.hear(f"Error: <{tag}> cannot be used while waiting in a queue")
                return "error"
        return "again"

    def play(self, prompt: Prompt, document_url: str) -> None:
        if isinstance(self.caller, PromptListener):
            audio = None
            if isinstance(prompt, Play) and prompt.url:
                audio = self.resolve(document_url, prompt.url)
            self.caller.prompt_heard(prompt, audio)
        if isinstance(prompt, Pause):
            self.hear(f"Pause: {prompt.length}s")
            self.duration += prompt.length
            return
        if isinstance(prompt, Say):
            line = f"Say: {prompt.text}"
        elif prompt.digits and not prompt.url:
            line = f"Play: digits {prompt.digits}"
        else:
            line = f"Play: {prompt.url}"
        if prompt.loop != 1:
            line += " (looping)" if prompt.loop == 0 else f" (x{prompt.loop})"
        self.hear(line)
        self.duration += max(prompt.loop, 1)

    async def gather(self, gather: Gather, url: str) -> _Request | None:
        for prompt in gather.prompts:
            self.play(prompt, url)
        question = GatherPrompt(
            num_digits=gather.num_digits,
            timeout=gather.timeout,
            finish_on_key=gather.finish_on_key,
            speech=gather.speech,
            hints=gather.hints,
            dtmf=gather.dtmf,
            language=gather.language,
        )
        answer = await self.caller.keys(question)
        action = self.resolve(url, gather.action)
        extra: dict[str, str] = {}
        if answer and gather.dtmf and all(key in DTMF_KEYS for key in answer):
            self.hear(f"Keys: {answer}")
            digits, finished_on = _collect_digits(answer, gather.num_digits, gather.finish_on_key)
            if digits:
                extra = {"Digits": digits, "FinishedOnKey": finished_on}
        elif answer and gather.speech:
            self.hear(f"Speech: {answer}")
            extra = {"SpeechResult": answer, "Confidence": "0.9"}
        elif answer:
            raise InvalidAnswerError(
                f"the caller answered {answer!r} but this <Gather> only accepts the keys 0-9,"
                " * and # (add input='dtmf speech' to accept speech)"
            )
        else:
            self.hear("Silence")
            self.duration += gather.timeout
        if extra or gather.action_on_empty_result:
            return _Request(action, gather.method, extra)
        return None  # Twilio falls through to the next verb

    async def dial(self, dial: Dial, url: str) -> _Request | None:
        targets = tuple(target.label for target in dial.targets)
        self.hear("Dial: " + ", ".join(targets))
        result = await self.caller.dial(
            DialAttempt(targets, dial.timeout, dial.caller_id, dial.record)
        )
        self.hear(f"Dial result: {result.status}")
        self.duration += result.duration
        if dial.action is None:
            return None  # Twilio continues with the next verb
        extra = {
            "DialCallStatus": result.status,
            "DialCallDuration": str(result.duration if result.status == "completed" else 0),
            "DialCallSid": _sid("CA"),
        }
        if dial.record != "do-not-record" and result.status == "completed" and result.duration:
            extra |= self.recording(result.duration)
        return _Request(self.resolve(url, dial.action), dial.method, extra)

    async def record(self, record: Record, url: str) -> _Request | EndedBy | None:
        self.hear("Record: (beep)" if record.play_beep else "Record: (no beep)")
        result = await self.caller.record(
            RecordPrompt(record.max_length, record.timeout, record.finish_on_key, record.play_beep)
        )
        if result is None:
            self.hear("Silence")
            self.duration += record.timeout
            return None  # no audio: Twilio skips the action and goes on
        if result.digits not in ("", "hangup") and result.digits not in record.finish_on_key:
            raise InvalidAnswerError(
                f"the recording ended with {result.digits!r}, which is not in this <Record>'s"
                f" finishOnKey {record.finish_on_key!r}"
            )
        seconds = min(result.duration, record.max_length)
        self.duration += seconds
        how = {"hangup": "caller hung up", "": "silence"}.get(result.digits, result.digits)
        self.hear(f"Record: {seconds}s recorded, ended by {how}")
        extra = self.recording(seconds)
        if result.digits:
            extra["Digits"] = result.digits
        request = _Request(self.resolve(url, record.action), record.method, extra)
        if result.digits != "hangup":
            return request
        # The caller is gone: Twilio still posts the recording but ignores the answer.
        await self.webhook(request, execute=False)
        self.hear("Caller hung up")
        return "caller-hangup"

    def recording(self, seconds: int) -> dict[str, str]:
        sid = _sid("RE")
        return {
            "RecordingUrl": (
                f"https://api.twilio.com/2010-04-01/Accounts/{self.phone.account_sid}"
                f"/Recordings/{sid}"
            ),
            "RecordingSid": sid,
            "RecordingDuration": str(seconds),
        }


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return raw.decode("utf-8", errors="replace")


def _collect_digits(keys: str, num_digits: int | None, finish_on_key: str) -> tuple[str, str]:
    """The ``Digits`` a gather collects from ``keys``, and the finish key that ended it."""
    digits = ""
    for key in keys:
        if finish_on_key and key == finish_on_key:
            return digits, key
        digits += key
        if num_digits is not None and len(digits) >= num_digits:
            break
    return digits, ""
