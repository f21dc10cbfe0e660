"""The ``messages`` table: every text sent or received, one row per message.

Outbound rows are written when a text is decided on (``status`` ``queued``, no provider yet),
marked ``sending`` in a write of its own just before each call to the provider
(``send_attempts``, ``first_sending_at``, ``sending_at``: a retry that finds a message
``sending`` knows an earlier call may have created it, and looks it up first), marked when a
provider accepts them (``provider``, ``provider_id``) and moved forward by delivery callbacks;
see :mod:`sms.messages`. ``compliance`` marks the texts the law requires (the confirmation of
a STOP, HELP's answer), which the hourly cap on automated texts does not count.
``provider_id`` (Twilio's MessageSid) is unique: a plain unique constraint, which lets any
number of rows have none, since NULLs are distinct in both SQLite and PostgreSQL.

The ``opt_outs`` table holds the numbers that must get no more automated texts (see
:mod:`sms.optouts`): one row per number while it is opted out, deleted when it opts back in.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from ringflow.database import metadata

# The conversations table moved to the channel-neutral core (it gained state, assignee and a
# timeline); the SMS channel keeps reading its waiting pointer through this name.
from workflows.conversations.db import conversations as conversations

OUTBOUND_STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed")
INBOUND_STATUSES = ("received",)

# SQLite only autoincrements an INTEGER PRIMARY KEY (its rowid); a 64-bit integer anyway.
_ID = BigInteger().with_variant(Integer(), "sqlite")

messages = Table(
    "messages",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("direction", String(8), nullable=False, comment="outbound or inbound"),
    Column("contact_number", String(32), nullable=False, comment="the contact's E.164 number"),
    Column("from_number", String(32), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("encoding", String(8), nullable=False, comment="GSM-7 or UCS-2"),
    Column("segments", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("provider", String(16), nullable=True, comment="twilio or outbox, once handed over"),
    Column("provider_id", String(64), nullable=True, comment="Twilio MessageSid"),
    Column("idempotency_key", String(255), nullable=False, comment="one message per key, ever"),
    Column("error_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column(
        "send_attempts",
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="calls made to the provider for this text",
    ),
    Column(
        "first_sending_at",
        DateTime(timezone=True),
        nullable=True,
        comment="when the first call to the provider started",
    ),
    Column(
        "sending_at",
        DateTime(timezone=True),
        nullable=True,
        comment="when the latest call to the provider started",
    ),
    Column(
        "compliance",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="a text the law requires (STOP confirmation, HELP): not capped",
    ),
    UniqueConstraint("provider_id"),
    UniqueConstraint("idempotency_key"),
    CheckConstraint("direction IN ('outbound', 'inbound')", name="direction"),
    CheckConstraint("encoding IN ('GSM-7', 'UCS-2')", name="encoding"),
    CheckConstraint(
        "status IN ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'received')",
        name="status",
    ),
    CheckConstraint("provider IN ('twilio', 'outbox')", name="provider"),
    Index("ix_messages_contact_number_created_at", "contact_number", "created_at"),
    Index("ix_messages_status", "status"),
    Index("ix_messages_first_sending_at", "first_sending_at"),
)

OPT_OUT_SOURCES = ("keyword", "carrier_21610", "admin")

opt_outs = Table(
    "opt_outs",
    metadata,
    Column("number", String(32), primary_key=True, comment="E.164"),
    Column("opted_out_at", DateTime(timezone=True), nullable=False),
    Column("source", String(16), nullable=False, comment="keyword, carrier_21610 or admin"),
    Column("keyword", String(32), nullable=True, comment="the keyword texted, if any"),
    CheckConstraint("source IN ('keyword', 'carrier_21610', 'admin')", name="source"),
)
