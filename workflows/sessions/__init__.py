"""The one way into the core for every channel: events in, runs persisted, instructions out.

See :mod:`workflows.sessions.service`; channel adapters implement the protocols of
:mod:`workflows.sessions.channels`.
"""

from workflows.sessions.channels import CallAnswers, ConversationChannel, TextQueue, TurnDone
from workflows.sessions.service import CallOpening, SessionService

__all__ = [
    "CallAnswers",
    "CallOpening",
    "ConversationChannel",
    "SessionService",
    "TextQueue",
    "TurnDone",
]
