"""The channels conversations are on, as the core's registries want them: the outbound and
timeline sources (for the admin API and the conversation steps of workflows) and the
conversation channel of runs (for the conversation triggers' jobs)."""

from __future__ import annotations

from typing import Any

from chat.conversations import ChatConversations
from chat.outbound import ChatHistory, ChatOutbound
from ivr.conversation_calls import CallHistory
from sms.conversation_channel import SmsHistory, SmsOutbound
from sms.runner import SmsConversations
from sms.send_job import queue_text
from workflows.callbacks.timeline import CallbackHistory
from workflows.conversations.channels import ConversationChannels
from workflows.sessions import ConversationChannel


def conversation_channels() -> ConversationChannels:
    """The channels conversations are on: SMS sends replies and shows its texts, web chat
    shows them in the visitor's widget; voice shows the contact's calls and the callbacks
    placed to them."""
    channels = ConversationChannels()
    channels.register_outbound("sms", SmsOutbound())
    channels.register_outbound("chat", ChatOutbound())
    channels.add_source(SmsHistory())
    channels.add_source(ChatHistory())
    channels.add_source(CallHistory())
    channels.add_source(CallbackHistory())
    return channels


def run_channels() -> dict[str, ConversationChannel[Any]]:
    """Where conversation runs live, by channel name (SMS and web chat; a chat run's
    ``send_sms`` texts go out as SMS send jobs)."""
    return {"sms": SmsConversations(), "chat": ChatConversations(queue_text)}
