"""Logging that never writes phone numbers or secrets in full, and that a caller cannot forge.

Every record passes through ``Masker``:

* configured secrets (auth tokens) are replaced by ``***``;
* phone numbers keep their first two and last two digits: E.164 ones (``+15550001111`` ->
  ``+15***11``, also written ``+1 (555) 000-1111`` or form-encoded ``%2B1555...``) and the
  same numbers written without the ``+`` (``14155550123`` -> ``14***23``, ``4155550123``,
  ``(415) 555-0123``, ``415-555-0123``): a bare run of 10 to 15 digits, or a North American
  number in its usual groups. Dates, times, ports and ids (``CA0123...``) are left alone;
* control characters (``\\r``, ``\\n``, tabs, the rest of C0 and C1, DEL and the Unicode line
  and paragraph separators) in the message are escaped (``\\n``, ``\\x1b``, ``\\u2028``), so a
  value a caller sent (a webhook field, a header) can never start a log line of its own.
  Tracebacks keep their line breaks; every other control character in them is escaped.

Two formats (``RINGFLOW_LOG_FORMAT``): ``text``, one line per record, and ``json``, one JSON
object per line with ``time``, ``level``, ``logger``, ``message`` and the ids of what the
record is about (``call``, ``run``, ``message_sid``, ``job``, ``conversation``...), which the
voice, SMS and job paths bind with :func:`log_context` for the time they handle one thing;
ids and the access log's fields are masked like the message.

The access log (``RINGFLOW_ACCESS_LOG=true``) writes one record per HTTP request to the
``ringflow.access`` logger through :class:`AccessLogger`; its path and query go through the
same masking (a query string can carry a phone number).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

LogFormat = Literal["text", "json"]
ACCESS_LOGGER = "ringflow.access"
_NO_IDS: Mapping[str, str] = MappingProxyType({})
_IDS: ContextVar[Mapping[str, str]] = ContextVar("ringflow_log_ids", default=_NO_IDS)
_ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "remote")

# Twilio sends E.164 (+15550001111); people write +1 (555) 000-1111; forms encode + as %2B.
_PHONE = re.compile(r"(?:\+|%2B)\d[\d\- ().]{5,18}\d(?!\w)", re.IGNORECASE)
# The same numbers without their +: 10 to 15 digits in a row (not part of a word, a decimal
# number or a longer digit run), or a North American number in groups: (415) 555-0123,
# 415-555-0123, 415.555.0123, 1 415 555 0123. Dates (2026-11-26) and times never match.
_BARE_PHONE = re.compile(
    r"(?<![\w.+%-])(?:"
    r"\d{10,15}"
    r"|(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    r")(?![\w-])(?!\.\d)"
)
# C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def mask_phone(match: re.Match[str]) -> str:
    """``+15550001111`` -> ``+15***11``."""
    text = match.group(0)
    digits = re.sub(r"\D", "", text[3:] if text[0] == "%" else text)
    if len(digits) < 7:
        return text
    return f"+{digits[:2]}***{digits[-2:]}"


def mask_bare_phone(match: re.Match[str]) -> str:
    """``14155550123`` -> ``14***23`` (no ``+`` added: the log shows what was written)."""
    digits = re.sub(r"\D", "", match.group(0))
    return f"{digits[:2]}***{digits[-2:]}"


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` on one line: control characters written as escapes (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(_escape, text)


class Masker(logging.Filter):
    """Rewrites each record's message with numbers and secrets masked and control
    characters escaped (see the module docstring)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def mask(self, text: str) -> str:
        """``text`` with secrets and phone numbers masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _PHONE.sub(mask_phone, text)
        return _BARE_PHONE.sub(mask_bare_phone, text)

    def filter(self, record: logging.LogRecord) -> bool:
        # The ids of the moment the record is made (the formatter may run later, elsewhere).
        record.log_ids = _IDS.get()
        message = self.mask(escape_controls(record.getMessage()))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(_CONTROL_BUT_NEWLINE.sub(_escape, record.exc_text))
        record.msg, record.args = message, None
        return True


class log_context:  # noqa: N801 (used like a function: ``with log_context(call=sid):``)
    """Records logged inside the block (in this task) carry ``ids`` (None values are left
    out), on top of those bound by an enclosing block; the JSON format writes them. A class,
    not a generator: it is entered on every webhook."""

    __slots__ = ("_ids", "_token")

    def __init__(self, **ids: object) -> None:
        self._ids = ids
        self._token: Token[Mapping[str, str]] | None = None

    def __enter__(self) -> None:
        known = {name: str(value) for name, value in self._ids.items() if value is not None}
        self._token = _IDS.set({**_IDS.get(), **known})

    def __exit__(self, *_exc: object) -> None:
        if self._token is not None:
            _IDS.reset(self._token)
            self._token = None


def current_log_ids() -> Mapping[str, str]:
    """The ids bound by the enclosing :func:`log_context` blocks."""
    return _IDS.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring). Runs after the
    handler's :class:`Masker`, which has masked the message and the traceback already; it
    masks the ids and the access log's fields with the same ``masker``."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self._masker = masker

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        mask = self._masker.mask
        ids: Mapping[str, str] = getattr(record, "log_ids", _NO_IDS)
        for name, known in ids.items():
            entry[name] = mask(escape_controls(known))
        for name in _ACCESS_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = mask(escape_controls(value)) if isinstance(value, str) else value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message`` and, for a traceback, its lines below."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log as one record per request on ``ringflow.access``: method, path
    with query, status, milliseconds and the peer. The handler's :class:`Masker` masks
    numbers in the message; :class:`JsonFormatter` masks the same fields when it writes them
    apart."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.rel_url.raw_path_qs
        millis = round(time * 1000, 2)
        self.logger.info(
            "%s %s %d %.2fms %s",
            request.method,
            path,
            response.status,
            millis,
            request.remote or "-",
            extra={
                "method": request.method,
                "path": path,
                "status": response.status,
                "duration_ms": millis,
                "remote": request.remote or "-",
            },
        )


def access_log_options(enabled: bool) -> dict[str, Any]:
    """What ``web.run_app`` (or ``web.AppRunner``) is given: the masked access log when
    ``enabled``, else none."""
    if not enabled:
        return {"access_log": None}
    return {"access_log": logging.getLogger(ACCESS_LOGGER), "access_log_class": AccessLogger}


def configure_logging(level: str, secrets: Iterable[str] = (), fmt: LogFormat = "text") -> None:
    """Log to stderr at ``level`` in ``fmt``, every handler masking numbers and ``secrets``."""
    handler = logging.StreamHandler()
    masker = Masker(secrets)
    handler.setFormatter(JsonFormatter(masker) if fmt == "json" else TextFormatter())
    handler.addFilter(masker)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The twilio library logs each API request's URL and headers at INFO (a dozen lines per
    # text); Ringflow logs what it sent itself. Its warnings and errors still show.
    logging.getLogger("twilio.http_client").setLevel(max(logging.WARNING, root.level))
