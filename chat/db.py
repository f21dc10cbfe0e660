"""The web chat's tables.

``chat_visitors``: one row per browser that opened the widget. ``public_id`` is the visitor's
public half (22 characters of randomness, also the contact key ``chat:<public_id>``); the
browser keeps ``<public_id>.<signature>`` (:mod:`chat.visitors`), the signature made with
the server's secret, so nobody can pose as a visitor whose public id they learnt. ``name``,
``email`` and ``phone`` are what the visitor typed; ``contact_number`` the SMS/voice contact
they were matched to; ``user_id`` and ``identity`` what the site vouched for with its HMAC.

``chat_messages``: what the widget shows, in order: ``id`` is the cursor a reconnecting
widget resumes after. ``sender`` is ``visitor``, ``bot`` (a workflow) or ``agent``;
``buttons`` the answers offered (``[[key, label], ...]``); ``client_key`` the id the widget
gave a visitor's message, so a message re-sent after a lost connection is kept once.

``chat_secrets``: the server's secret for visitor ids when ``RINGFLOW_CHAT_SECRET`` is not
set (made once, shared by every process on the database).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
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
)

from ringflow.database import metadata

_ID = BigInteger().with_variant(Integer(), "sqlite")

SENDERS = ("visitor", "bot", "agent")

chat_visitors = Table(
    "chat_visitors",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, comment="the visitor id's public half"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("name", String(255), nullable=True, comment="as the visitor gave it"),
    Column("email", String(255), nullable=True, comment="as the visitor gave it"),
    Column("phone", String(32), nullable=True, comment="as the visitor gave it, E.164"),
    Column("contact_number", String(32), nullable=True, comment="the matched contact, E.164"),
    Column("user_id", String(128), nullable=True, comment="the site's id, verified by HMAC"),
    Column("identity", JSON, nullable=True, comment="attributes the site signed"),
    UniqueConstraint("public_id"),
)

chat_messages = Table(
    "chat_messages",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column(
        "visitor_id",
        _ID,
        ForeignKey("chat_visitors.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("conversation_id", _ID, nullable=True, comment="the conversation it belongs to"),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("sender", String(8), nullable=False, comment="visitor, bot or agent"),
    Column("body", Text, nullable=False),
    Column("buttons", JSON, nullable=True, comment="answers offered: [[key, label], ...]"),
    Column("client_key", String(64), nullable=True, comment="the widget's id of the message"),
    UniqueConstraint("visitor_id", "client_key"),
    CheckConstraint("sender IN ('visitor', 'bot', 'agent')", name="sender"),
    Index("ix_chat_messages_visitor_id_id", "visitor_id", "id"),
    Index("ix_chat_messages_conversation_id", "conversation_id"),
)

chat_secrets = Table(
    "chat_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(128), nullable=False),
)
