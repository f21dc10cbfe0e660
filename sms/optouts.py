"""Opted-out numbers: no automated text ever goes to a number in the ``opt_outs`` table.

A number is opted out when its owner texts a STOP keyword (source ``keyword``, see
:mod:`sms.keywords`), when the provider refuses a send with error 21610 "unsubscribed
recipient" (``carrier_21610``: the carrier or Twilio already knows it opted out) or by an
admin (``admin``); it is opted in again (its row deleted) when its owner texts START.
:class:`sms.send_job.SendSmsHandler` checks :func:`is_opted_out` before every send.

Plain functions of a SQLAlchemy ``Connection`` (run them through ``Database.read`` /
``Database.write``) that only touch the database, so a re-run after a rolled-back batch is
harmless. Numbers are normalised with :func:`workflows.phones.normalize_number` (raising its
:class:`~workflows.phones.InvalidPhoneNumber` for junk).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from sms.db import opt_outs
from workflows.phones import normalize_number

__all__ = ["OptOutSource", "is_opted_out", "opt_in", "opt_out"]

OptOutSource = Literal["keyword", "carrier_21610", "admin"]

_NEW_OPT_OUT = {
    "sqlite": sqlite.insert(opt_outs).on_conflict_do_nothing(index_elements=["number"]),
    "postgresql": postgresql.insert(opt_outs).on_conflict_do_nothing(index_elements=["number"]),
}


def opt_out(
    conn: Connection,
    number: str,
    source: OptOutSource,
    keyword: str | None = None,
    default_region: str | None = None,
    *,
    now: datetime,
) -> bool:
    """Opt ``number`` out at ``now``; True if it was not opted out before.

    Opting out a number already opted out changes nothing (the first time, source and keyword
    are kept).
    """
    e164 = normalize_number(number, default_region)
    inserted = conn.execute(
        _NEW_OPT_OUT[conn.dialect.name],
        {
            "number": e164,
            "opted_out_at": now,
            "source": source,
            "keyword": None if keyword is None else keyword[:32],
        },
    ).rowcount
    return bool(inserted)


def opt_in(conn: Connection, number: str, default_region: str | None = None) -> bool:
    """Opt ``number`` in again; True if it was opted out."""
    e164 = normalize_number(number, default_region)
    return bool(conn.execute(delete(opt_outs).where(opt_outs.c.number == e164)).rowcount)


def is_opted_out(conn: Connection, number: str, default_region: str | None = None) -> bool:
    """Whether ``number`` is opted out."""
    e164 = normalize_number(number, default_region)
    query = select(opt_outs.c.number).where(opt_outs.c.number == e164)
    return conn.execute(query).first() is not None
