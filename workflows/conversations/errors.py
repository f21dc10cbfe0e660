"""What can go wrong with a conversation.

ConversationError
 ├── UnknownConversation    no conversation has this id
 ├── ChangeRefused          the change does not fit the conversation's state (409)
 └── ChannelUnavailable     no outbound is registered for the conversation's channel
"""

from __future__ import annotations


class ConversationError(Exception):
    """Base of the errors of :mod:`workflows.conversations`."""


class UnknownConversation(ConversationError, LookupError):
    """No conversation has this id."""


class ChangeRefused(ConversationError):
    """The change does not fit the conversation's state (e.g. reopening an open one)."""


class ChannelUnavailable(ConversationError):
    """Nothing can send on the conversation's channel in this process."""
