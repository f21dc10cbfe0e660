"""The tables of callbacks: ``callback_requests`` (one per customer who asked to be called
back) and ``callback_attempts`` (one per call Ringflow placed for it).

A request's place in line is its ``requested_at`` (ties by id): the team's oldest pending
request is placed first. ``status`` goes ``pending`` -> ``calling`` (an agent leg is being
placed, rings, or the agent is talking to the customer) -> ``connected`` (the customer
answered: done), back to ``pending`` for a retry, or ends ``failed`` (``reason`` says why) or
``cancelled``. ``legs`` counts the placements (the URLs of a placement's webhooks carry its
number, so a late webhook of an older one changes nothing); ``attempts`` counts the
customer's attempts (rung, whatever the outcome), at most ``max_attempts``.

A partial unique index keeps an agent on at most one callback in ``calling``: two workers
that picked the same free agent at once cannot both place a call to them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    exists,
    text,
)

from ringflow.database import metadata

STATUSES = ("pending", "calling", "connected", "failed", "cancelled")
FINAL_STATUSES = ("connected", "failed", "cancelled")
OUTCOMES = (
    "answered",
    "no-answer",
    "busy",
    "failed",
    "agent-no-answer",
    "agent-declined",
    "agent-failed",
    "opted-out",
    "cancelled",
)
"""How one placement ended: the customer's ``answered``/``no-answer``/``busy``/``failed``
(each counts as one of the customer's attempts), or the agent's leg that never reached the
customer (``agent-*``: not counted), or the customer's number opted out when it was dialled,
or the request was cancelled while the agent's phone rang."""

_ID = BigInteger().with_variant(Integer(), "sqlite")

callback_requests = Table(
    "callback_requests",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("customer", String(32), nullable=False, comment="E.164 number to call back"),
    Column("our_number", String(32), nullable=False, comment="E.164 caller id of the callback"),
    Column("call_sid", String(64), nullable=True, comment="the call the request came from"),
    Column("requested_at", DateTime(timezone=True), nullable=False, comment="place in line"),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True, comment="why it failed or was cancelled"),
    Column("attempts", Integer, nullable=False, comment="the customer's attempts so far"),
    Column("max_attempts", Integer, nullable=False),
    Column("retry_delay", Integer, nullable=False, comment="seconds between attempts"),
    Column("due_at", DateTime(timezone=True), nullable=False, comment="not placed before"),
    Column("waits", Integer, nullable=False, comment="times held back: closed or nobody free"),
    Column("legs", Integer, nullable=False, comment="placements so far"),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("agent_address", String(255), nullable=True, comment="the agent endpoint rung"),
    Column("agent_call_sid", String(64), nullable=True, comment="the current placement's"),
    Column("placing_at", DateTime(timezone=True), nullable=True, comment="placement recorded"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "status IN ('pending', 'calling', 'connected', 'failed', 'cancelled')", name="status"
    ),
    Index("ix_callback_requests_team_id_status_requested_at", "team_id", "status", "requested_at"),
    Index("ix_callback_requests_status_requested_at", "status", "requested_at"),
    Index(
        "uq_callback_requests_agent_calling",
        "agent_id",
        unique=True,
        postgresql_where=text("status = 'calling'"),
        sqlite_where=text("status = 'calling'"),
    ),
)

callback_attempts = Table(
    "callback_attempts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column(
        "callback_id",
        _ID,
        ForeignKey("callback_requests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("leg", Integer, nullable=False, comment="the request's placement number"),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("agent_call_sid", String(64), nullable=True),
    Column("customer_call_sid", String(64), nullable=True),
    Column("outcome", String(16), nullable=True, comment="None while in progress"),
    Column("duration", Integer, nullable=True, comment="seconds the customer talked"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("dialed_at", DateTime(timezone=True), nullable=True, comment="customer rung from"),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("callback_id", "leg"),
)


def engaged_in_callback(agent_id: Any) -> ColumnElement[bool]:
    """Whether the agent ``agent_id`` (a column or a value) is engaged in a callback being
    placed: team routing and the hold queue leave such an agent alone, as callbacks leave
    alone agents on a call."""
    return exists().where(
        callback_requests.c.agent_id == agent_id, callback_requests.c.status == "calling"
    )
