"""Read TwiML voice documents into small frozen dataclasses.

Pure parsing, no I/O: :func:`parse_twiml` turns the body of a webhook answer into a
:class:`TwimlDocument` whose ``verbs`` the softphone executes in document order.

Attribute handling follows Twilio: attribute values that Twilio would reject with a
*warning* (a bad ``timeout``, an unknown ``method`` ...) fall back to the documented
default and are reported in ``TwimlDocument.warnings``; problems Twilio treats as a
broken document (not XML, no ``<Response>`` root, a ``<Redirect>`` without URL, a
``<Dial>`` without a target, a verb nested where it is not allowed) raise
:class:`TwimlError`. Verbs the softphone cannot simulate are kept as
:class:`Unsupported` so the verbs before them still run.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "DTMF_KEYS",
    "Dial",
    "DialTarget",
    "Enqueue",
    "Gather",
    "Hangup",
    "Leave",
    "Pause",
    "Play",
    "Prompt",
    "Record",
    "Redirect",
    "Reject",
    "Say",
    "TwimlDocument",
    "TwimlError",
    "Unsupported",
    "Verb",
    "parse_twiml",
]

DTMF_KEYS = "0123456789*#"
"""The keys of a telephone keypad."""

_DOCTYPE = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_DIAL_NOUNS = {
    "Number": "number",
    "Sip": "sip",
    "Client": "client",
    "Queue": "queue",
    "Conference": "conference",
}


class TwimlError(ValueError):
    """The document is not TwiML that Twilio could execute."""


@dataclass(frozen=True)
class Say:
    """``<Say>``: text-to-speech. ``loop`` 0 means "repeat until the call moves on"."""

    text: str
    voice: str | None = None
    language: str | None = None
    loop: int = 1


@dataclass(frozen=True)
class Play:
    """``<Play>``: an audio URL, or DTMF ``digits`` played into the call."""

    url: str
    loop: int = 1
    digits: str | None = None


@dataclass(frozen=True)
class Pause:
    """``<Pause>``: silence for ``length`` seconds."""

    length: int = 1


Prompt: TypeAlias = Say | Play | Pause
"""The verbs that may be nested in ``<Gather>``."""


@dataclass(frozen=True)
class Gather:
    """``<Gather>``: collect DTMF keys and/or speech, playing ``prompts`` meanwhile."""

    action: str | None = None
    method: str = "POST"
    num_digits: int | None = None
    timeout: int = 5
    finish_on_key: str = "#"
    dtmf: bool = True
    speech: bool = False
    hints: str | None = None
    action_on_empty_result: bool = False
    language: str = "en-US"
    prompts: tuple[Prompt, ...] = ()


@dataclass(frozen=True)
class Redirect:
    """``<Redirect>``: continue with the TwiML found at ``url``."""

    url: str
    method: str = "POST"


@dataclass(frozen=True)
class DialTarget:
    """One noun of a ``<Dial>``: kind is number, sip, client, queue or conference."""

    kind: str
    value: str

    @property
    def label(self) -> str:
        """How the target reads in a transcript (``client:alice``, ``+1555...``)."""
        if self.kind in ("number", "sip"):
            return self.value
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Dial:
    """``<Dial>``: connect the caller to another party."""

    targets: tuple[DialTarget, ...]
    action: str | None = None
    method: str = "POST"
    timeout: int = 30
    caller_id: str | None = None
    record: str = "do-not-record"


@dataclass(frozen=True)
class Record:
    """``<Record>``: record the caller's voice."""

    action: str | None = None
    method: str = "POST"
    max_length: int = 3600
    timeout: int = 5
    finish_on_key: str = "1234567890*#"
    play_beep: bool = True
    transcribe: bool = False


@dataclass(frozen=True)
class Enqueue:
    """``<Enqueue>``: wait in the queue ``queue`` hearing ``wait_url``'s TwiML (again and
    again) until the call is taken out (redirected through the REST API) or a ``<Leave>``
    ends the wait; then ``action`` is requested with ``QueueResult``."""

    queue: str
    action: str | None = None
    method: str = "POST"
    wait_url: str | None = None
    wait_url_method: str = "POST"


@dataclass(frozen=True)
class Leave:
    """``<Leave/>``: leave the queue the call waits in (from its wait music or a key's
    answer there); the ``<Enqueue>``'s action comes next."""


