"""Logging that never writes phone numbers or secrets in full.

Every record passes through ``Masker``: E.164-looking numbers keep their first three and last
two digits (``+15***67``), and configured secrets (auth tokens) are replaced by ``***``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Twilio sends E.164 (+15550001111); people write +1 (555) 000-1111; forms encode + as %2B.
_PHONE = re.compile(r"(?:\+|%2B)\d[\d\- ().]{5,18}\d(?!\w)", re.IGNORECASE)


def mask_phone(match: re.Match[str]) -> str:
    """``+15550001111`` -> ``+15***11``."""
    text = match.group(0)
    digits = re.sub(r"\D", "", text[3:] if text[0] == "%" else text)
    if len(digits) < 7:
        return text
    return f"+{digits[:2]}***{digits[-2:]}"


class Masker(logging.Filter):
    """Rewrites each record's message with numbers and secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def mask(self, text: str) -> str:
        """``text`` with secrets and phone numbers masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _PHONE.sub(mask_phone, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.mask(record.getMessage())
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        record.msg, record.args = message, None
        return True


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr at ``level``, every handler masking numbers and ``secrets``."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Masker(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The twilio library logs each API request's URL and headers at INFO (a dozen lines per
    # text); Ringflow logs what it sent itself. Its warnings and errors still show.
    logging.getLogger("twilio.http_client").setLevel(max(logging.WARNING, root.level))
