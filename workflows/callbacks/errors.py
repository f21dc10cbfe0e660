"""What can go wrong with callbacks.

CallbackError
 ├── UnknownCallback     no callback request has this id
 ├── NotPending          only a pending request can be cancelled (its status is kept)
 └── PlacementError      the call to the agent could not be placed
      ├── PlacementRefused   refused for sure: nothing was created
      └── PlacementUnclear   may have been created (timeout, 5xx, connection lost)
"""

from __future__ import annotations


class CallbackError(Exception):
    """Base of the errors of :mod:`workflows.callbacks`."""


class UnknownCallback(CallbackError, LookupError):
    """No callback request has this id."""


class NotPending(CallbackError):
    """The request is not pending (``status`` says what it is)."""

    def __init__(self, callback_id: int, status: str) -> None:
        super().__init__(f"callback {callback_id} is {status}, not pending")
        self.status = status


class PlacementError(CallbackError):
    """The call to the agent could not be placed."""


class PlacementRefused(PlacementError):
    """The provider refused the call: nothing was created."""


class PlacementUnclear(PlacementError):
    """No clear answer: the call may exist; look it up before placing it again."""