@dataclass(frozen=True)
class Hangup:
    """``<Hangup/>``: end the call."""


@dataclass(frozen=True)
class Reject:
    """``<Reject/>``: refuse the call (unanswered and unbilled when it is the first verb)."""

    reason: str = "rejected"


@dataclass(frozen=True)
class Unsupported:
    """A verb the softphone does not simulate (``<Connect>``, ``<Stream>`` ...)."""

    tag: str


Verb: TypeAlias = (
    Say
    | Play
    | Pause
    | Gather
    | Redirect
    | Dial
    | Record
    | Enqueue
    | Leave
    | Hangup
    | Reject
    | Unsupported
)


@dataclass(frozen=True)
class TwimlDocument:
    """A parsed ``<Response>``: its verbs in document order plus Twilio-style warnings."""

    verbs: tuple[Verb, ...]
    warnings: tuple[str, ...] = ()


def parse_twiml(body: str | bytes) -> TwimlDocument:
    """Parse a TwiML voice document.

    Raises :class:`TwimlError` when Twilio could not execute the document at all.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not raw.strip():
        raise TwimlError("the response body is empty, expected a TwiML <Response>")
    if _DOCTYPE.search(raw):
        # TwiML never needs a DTD; refusing them keeps entity expansion out of the parser.
        raise TwimlError("the response contains a DOCTYPE/ENTITY declaration, which TwiML forbids")
    try:
        root = ET.fromstring(raw)  # noqa: S314 - DTDs refused above, no external entities
    except ET.ParseError as exc:
        raise TwimlError(f"the response is not well-formed XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, TwiML needs <Response>")
    reader = _Reader()
    verbs = tuple(reader.verb(child) for child in root)
    return TwimlDocument(verbs=verbs, warnings=tuple(reader.warnings))


def _text(element: ET.Element) -> str:
    """The element's text content (SSML children included), whitespace collapsed."""
    return " ".join("".join(element.itertext()).split())


