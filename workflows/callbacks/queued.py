"""The hold queue's way to a callback: a waiting caller who presses 1, or whose maximum wait
ends with the queue's ``callback`` fallback, leaves the queue with a callback request that
keeps their place in line (the moment they joined the queue, not the moment they pressed).

Both run in the transaction that records the caller leaving the queue, so a request is
never lost between the two, and a repeat (the channel asking for the wait music again) adds nothing:
one call gets at most one callback request. A console's test call gets none: it leaves the
queue as asked, and nobody is called.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection, exists, select

from ringflow.database import stored_time
from workflows.call_log import calls
from workflows.callbacks.db import callback_requests
from workflows.callbacks.requests import request_callback
from workflows.people.db import queue_entries, teams
from workflows.people.errors import UnknownTeam
from workflows.people.queue import WaitTurn, record_callback_request, wait_turn
from workflows.phones import InvalidPhoneNumber
from workflows.test_calls import is_test_call

__all__ = ["leave_for_callback", "wait_turn_or_callback"]

log = logging.getLogger(__name__)


def leave_for_callback(conn: Connection, call: str, now: datetime) -> bool:
    """The waiting caller ``call`` pressed 1: they leave the queue and their callback request
    is queued; False when they were no longer waiting."""
    if not record_callback_request(conn, call, now):
        return False
    _request_for(conn, call, now)
    return True


def wait_turn_or_callback(conn: Connection, call: str, now: datetime) -> WaitTurn | None:
    """:func:`~workflows.people.queue.wait_turn`, plus the callback request when the caller's
    maximum wait ends with the queue's ``callback`` fallback."""
    turn = wait_turn(conn, call, now)
    if turn is not None and turn.status == "left" and turn.leave == "callback":
        _request_for(conn, call, now)
    return turn


def _request_for(conn: Connection, call: str, now: datetime) -> None:
    if is_test_call(call):
        # A console's test call reaches no one: it leaves the queue, nobody is called back.
        log.info("call %s: a test call's callback request is not queued", call)
        return
    if conn.execute(select(exists().where(callback_requests.c.call_sid == call))).scalar():
        return  # asked already (a repeated request of the wait URL)
    row = conn.execute(
        select(queue_entries.c.enqueued_at, teams.c.name, calls.c.caller, calls.c.called)
        .join(teams, teams.c.id == queue_entries.c.team_id)
        .join(calls, calls.c.sid == queue_entries.c.call)
        .where(queue_entries.c.call == call)
    ).first()
    if row is None:
        log.warning("call %s: asked to be called back, but its queue entry or call is gone", call)
        return
    try:
        request_callback(
            conn,
            team=row.name,
            customer=row.caller,
            our_number=row.called,
            now=now,
            call_sid=call,
            requested_at=stored_time(row.enqueued_at),
        )
    except (UnknownTeam, InvalidPhoneNumber) as error:
        log.warning("call %s: no callback request: %s", call, error)
