"""Audio prompts: upload, validation, conversion to the telephony profile, text-to-speech.

Empty until the admin prompts work lands (see docs/architecture.md).
"""