class _Reader:
    """Turns elements into verb dataclasses, collecting warnings on the way."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def verb(self, element: ET.Element) -> Verb:
        tag = element.tag
        if tag in ("Say", "Play", "Pause"):
            return self.prompt(element)
        if tag == "Gather":
            return self.gather(element)
        if tag == "Redirect":
            url = _text(element)
            if not url:
                raise TwimlError("<Redirect> needs a URL as its text")
            return Redirect(url=url, method=self.method(element))
        if tag == "Dial":
            return self.dial(element)
        if tag == "Record":
            return self.record(element)
        if tag == "Enqueue":
            return self.enqueue(element)
        if tag == "Leave":
            return Leave()
        if tag == "Hangup":
            return Hangup()
        if tag == "Reject":
            reason = element.get("reason", "rejected")
            if reason not in ("rejected", "busy"):
                self.warn(f"<Reject> reason={reason!r} is invalid; using 'rejected'")
                reason = "rejected"
            return Reject(reason=reason)
        return Unsupported(tag=tag)

    def prompt(self, element: ET.Element) -> Prompt:
        tag = element.tag
        if tag == "Say":
            return Say(
                text=_text(element),
                voice=element.get("voice"),
                language=element.get("language"),
                loop=self.integer(element, "loop", 1, minimum=0),
            )
        if tag == "Play":
            digits = element.get("digits")
            if digits is not None and not re.fullmatch(r"[0-9*#wW]+", digits):
                self.warn(f"<Play> digits={digits!r} is invalid; ignoring it")
                digits = None
            return Play(
                url=_text(element), loop=self.integer(element, "loop", 1, minimum=0), digits=digits
            )
        if tag == "Pause":
            return Pause(length=self.integer(element, "length", 1, minimum=1))
        raise TwimlError(f"<{tag}> cannot be nested in <Gather>; only Say, Play and Pause can")

    def gather(self, element: ET.Element) -> Gather:
        modes = element.get("input", "dtmf").split()
        if not modes or not set(modes) <= {"dtmf", "speech"}:
            self.warn(f"<Gather> input={element.get('input')!r} is invalid; using 'dtmf'")
            modes = ["dtmf"]
        finish_on_key = element.get("finishOnKey", "#")
        if len(finish_on_key) > 1 or (finish_on_key and finish_on_key not in DTMF_KEYS):
            self.warn(f"<Gather> finishOnKey={finish_on_key!r} is invalid; using '#'")
            finish_on_key = "#"
        return Gather(
            action=self.url(element, "action"),
            method=self.method(element),
            num_digits=self.optional_integer(element, "numDigits"),
            timeout=self.integer(element, "timeout", 5, minimum=1),
            finish_on_key=finish_on_key,
            dtmf="dtmf" in modes,
            speech="speech" in modes,
            hints=element.get("hints"),
            action_on_empty_result=self.boolean(element, "actionOnEmptyResult", False),
            language=element.get("language", "en-US"),
            prompts=tuple(self.prompt(child) for child in element),
        )

    def dial(self, element: ET.Element) -> Dial:
        targets: list[DialTarget] = []
        for child in element:
            kind = _DIAL_NOUNS.get(child.tag)
            if kind is None:
                raise TwimlError(f"<{child.tag}> cannot be nested in <Dial>")
            identity = child.find("Identity") if kind == "client" else None
            value = _text(identity if identity is not None else child)
            if not value:
                raise TwimlError(f"<Dial><{child.tag}> is empty")
            targets.append(DialTarget(kind=kind, value=value))
        if not len(element) and (number := _text(element)):
            targets.append(DialTarget(kind="number", value=number))
        if not targets:
            raise TwimlError("<Dial> has nothing to dial")
        return Dial(
            targets=tuple(targets),
            action=self.url(element, "action"),
            method=self.method(element),
            timeout=self.integer(element, "timeout", 30, minimum=1),
            caller_id=element.get("callerId"),
            record=element.get("record", "do-not-record"),
        )

    def enqueue(self, element: ET.Element) -> Enqueue:
        queue = _text(element)
        if not queue or len(element):
            raise TwimlError("<Enqueue> needs a queue name as its text (and nothing else)")
        wait_method = element.get("waitUrlMethod", "POST").upper()
        if wait_method not in ("GET", "POST"):
            self.warn(f"<Enqueue> waitUrlMethod={wait_method!r} is invalid; using POST")
            wait_method = "POST"
        return Enqueue(
            queue=queue,
            action=self.url(element, "action"),
            method=self.method(element),
            wait_url=self.url(element, "waitUrl"),
            wait_url_method=wait_method,
        )

    def record(self, element: ET.Element) -> Record:
        if len(element):
            raise TwimlError("<Record> cannot contain other verbs")
        finish_on_key = element.get("finishOnKey", "1234567890*#")
        if any(key not in DTMF_KEYS for key in finish_on_key):
            self.warn(f"<Record> finishOnKey={finish_on_key!r} is invalid; using '1234567890*#'")
            finish_on_key = "1234567890*#"
        return Record(
            action=self.url(element, "action"),
            method=self.method(element),
            max_length=self.integer(element, "maxLength", 3600, minimum=1),
            timeout=self.integer(element, "timeout", 5, minimum=0),
            finish_on_key=finish_on_key,
            play_beep=self.boolean(element, "playBeep", True),
            transcribe=self.boolean(element, "transcribe", False),
        )

    # attribute helpers -----------------------------------------------------------------

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def url(self, element: ET.Element, name: str) -> str | None:
        value = (element.get(name) or "").strip()
        return value or None

    def method(self, element: ET.Element) -> str:
        value = element.get("method", "POST")
        if value.upper() not in ("GET", "POST"):
            self.warn(f"<{element.tag}> method={value!r} is invalid; using POST")
            return "POST"
        return value.upper()

    def integer(self, element: ET.Element, name: str, default: int, *, minimum: int) -> int:
        value = element.get(name)
        if value is None:
            return default
        try:
            number = int(value.strip())
        except ValueError:
            number = minimum - 1
        if number < minimum:
            self.warn(f"<{element.tag}> {name}={value!r} is invalid; using {default}")
            return default
        return number

    def optional_integer(self, element: ET.Element, name: str) -> int | None:
        if element.get(name) is None:
            return None
        number = self.integer(element, name, 0, minimum=1)
        return number or None

    def boolean(self, element: ET.Element, name: str, default: bool) -> bool:
        value = element.get(name)
        if value is None:
            return default
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.warn(f"<{element.tag}> {name}={value!r} is invalid; using {str(default).lower()}")
        return default
