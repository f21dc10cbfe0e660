"""What the conversation steps of a workflow do, as automation, to the run's conversation.

A step never touches the database: it emits :class:`~workflows.instructions.ChangeConversation`
and the session service hands each one here, inside the transaction that saves the turn, with
the run's conversation (the run's subject). Every change goes through the same functions as an
agent's (:mod:`workflows.conversations.actions`), authored ``automation``, so it is on the
timeline and raises the same triggers and timers (a note is the same timeline event an
agent's note records, written without reading the conversation again first).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Connection

from workflows.conversations import actions
from workflows.conversations.channels import ConversationChannels, Hold
from workflows.conversations.errors import ChangeRefused
from workflows.conversations.events import record
from workflows.conversations.model import AUTOMATION, Priority, load
from workflows.instructions import ChangeConversation
from workflows.people.agents import find_agent
from workflows.people.teams import find_team

log = logging.getLogger(__name__)


class AutomationRefused(Exception):
    """A conversation step could not act (an unknown team, a closed conversation...)."""


def _assign(
    conn: Connection, conversation_id: int, change: ChangeConversation, now: datetime
) -> None:
    agent_name, team_name = change.values.get("agent"), change.values.get("team")
    agent_id = team_id = None
    if agent_name is not None:
        agent = find_agent(conn, str(agent_name))
        if agent is None:
            raise AutomationRefused(f"no agent called {agent_name!r}")
        agent_id = agent.id
    if team_name is not None:
        team = find_team(conn, str(team_name))
        if team is None:
            raise AutomationRefused(f"no team called {team_name!r}")
        team_id = team.id
    actions.assign(
        conn, conversation_id, agent_id=agent_id, team_id=team_id, actor=AUTOMATION, now=now
    )


def act(
    conn: Connection,
    conversation_id: int,
    change: ChangeConversation,
    channels: ConversationChannels,
    now: datetime,
    *,
    hold: Hold | None = None,
) -> None:
    """Apply ``change`` to the conversation; :class:`AutomationRefused` when it cannot be.
    ``hold``: the quiet hours a ``reply`` of an automated turn keeps."""
    values = change.values
    try:
        if change.action == "reply":
            body = str(values["body"])
            actions.reply(conn, conversation_id, body, AUTOMATION, channels, now, hold=hold)
        elif change.action == "note":
            # The run's own conversation, and conversations are never deleted: not read
            # again to see that it exists, as an agent's note on any id is.
            record(conn, conversation_id, "note", AUTOMATION, now, body=str(values["body"]))
        elif change.action == "assign":
            _assign(conn, conversation_id, change, now)
        elif change.action == "set_priority":
            priority: Priority = values["priority"]
            actions.set_priority(conn, conversation_id, priority, AUTOMATION, now)
        elif change.action == "tag":
            actions.tag(conn, conversation_id, str(values["tag"]), AUTOMATION, now)
        elif change.action == "untag":
            actions.untag(conn, conversation_id, str(values["tag"]), AUTOMATION, now)
        elif change.action == "snooze":
            until = now + timedelta(seconds=int(values["seconds"]))
            actions.snooze(conn, conversation_id, until, AUTOMATION, now)
        elif change.action == "close":
            if load(conn, conversation_id).status != "closed":
                actions.close(conn, conversation_id, AUTOMATION, now)
        else:
            raise AutomationRefused(f"unknown conversation action {change.action!r}")
    except ChangeRefused as error:
        raise AutomationRefused(str(error)) from error
