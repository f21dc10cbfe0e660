"""Tables of the voice channel: the call log, shared with the PBX channel, lives in the core
(:mod:`workflows.call_log`); it is re-exported here for the voice channel's modules."""

from __future__ import annotations

from workflows.call_log import calls

__all__ = ["calls"]
