"""The channel-neutral workflow core: definitions, validation, steps and the engine.

Nothing in this package imports from ``ivr``, ``sms``, ``chat`` or ``prompts``: channels adapt
their wire formats to the events and instructions defined here.
"""
