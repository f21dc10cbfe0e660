"""Survey answers kept against a conversation (the ``survey`` step's ``RecordRating``).

A rating is stored with the conversation's assignee (agent and team) at the moment it was
given, so that CSAT reports credit whoever handled the conversation then, even after it is
reassigned. Every answer, or the lack of one, is also an event of the timeline (``survey``,
authored by automation). The session service calls :func:`keep` in the transaction that saves
the turn; a turn is saved once, and the (run, turn) unique key says so again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from workflows.conversations.db import conversation_ratings
from workflows.conversations.events import record
from workflows.conversations.model import AUTOMATION, load
from workflows.instructions import RecordRating


def keep(
    conn: Connection,
    conversation_id: int,
    answer: RecordRating,
    *,
    run_id: str,
    turn: int,
    now: datetime,
) -> None:
    """Store ``answer`` (a rating, or that none came) for the conversation at ``now``."""
    conversation = load(conn, conversation_id)
    data: dict[str, object] = {"rating": answer.rating, "outcome": answer.outcome}
    if answer.rating is not None:
        conn.execute(
            conversation_ratings.insert().values(
                conversation_id=conversation_id,
                rating=answer.rating,
                comment=answer.comment,
                agent_id=conversation.assignee_agent_id,
                team_id=conversation.assignee_team_id,
                run_id=run_id,
                turn=turn,
                rated_at=now,
            )
        )
        data.update(agent_id=conversation.assignee_agent_id, team_id=conversation.assignee_team_id)
    record(conn, conversation_id, "survey", AUTOMATION, now, data=data, body=answer.comment)
