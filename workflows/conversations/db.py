"""The tables of conversations: ``conversations``, ``conversation_events`` (the timeline),
``conversation_tags`` and ``conversation_ratings`` (survey answers, with the assignee at the
moment of the rating, which the CSAT reports group by).

A conversation is one contact thread on a channel: (``channel``, our ``business_number``, the
contact's ``contact_number``). Only one conversation of a thread is ``latest`` (a partial
unique index); a customer writing long after the latest one was closed starts a new one, and
the old one stays as it was, with its timeline.

``state_version`` counts the changes of state (status and assignee): a timer that must fire
at most once per state change keys itself on it. ``first_response_at``,
``last_customer_message_at`` and ``last_agent_message_at`` are what "unanswered" and the
response-time reports read.

The waiting pointer (``waiting_run_id``, ``waiting_since``) belongs to the SMS channel's runs
(see :mod:`sms.conversations`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)

from ringflow.database import metadata

STATUSES = ("open", "snoozed", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")

# SQLite only autoincrements an INTEGER PRIMARY KEY (its rowid); a 64-bit integer anyway.
_ID = BigInteger().with_variant(Integer(), "sqlite")

conversations = Table(
    "conversations",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("business_number", String(32), nullable=False, comment="our number, E.164"),
    Column("contact_number", String(32), nullable=False, comment="the contact's, E.164"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_message_at", DateTime(timezone=True), nullable=False),
    Column("waiting_run_id", String(32), nullable=True, comment="the run awaiting a reply"),
    Column("waiting_since", DateTime(timezone=True), nullable=True),
    Column("channel", String(16), nullable=False, server_default=text("'sms'")),
    Column("latest", Boolean, nullable=False, server_default=true(), comment="of its thread"),
    Column("status", String(8), nullable=False, server_default=text("'open'")),
    Column("snoozed_until", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("priority", String(8), nullable=False, server_default=text("'normal'")),
    Column(
        "assignee_agent_id",
        Integer,
        ForeignKey("agents.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column(
        "assignee_team_id",
        Integer,
        ForeignKey("teams.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("first_response_at", DateTime(timezone=True), nullable=True),
    Column("last_customer_message_at", DateTime(timezone=True), nullable=True),
    Column("last_agent_message_at", DateTime(timezone=True), nullable=True),
    Column(
        "state_version",
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="changes of status or assignee so far",
    ),
    CheckConstraint("status IN ('open', 'snoozed', 'closed')", name="status"),
    CheckConstraint("priority IN ('urgent', 'high', 'normal', 'low')", name="priority"),
    Index(
        "uq_conversations_latest_thread",
        "channel",
        "business_number",
        "contact_number",
        unique=True,
        sqlite_where=text("latest"),
        postgresql_where=text("latest"),
    ),
    Index("ix_conversations_status_last_message_at", "status", "last_message_at"),
    Index("ix_conversations_assignee_agent_id", "assignee_agent_id"),
    Index("ix_conversations_assignee_team_id", "assignee_team_id"),
)

conversation_events = Table(
    "conversation_events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column(
        "conversation_id",
        _ID,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(32), nullable=False, comment="what happened, e.g. assigned, closed"),
    Column("actor_type", String(16), nullable=False, comment="contact, agent, admin, automation"),
    Column("actor_agent_id", Integer, nullable=True, comment="the agent, when one acted"),
    Column("actor_name", String(64), nullable=True, comment="the agent's or token's name"),
    Column("data", JSON, nullable=False, comment="the change: new values, a note's text..."),
    Column("message_id", BigInteger, nullable=True, comment="the channel's message, if any"),
    Column("body", Text, nullable=True, comment="a note's or a message's text"),
    Column(
        "client_key",
        String(100),
        nullable=True,
        comment="the idempotency key the client sent with a reply",
    ),
    # A reply retried with its key finds the first one instead of sending again.
    UniqueConstraint("conversation_id", "client_key"),
    CheckConstraint("actor_type IN ('contact', 'agent', 'admin', 'automation')", name="actor_type"),
    Index("ix_conversation_events_conversation_id_id", "conversation_id", "id"),
)

conversation_tags = Table(
    "conversation_tags",
    metadata,
    Column(
        "conversation_id",
        _ID,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag", String(64), primary_key=True),
    Index("ix_conversation_tags_tag", "tag"),
)

conversation_ratings = Table(
    "conversation_ratings",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column(
        "conversation_id",
        _ID,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("rating", Integer, nullable=False, comment="1 (worst) to 5 (best)"),
    Column("comment", Text, nullable=True),
    Column(
        "agent_id",
        Integer,
        ForeignKey("agents.id", ondelete="SET NULL"),
        nullable=True,
        comment="the conversation's assignee when it was rated",
    ),
    Column(
        "team_id",
        Integer,
        ForeignKey("teams.id", ondelete="SET NULL"),
        nullable=True,
        comment="the conversation's team when it was rated",
    ),
    Column("run_id", String(32), nullable=False, comment="the run whose survey asked"),
    Column("turn", Integer, nullable=False, comment="the run's turn that kept it"),
    Column("rated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
    UniqueConstraint("run_id", "turn"),
    Index("ix_conversation_ratings_rated_at", "rated_at"),
    Index("ix_conversation_ratings_conversation_id", "conversation_id"),
)
