"""Callback requests: create, read, list, cancel, and the steps of placing one.

Plain functions of a SQLAlchemy ``Connection``; the caller owns the transaction. Every
change that makes a request wait for a placement queues its job (:data:`PLACE_JOB`) in the
same transaction, keyed on the request and the placement it follows, so that each request
that is ``pending`` has exactly one live job and a job that runs twice queues nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import Connection, Integer, Row, bindparam, func, select, update

from ringflow.database import stored_time
from workflows.callbacks.db import FINAL_STATUSES, callback_attempts, callback_requests
from workflows.callbacks.errors import NotPending, UnknownCallback
from workflows.instructions import RequestCallback
from workflows.jobs import enqueue
from workflows.people.availability import FreeAgent, free_agents
from workflows.people.db import agents, team_members, teams
from workflows.people.errors import UnknownTeam
from workflows.phones import InvalidPhoneNumber, normalize_number

__all__ = [
    "CUSTOMER_OUTCOMES",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_RETRY_DELAY",
    "PLACE_JOB",
    "Attempt",
    "Callback",
    "Placement",
    "cancel_callback",
    "claim_next",
    "find_callback",
    "list_callbacks",
    "request_callback",
]

log = logging.getLogger(__name__)

PLACE_JOB: Final = "callback.place"
"""The job kind that places a pending callback; payload ``{"callback_id": <id>}``."""
DEFAULT_ATTEMPTS: Final = 3
"""How many times the customer is rung, unless the step or the API says otherwise."""
DEFAULT_RETRY_DELAY: Final = timedelta(minutes=10)
"""How long after an unanswered attempt the next one may be placed, by default."""
AGENT_RETRY: Final = timedelta(seconds=15)
"""How long after an agent's leg failed (not answered, declined, refused) the request is
placed again (with the team's longest-idle free agent then)."""
CUSTOMER_OUTCOMES: Final = ("answered", "no-answer", "busy", "failed")
"""Outcomes of a placement that rang the customer (each counts as one of their attempts)."""

Status = Literal["pending", "calling", "connected", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One placement of a callback."""

    leg: int
    agent: str | None
    agent_call_sid: str | None
    customer_call_sid: str | None
    outcome: str | None
    duration: int | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class Callback:
    """A callback request as stored (times aware, UTC)."""

    id: int
    team: str
    team_id: int
    customer: str
    our_number: str
    call_sid: str | None
    requested_at: datetime
    status: Status
    reason: str | None
    attempts: int
    max_attempts: int
    retry_delay: int
    due_at: datetime
    waits: int
    legs: int
    agent: str | None
    agent_address: str | None
    agent_call_sid: str | None
    placing_at: datetime | None
    updated_at: datetime
    history: tuple[Attempt, ...] = ()


def _optional_time(value: datetime | None) -> datetime | None:
    return None if value is None else stored_time(value)


_SELECT = (
    select(
        callback_requests,
        teams.c.name.label("team"),
        agents.c.name.label("agent"),
    )
    .join(teams, teams.c.id == callback_requests.c.team_id)
    .outerjoin(agents, agents.c.id == callback_requests.c.agent_id)
)


def _callback(row: Row[Any], history: tuple[Attempt, ...] = ()) -> Callback:
    return Callback(
        id=int(row.id),
        team=row.team,
        team_id=row.team_id,
        customer=row.customer,
        our_number=row.our_number,
        call_sid=row.call_sid,
        requested_at=stored_time(row.requested_at),
        status=row.status,
        reason=row.reason,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        retry_delay=row.retry_delay,
        due_at=stored_time(row.due_at),
        waits=row.waits,
        legs=row.legs,
        agent=row.agent,
        agent_address=row.agent_address,
        agent_call_sid=row.agent_call_sid,
        placing_at=_optional_time(row.placing_at),
        updated_at=stored_time(row.updated_at),
        history=history,
    )


def _history(conn: Connection, callback_id: int) -> tuple[Attempt, ...]:
    rows = conn.execute(
        select(callback_attempts, agents.c.name.label("agent"))
        .outerjoin(agents, agents.c.id == callback_attempts.c.agent_id)
        .where(callback_attempts.c.callback_id == callback_id)
        .order_by(callback_attempts.c.leg)
    ).all()
    return tuple(
        Attempt(
            leg=row.leg,
            agent=row.agent,
            agent_call_sid=row.agent_call_sid,
            customer_call_sid=row.customer_call_sid,
            outcome=row.outcome,
            duration=row.duration,
            started_at=stored_time(row.started_at),
            ended_at=_optional_time(row.ended_at),
        )
        for row in rows
    )


def _job_key(callback_id: int, after_leg: int) -> str:
    return f"callback:{callback_id}:after:{after_leg}"


def _queue_job(
    conn: Connection, callback_id: int, after_leg: int, due: datetime, now: datetime
) -> None:
    enqueue(
        conn,
        PLACE_JOB,
        {"callback_id": callback_id},
        dedupe_key=_job_key(callback_id, after_leg),
        due_at=due,
        # A placement's failures are few; waiting (closed, nobody free) spends no attempt.
        max_attempts=20,
        now=now,
    )


def request_callback(
    conn: Connection,
    *,
    team: str,
    customer: str,
    our_number: str,
    now: datetime,
    call_sid: str | None = None,
    requested_at: datetime | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    retry_delay: timedelta = DEFAULT_RETRY_DELAY,
    default_region: str | None = None,
) -> Callback:
    """Record that ``customer`` wants team ``team`` to call them back, and queue its job.

    ``requested_at`` (default ``now``) is the place in line: a caller who pressed 1 in the
    hold queue passes the moment they joined it, keeping their place. ``our_number`` is the
    caller id the callback shows (the number the customer called). A request from the same
    call (``call_sid``) that is still pending or calling is returned as it is, not doubled.
    Raises :class:`UnknownTeam`, :class:`workflows.phones.InvalidPhoneNumber`, ValueError
    for attempts or a delay out of range.
    """
    if not 1 <= attempts <= 10:
        raise ValueError(f"attempts must be between 1 and 10, got {attempts}")
    if not timedelta(seconds=30) <= retry_delay <= timedelta(days=1):
        raise ValueError(f"retry_delay must be between 30 s and 1 day, got {retry_delay}")
    team_id = conn.execute(select(teams.c.id).where(teams.c.name == team)).scalar()
    if team_id is None:
        raise UnknownTeam(team)
    number = normalize_number(customer, default_region)
    ours = normalize_number(our_number, default_region)
    if call_sid is not None:
        existing = conn.execute(
            select(callback_requests.c.id).where(
                callback_requests.c.call_sid == call_sid,
                callback_requests.c.status.in_(("pending", "calling")),
            )
        ).scalar()
        if existing is not None:
            return require_callback(conn, int(existing))
    new_id = conn.execute(
        callback_requests.insert()
        .values(
            team_id=team_id,
            customer=number,
            our_number=ours,
            call_sid=call_sid,
            requested_at=requested_at or now,
            status="pending",
            attempts=0,
            max_attempts=attempts,
            retry_delay=int(retry_delay.total_seconds()),
            due_at=now,
            waits=0,
            legs=0,
            created_at=now,
            updated_at=now,
        )
        .returning(callback_requests.c.id)
    ).scalar_one()
    _queue_job(conn, int(new_id), 0, now, now)
    return require_callback(conn, int(new_id))


def request_callback_in(
    conn: Connection,
    request: RequestCallback,
    call_sid: str,
    customer: str,
    our_number: str,
    now: datetime,
) -> None:
    """A ``callback`` step's request, in the transaction of its turn: a team that no longer
    exists or a caller without a usable number is logged, and the call goes on."""
    options: dict[str, Any] = {}
    if request.attempts is not None:
        options["attempts"] = request.attempts
    if request.retry_delay is not None:
        options["retry_delay"] = timedelta(seconds=request.retry_delay)
    try:
        request_callback(
            conn,
            team=request.team,
            customer=customer,
            our_number=our_number,
            call_sid=call_sid,
            now=now,
            **options,
        )
    except (UnknownTeam, InvalidPhoneNumber, ValueError) as error:
        log.warning("call %s: callback not recorded: %s", call_sid, error)


def find_callback(conn: Connection, callback_id: int) -> Callback | None:
    """The request ``callback_id`` with its attempts, or None."""
    row = conn.execute(_SELECT.where(callback_requests.c.id == callback_id)).first()
    return None if row is None else _callback(row, _history(conn, callback_id))


def require_callback(conn: Connection, callback_id: int) -> Callback:
    """The request ``callback_id``; :class:`UnknownCallback` when there is none."""
    found = find_callback(conn, callback_id)
    if found is None:
        raise UnknownCallback(str(callback_id))
    return found


def list_callbacks(
    conn: Connection,
    *,
    status: Sequence[str] = (),
    team: str | None = None,
    customer: str | None = None,
    limit: int = 100,
) -> list[Callback]:
    """Requests in line order (oldest request first), filtered by ``status`` (any of),
    ``team`` and ``customer``; at most ``limit``."""
    query = _SELECT
    if status:
        query = query.where(callback_requests.c.status.in_(list(status)))
    if team is not None:
        query = query.where(teams.c.name == team)
    if customer is not None:
        query = query.where(callback_requests.c.customer == customer)
    query = query.order_by(callback_requests.c.requested_at, callback_requests.c.id).limit(limit)
    return [_callback(row) for row in conn.execute(query)]


def cancel_callback(
    conn: Connection, callback_id: int, now: datetime, reason: str = "cancelled by an admin"
) -> Callback:
    """Cancel a pending request (its job then does nothing); :class:`NotPending` otherwise."""
    changed = conn.execute(
        update(callback_requests)
        .where(callback_requests.c.id == callback_id, callback_requests.c.status == "pending")
        .values(status="cancelled", reason=reason, updated_at=now)
    ).rowcount
    if changed != 1:
        current = require_callback(conn, callback_id)
        raise NotPending(callback_id, current.status)
    return require_callback(conn, callback_id)


def fail_callback(conn: Connection, callback_id: int, reason: str, now: datetime) -> bool:
    """End a pending request as ``failed`` with ``reason``; whether it was pending."""
    changed = conn.execute(
        update(callback_requests)
        .where(callback_requests.c.id == callback_id, callback_requests.c.status == "pending")
        .values(status="failed", reason=reason, updated_at=now)
    ).rowcount
    return changed == 1


def hold_back(conn: Connection, callback_id: int, now: datetime) -> int:
    """Count one more wait of a pending request (closed, nobody free); the waits so far."""
    conn.execute(
        update(callback_requests)
        .where(callback_requests.c.id == callback_id, callback_requests.c.status == "pending")
        .values(waits=callback_requests.c.waits + 1, updated_at=now)
    )
    waits = conn.execute(
        select(callback_requests.c.waits).where(callback_requests.c.id == callback_id)
    ).scalar()
    return int(waits or 0)


@dataclass(frozen=True, slots=True)
class Placement:
    """A request claimed for a placement: ring ``agent`` and, once they accept, the
    customer."""

    callback_id: int
    leg: int
    team_id: int
    customer: str
    our_number: str
    agent: FreeAgent


def _oldest_pending(dialect: str) -> Any:
    oldest = (
        select(callback_requests.c.id)
        .where(
            callback_requests.c.team_id == bindparam("team_id"),
            callback_requests.c.status == "pending",
            callback_requests.c.due_at <= bindparam("now"),
        )
        .order_by(callback_requests.c.requested_at, callback_requests.c.id)
        .limit(bindparam("limit", type_=Integer))
    )
    if dialect == "postgresql":
        # Not SKIP LOCKED: a worker that skipped the head of the line (locked by another
        # worker) could take the free agent before that worker and call a younger request
        # first. Workers of one team queue on the head instead (the claim is short: the call
        # is made after its commit); the one that waited then finds the row taken (no row)
        # and looks once more, at the new head.
        oldest = oldest.with_for_update()
    return oldest


_OPTED_OUT_SKIPS: Final = 20
"""At most this many requests of opted-out numbers are failed by one claim."""
_OLDEST = {dialect: _oldest_pending(dialect) for dialect in ("sqlite", "postgresql")}


def claim_next(
    conn: Connection, team_id: int, now: datetime, opted_out: Any = None
) -> Placement | None:
    """Claim the team's oldest due pending request for a free agent, in one transaction:
    the request becomes ``calling`` with the agent and a new placement (attempt row).

    None when nothing is due or nobody is free. Two workers never claim the same request
    (a compare-and-set on ``pending``, the row locked on PostgreSQL) nor the
    same agent (the partial unique index on ``calling`` agents: the loser's transaction
    fails with an IntegrityError, which the caller treats as "try again shortly").
    ``opted_out(conn, number)``: a request whose customer opted out is failed instead of
    being claimed (checked here, at the effect).
    """
    # One row at a time: locking several would hold back other workers for nothing.
    looked_again = False
    for _ in range(_OPTED_OUT_SKIPS):
        callback_id = conn.execute(
            _OLDEST[conn.dialect.name], {"team_id": team_id, "now": now, "limit": 1}
        ).scalar()
        if callback_id is None and not looked_again:
            # On PostgreSQL a row locked by another worker and claimed by it meanwhile is
            # left out after the wait: a new statement sees the new head of the line.
            looked_again = True
            continue
        if callback_id is None:
            return None
        row = conn.execute(
            select(callback_requests).where(callback_requests.c.id == callback_id)
        ).first()
        if row is None or row.status != "pending":
            return None
        if opted_out is not None and opted_out(conn, row.customer):
            conn.execute(
                update(callback_requests)
                .where(callback_requests.c.id == callback_id)
                .values(
                    status="failed",
                    reason="the customer's number opted out",
                    updated_at=now,
                )
            )
            continue
        free = free_agents(conn, team_id, now, lock=True)
        if not free:
            return None
        agent = free[0]
        leg = row.legs + 1
        changed = conn.execute(
            update(callback_requests)
            .where(
                callback_requests.c.id == callback_id,
                callback_requests.c.status == "pending",
                callback_requests.c.legs == row.legs,
            )
            .values(
                status="calling",
                legs=leg,
                agent_id=agent.id,
                agent_address=agent.address,
                agent_call_sid=None,
                placing_at=now,
                updated_at=now,
            )
        ).rowcount
        if changed != 1:
            return None
        conn.execute(
            callback_attempts.insert().values(
                callback_id=callback_id, leg=leg, agent_id=agent.id, started_at=now
            )
        )
        conn.execute(
            update(team_members)
            .where(team_members.c.team_id == team_id, team_members.c.agent_id == agent.id)
            .values(last_assigned_at=now)
        )
        return Placement(int(callback_id), leg, team_id, row.customer, row.our_number, agent)
    return None


def placement_of(conn: Connection, callback_id: int, leg: int) -> Placement | None:
    """The placement ``leg`` of the request, while it is the request's current one and the
    request is ``calling``; else None (ended, superseded, cancelled)."""
    row = conn.execute(
        select(callback_requests, agents.c.name.label("agent_name"), agents.c.endpoints)
        .outerjoin(agents, agents.c.id == callback_requests.c.agent_id)
        .where(
            callback_requests.c.id == callback_id,
            callback_requests.c.legs == leg,
            callback_requests.c.status == "calling",
        )
    ).first()
    if row is None or row.agent_id is None:
        return None
    kind = "phone"
    for endpoint in row.endpoints or []:
        if endpoint.get("address") == row.agent_address:
            kind = str(endpoint.get("kind"))
            break
    agent = FreeAgent(row.agent_id, row.agent_name, kind, row.agent_address or "")
    return Placement(callback_id, leg, row.team_id, row.customer, row.our_number, agent)


def record_agent_call(
    conn: Connection, callback_id: int, leg: int, call_sid: str, now: datetime
) -> bool:
    """Keep the SID of placement ``leg``'s agent call (once known); whether it was current."""
    changed = conn.execute(
        update(callback_requests)
        .where(
            callback_requests.c.id == callback_id,
            callback_requests.c.legs == leg,
            callback_requests.c.status == "calling",
        )
        .values(agent_call_sid=call_sid, updated_at=now)
    ).rowcount
    conn.execute(
        update(callback_attempts)
        .where(
            callback_attempts.c.callback_id == callback_id,
            callback_attempts.c.leg == leg,
            callback_attempts.c.agent_call_sid.is_(None),
        )
        .values(agent_call_sid=call_sid)
    )
    return changed == 1


def placement_by_agent_call(conn: Connection, call_sid: str) -> tuple[int, int] | None:
    """(request, placement) whose current agent call is ``call_sid`` while it is calling
    (a PBX's events name the agent's channel); None for any other call."""
    row = conn.execute(
        select(callback_requests.c.id, callback_requests.c.legs).where(
            callback_requests.c.agent_call_sid == call_sid,
            callback_requests.c.status == "calling",
        )
    ).first()
    return None if row is None else (int(row.id), int(row.legs))


def mark_dialing(conn: Connection, callback_id: int, leg: int, now: datetime) -> bool:
    """Record that placement ``leg`` now rings the customer (the agent accepted): from here
    the dial's outcome, not the agent leg's status, ends it. Whether it was current."""
    current = conn.execute(
        select(callback_requests.c.id).where(
            callback_requests.c.id == callback_id,
            callback_requests.c.legs == leg,
            callback_requests.c.status == "calling",
        )
    ).first()
    if current is None:
        return False
    conn.execute(
        update(callback_attempts)
        .where(callback_attempts.c.callback_id == callback_id, callback_attempts.c.leg == leg)
        .values(dialed_at=now)
    )
    return True


def dialed(conn: Connection, callback_id: int, leg: int) -> bool:
    """Whether placement ``leg`` got as far as ringing the customer."""
    value = conn.execute(
        select(callback_attempts.c.dialed_at).where(
            callback_attempts.c.callback_id == callback_id, callback_attempts.c.leg == leg
        )
    ).scalar()
    return value is not None


def restart_placement(conn: Connection, callback_id: int, leg: int, now: datetime) -> bool:
    """Record that placement ``leg`` is being made again (an earlier try surely created
    nothing, or a lookup found nothing); whether it is still current."""
    changed = conn.execute(
        update(callback_requests)
        .where(
            callback_requests.c.id == callback_id,
            callback_requests.c.legs == leg,
            callback_requests.c.status == "calling",
            callback_requests.c.agent_call_sid.is_(None),
        )
        .values(placing_at=now, updated_at=now)
    ).rowcount
    return changed == 1


@dataclass(frozen=True, slots=True)
class Ended:
    """What ending a placement did to its request."""

    status: Status
    attempts: int
    max_attempts: int
    retry_at: datetime | None


def end_placement(
    conn: Connection,
    callback_id: int,
    leg: int,
    outcome: str,
    now: datetime,
    *,
    customer_call_sid: str | None = None,
    duration: int | None = None,
    agent_call_sid: str | None = None,
) -> Ended | None:
    """End placement ``leg`` with ``outcome`` (:data:`workflows.callbacks.db.OUTCOMES`), once:
    None when it is not the request's current placement any more (a repeated or late
    webhook: nothing changes).

    ``answered`` ends the request ``connected``; another customer outcome counts an
    attempt and, below ``max_attempts``, makes it pending again after its retry delay
    (its job queued), else ``failed``; ``opted-out`` fails it; ``cancelled`` cancels it;
    an agent's outcome (``agent-*``) makes it pending again after :data:`AGENT_RETRY`
    without spending one
    of the customer's attempts.
    """
    row = conn.execute(
        select(callback_requests).where(
            callback_requests.c.id == callback_id,
            callback_requests.c.legs == leg,
            callback_requests.c.status == "calling",
        )
    ).first()
    if row is None:
        return None
    attempts = row.attempts + (1 if outcome in CUSTOMER_OUTCOMES else 0)
    retry_at: datetime | None = None
    reason: str | None = None
    status: Status
    if outcome == "answered":
        status = "connected"
    elif outcome == "opted-out":
        status, reason = "failed", "the customer's number opted out"
    elif outcome == "cancelled":
        status, reason = "cancelled", "cancelled while the agent was rung"
    elif outcome in CUSTOMER_OUTCOMES and attempts >= row.max_attempts:
        status = "failed"
        reason = f"the customer did not answer {attempts} attempts (last: {outcome})"
    elif outcome in CUSTOMER_OUTCOMES:
        status, retry_at = "pending", now + timedelta(seconds=row.retry_delay)
    else:
        status, retry_at = "pending", now + AGENT_RETRY
    changed = conn.execute(
        update(callback_requests)
        .where(
            callback_requests.c.id == callback_id,
            callback_requests.c.legs == leg,
            callback_requests.c.status == "calling",
        )
        .values(
            status=status,
            reason=reason,
            attempts=attempts,
            due_at=retry_at or row.due_at,
            updated_at=now,
        )
    ).rowcount
    if changed != 1:
        return None
    values: dict[str, Any] = {"outcome": outcome, "ended_at": now}
    if customer_call_sid is not None:
        values["customer_call_sid"] = customer_call_sid
    if duration is not None:
        values["duration"] = duration
    if agent_call_sid is not None:
        values["agent_call_sid"] = func.coalesce(callback_attempts.c.agent_call_sid, agent_call_sid)
    conn.execute(
        update(callback_attempts)
        .where(callback_attempts.c.callback_id == callback_id, callback_attempts.c.leg == leg)
        .values(**values)
    )
    if retry_at is not None:
        _queue_job(conn, callback_id, leg, retry_at, now)
    return Ended(status, attempts, row.max_attempts, retry_at)


_AGENT_LEG_OUTCOMES: Final = {
    "completed": "agent-declined",  # answered, but hung up before pressing 1
    "busy": "agent-no-answer",
    "no-answer": "agent-no-answer",
    "canceled": "agent-no-answer",
    "failed": "agent-failed",
}


def agent_leg_outcome(status: str) -> str | None:
    """A placement's outcome from its agent leg's final status; None while not final."""
    return _AGENT_LEG_OUTCOMES.get(status)


def end_lost_placement(
    conn: Connection, callback_id: int, leg: int, agent_status: str, now: datetime
) -> Ended | None:
    """End placement ``leg`` whose agent leg is over (``agent_status``) when its webhooks
    did not: as the agent leg's status callback would, or ``failed`` (one of the customer's
    attempts) when it had rung the customer and the dial's outcome never came."""
    if dialed(conn, callback_id, leg):
        return end_placement(conn, callback_id, leg, "failed", now)
    outcome = agent_leg_outcome(agent_status)
    if outcome is None:
        return None
    return end_placement(conn, callback_id, leg, outcome, now)


def is_final(status: str) -> bool:
    """Whether a request in ``status`` is over."""
    return status in FINAL_STATUSES
