"""The SMS channel's part in conversations (registered by the composition root in
:class:`workflows.conversations.channels.ConversationChannels` under ``"sms"``):

* :class:`SmsOutbound` sends an agent's reply as a durable send job (:func:`queue_text`, in
  the reply's transaction). The send job checks the opt-out again when the text leaves, and a
  text to an opted-out number ends ``failed`` with :data:`~sms.send_job.OPTED_OUT_ERROR`;
  the outbound also says so at once (``refused``), so the agent sees it in the answer.
* :class:`SmsHistory` adds the thread's texts, with their delivery status, to timelines.
* :func:`record_customer_text` records an inbound text on its conversation (reopening it, or
  starting a new one), called by the inbound webhook in the transaction that records the text;
  a text a waiting run will take is marked as its answer there (no ``message.received``
  workflow takes it as a new message).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection, and_, or_, select

from ringflow.database import stored_time
from sms.conversations import by_id
from sms.db import messages
from sms.optouts import is_opted_out
from sms.send_job import queue_text
from workflows.conversations.channels import Hold, Sent, SourceEntry
from workflows.conversations.customer import customer_message
from workflows.conversations.events import mark_answer
from workflows.conversations.model import Conversation

CHANNEL: Final = "sms"
OPTED_OUT_REFUSAL: Final = "the contact opted out of texts (STOP); this reply will not be sent"


class SmsOutbound:
    """Sends text into SMS conversations (see the module docstring)."""

    def send(
        self,
        conn: Connection,
        conversation: Conversation,
        body: str,
        key: str,
        now: datetime,
        *,
        hold: Hold | None = None,
    ) -> Sent:
        message_id = queue_text(
            conn,
            to=conversation.contact_number,
            from_=conversation.business_number,
            body=body,
            key=key,
            due_at=hold.until if hold else None,
            hours=hold.hours if hold else None,
            now=now,
        )
        refused = OPTED_OUT_REFUSAL if is_opted_out(conn, conversation.contact_number) else None
        return Sent(message_id, refused)


class SmsHistory:
    """The texts of a conversation's thread, for its timeline."""

    def entries(
        self,
        conn: Connection,
        conversation: Conversation,
        since: datetime | None,
        until: datetime | None,
    ) -> list[SourceEntry]:
        if conversation.channel != CHANNEL:
            return []
        business = conversation.business_number
        conditions = [
            messages.c.contact_number == conversation.contact_number,
            or_(
                and_(messages.c.direction == "inbound", messages.c.to_number == business),
                and_(messages.c.direction == "outbound", messages.c.from_number == business),
            ),
        ]
        if since is not None:
            conditions.append(messages.c.created_at >= since)
        if until is not None:
            conditions.append(messages.c.created_at < until)
        rows = conn.execute(
            select(messages).where(*conditions).order_by(messages.c.id).limit(1000)
        ).all()
        return [
            SourceEntry(
                at=stored_time(row.created_at),
                kind="message",
                ref=str(row.id),
                data={
                    "channel": CHANNEL,
                    "direction": row.direction,
                    "body": row.body,
                    "status": row.status,
                    "error": row.error,
                    "error_code": row.error_code,
                    "from": row.from_number,
                    "to": row.to_number,
                },
            )
            for row in rows
        ]


def record_customer_text(
    conn: Connection,
    *,
    sid: str,
    business: str,
    contact: str,
    body: str,
    now: datetime,
    reopen_window: timedelta,
    answers_waiting_run: bool = False,
) -> None:
    """Put the received text ``sid`` (recorded already) on its conversation.

    ``answers_waiting_run``: the text goes to the run waiting for the contact's reply, if one
    waits (not a keyword): it is then marked as that run's answer, in this transaction, so
    that no ``message.received`` workflow takes a menu's "1" as a new message (the run
    itself takes it later, in its job)."""
    message_id = conn.execute(select(messages.c.id).where(messages.c.provider_id == sid)).scalar()
    conversation = customer_message(
        conn,
        channel=CHANNEL,
        business=business,
        contact=contact,
        message_id=message_id,
        body=body,
        now=now,
        reopen_window=reopen_window,
    )
    if not answers_waiting_run or message_id is None:
        return
    waiting = by_id(conn, conversation.id)
    run_id = None if waiting is None else waiting.waiting(now)
    if run_id is not None:
        mark_answer(conn, conversation.id, message_id, run_id)
