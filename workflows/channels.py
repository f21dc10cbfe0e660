"""The channels a run can live on, by name (steps declare which they support)."""

from __future__ import annotations

from typing import Final

VOICE: Final = "voice"
SMS: Final = "sms"
CHAT: Final = "chat"
