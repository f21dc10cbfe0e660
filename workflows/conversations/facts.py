"""A conversation's state as filters and templates read it (``conversation`` in ``when``,
``branch`` and ``{{conversation.*}}``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from workflows.conversations.errors import UnknownConversation
from workflows.conversations.model import NamedConversation, load_named


def state_of(named: NamedConversation) -> dict[str, Any]:
    """``id``, ``status``, ``priority``, ``assignee`` (the agent's name or None), ``team``,
    ``tags`` (a list), ``answered``."""
    conversation = named.conversation
    return {
        "id": conversation.id,
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee": named.agent,
        "team": named.team,
        "tags": list(conversation.tags),
        "answered": not conversation.unanswered,
    }


def state_values(conn: Connection, conversation_id: int) -> dict[str, Any] | None:
    """The state (:func:`state_of`) of conversation ``conversation_id``, read in one
    statement; None when there is no such conversation."""
    try:
        return state_of(load_named(conn, conversation_id))
    except UnknownConversation:
        return None
