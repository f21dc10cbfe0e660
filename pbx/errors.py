"""The PBX channel's errors (see :class:`AmiError` for the tree)."""

from __future__ import annotations


class AmiError(Exception):
    """The AMI connection failed.

    ``AmiError``
    ├── ``AmiClosed``          the connection is gone (dropped, refused, logged off)
    ├── ``AmiTimeout``         an action got no answer in time
    ├── ``AmiActionFailed``    Asterisk answered ``Response: Error`` (``message`` says why)
    └── ``OriginateUnclear``   an ``Originate``'s outcome was lost with the connection and
                               no live channel carries its key: not sent again blindly
    """


class AmiClosed(AmiError):
    """The connection is gone."""


class AmiTimeout(AmiError):
    """An action got no answer in time (the connection may be dead)."""


class AmiActionFailed(AmiError):
    """Asterisk refused an action."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class OriginateUnclear(AmiError):
    """An ``Originate`` was sent but its outcome is unknown (the connection dropped) and no
    channel carries its key now: it may have rung and ended. It is not sent again unless
    the caller says so (``resend_if_absent``)."""
