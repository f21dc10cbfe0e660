"""SMS channel: provider interface, Twilio and local-outbox providers, inbound and status webhooks.

Empty until the post-call SMS work lands (see docs/architecture.md).
"""
