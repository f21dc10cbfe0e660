"""The voice channel's part in conversations: the calls between a conversation's contact and
its business number, as timeline entries (registered by the composition root)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from ivr.db import calls
from ringflow.database import stored_time
from workflows.conversations.channels import SourceEntry
from workflows.conversations.model import Conversation
from workflows.people.presence import agents_of_calls


class CallHistory:
    """Calls from the conversation's contact to its business number, for its timeline."""

    def entries(
        self,
        conn: Connection,
        conversation: Conversation,
        since: datetime | None,
        until: datetime | None,
    ) -> list[SourceEntry]:
        conditions = [
            calls.c.caller == conversation.contact_number,
            calls.c.called == conversation.business_number,
        ]
        if since is not None:
            conditions.append(calls.c.started_at >= since)
        if until is not None:
            conditions.append(calls.c.started_at < until)
        rows = conn.execute(
            select(calls).where(*conditions).order_by(calls.c.started_at).limit(200)
        ).all()
        taken = agents_of_calls(conn, [row.sid for row in rows])
        return [
            SourceEntry(
                at=stored_time(row.started_at),
                kind="call",
                ref=row.sid,
                data={
                    "sid": row.sid,
                    "status": row.status,
                    "outcome": row.outcome,
                    "duration": row.duration,
                    "workflow_id": row.workflow_id,
                    "agent": taken.get(row.sid),
                    "ended_at": None
                    if row.ended_at is None
                    else stored_time(row.ended_at).isoformat(),
                },
            )
            for row in rows
        ]
