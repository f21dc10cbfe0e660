"""Callbacks in conversations' timelines: each placement that rang (or tried to ring) the
conversation's contact from its business number, as a ``call`` entry (registered by the
composition root with the other timeline sources)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from ringflow.database import stored_time
from workflows.callbacks.db import callback_attempts, callback_requests
from workflows.conversations.channels import SourceEntry
from workflows.conversations.model import Conversation
from workflows.people.db import agents

_LIMIT = 200


class CallbackHistory:
    """The callback attempts to a conversation's contact, for its timeline."""

    def entries(
        self,
        conn: Connection,
        conversation: Conversation,
        since: datetime | None,
        until: datetime | None,
    ) -> list[SourceEntry]:
        conditions = [
            callback_requests.c.customer == conversation.contact_number,
            callback_requests.c.our_number == conversation.business_number,
        ]
        if since is not None:
            conditions.append(callback_attempts.c.started_at >= since)
        if until is not None:
            conditions.append(callback_attempts.c.started_at < until)
        rows = conn.execute(
            select(callback_attempts, agents.c.name.label("agent"))
            .join(callback_requests, callback_requests.c.id == callback_attempts.c.callback_id)
            .outerjoin(agents, agents.c.id == callback_attempts.c.agent_id)
            .where(*conditions)
            .order_by(callback_attempts.c.started_at)
            .limit(_LIMIT)
        ).all()
        return [
            SourceEntry(
                at=stored_time(row.started_at),
                kind="call",
                ref=row.customer_call_sid or f"callback-{row.callback_id}-{row.leg}",
                data={
                    "sid": row.customer_call_sid,
                    "callback_id": int(row.callback_id),
                    "attempt": row.leg,
                    "direction": "callback",
                    "agent": row.agent,
                    "outcome": row.outcome,
                    "duration": row.duration,
                    "ended_at": None
                    if row.ended_at is None
                    else stored_time(row.ended_at).isoformat(),
                },
            )
            for row in rows
        ]
