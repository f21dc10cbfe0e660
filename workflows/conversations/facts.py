"""A conversation's state as filters and templates read it (``conversation`` in ``when``,
``branch`` and ``{{conversation.*}}``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from workflows.conversations.errors import UnknownConversation
from workflows.conversations.model import load
from workflows.people.db import agents, teams


def state_values(conn: Connection, conversation_id: int) -> dict[str, Any] | None:
    """``id``, ``status``, ``priority``, ``assignee`` (the agent's name or None), ``team``,
    ``tags`` (a list), ``answered``; None when there is no such conversation."""
    try:
        conversation = load(conn, conversation_id)
    except UnknownConversation:
        return None
    agent = team = None
    if conversation.assignee_agent_id is not None:
        agent = conn.execute(
            select(agents.c.name).where(agents.c.id == conversation.assignee_agent_id)
        ).scalar()
    if conversation.assignee_team_id is not None:
        team = conn.execute(
            select(teams.c.name).where(teams.c.id == conversation.assignee_team_id)
        ).scalar()
    return {
        "id": conversation.id,
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee": agent,
        "team": team,
        "tags": list(conversation.tags),
        "answered": not conversation.unanswered,
    }
