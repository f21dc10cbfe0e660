"""How often a number is answered automatically: two auto-responders must not loop, and a
number that opted out is not texted again and again.

Two rules, both counted in the messages table by the server's clock (so every instance and
worker agrees, and a restart forgets nothing):

* :class:`ReplyLimit`: a text received from a number that has already been sent ``count``
  texts in the last ``window`` (any texts: replies, keyword answers, post-call texts) is
  recorded but not answered: no keyword reply, no ``sms.received`` workflow, no answer to a
  waiting SMS menu. An auto-responder texting back each of our texts gets ``count`` answers
  and then silence, which ends the loop. Settings ``RINGFLOW_SMS_REPLY_LIMIT`` (10) and
  ``RINGFLOW_SMS_REPLY_WINDOW_SECONDS`` (600).
* :func:`answered_since`: whether a number got a given kind of reply (by its key prefix,
  e.g. ``help:``) since a moment; HELP to an opted-out number is answered at most once per
  :data:`COMPLIANCE_EVERY`, and so is a STOP from a number that had already opted out (the
  first STOP is always confirmed).

Plain functions of a SQLAlchemy ``Connection``, run inside the caller's write transaction
(after the contact is locked, for the workflow path), so two texts handled at once cannot
both pass the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection, func, select

from ringflow.settings import DEFAULT_SMS_REPLY_LIMIT, DEFAULT_SMS_REPLY_WINDOW_SECONDS, Settings
from sms.db import messages

__all__ = ["COMPLIANCE_EVERY", "ReplyLimit", "answered_since"]

COMPLIANCE_EVERY: Final = timedelta(days=1)
"""How often a number that opted out is answered a HELP, or a repeated STOP."""


@dataclass(frozen=True, slots=True)
class ReplyLimit:
    """At most ``count`` texts to one number within ``window`` before its texts go
    unanswered (see the module docstring)."""

    count: int = DEFAULT_SMS_REPLY_LIMIT
    window: timedelta = timedelta(seconds=DEFAULT_SMS_REPLY_WINDOW_SECONDS)

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplyLimit:
        """The limit ``RINGFLOW_SMS_REPLY_LIMIT`` / ``..._WINDOW_SECONDS`` configure."""
        return cls(settings.sms_reply_limit, timedelta(seconds=settings.sms_reply_window_seconds))

    def reached(self, conn: Connection, number: str, now: datetime) -> bool:
        """Whether ``number`` (E.164) was sent ``count`` texts in the ``window`` before
        ``now``."""
        recent = (
            select(messages.c.id)
            .where(
                messages.c.contact_number == number,
                messages.c.direction == "outbound",
                messages.c.created_at > now - self.window,
            )
            .limit(self.count)
            .subquery()
        )
        sent = conn.execute(select(func.count()).select_from(recent)).scalar_one()
        return int(sent) >= self.count

    def describe(self) -> str:
        """The limit in words, for the log."""
        return f"{self.count} texts in {_duration(self.window)} (RINGFLOW_SMS_REPLY_LIMIT)"


def _duration(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def answered_since(conn: Connection, number: str, key_prefix: str, since: datetime) -> bool:
    """Whether ``number`` (E.164) was sent a text keyed ``key_prefix...`` after ``since``."""
    found = conn.execute(
        select(messages.c.id)
        .where(
            messages.c.contact_number == number,
            messages.c.direction == "outbound",
            messages.c.created_at > since,
            messages.c.idempotency_key.startswith(key_prefix, autoescape=True),
        )
        .limit(1)
    ).first()
    return found is not None
