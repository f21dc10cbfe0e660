"""Test calls: calls an admin places from the console against any version or draft.

A test call goes through the server's own voice webhooks like any call, with two
differences, both decided here so that every part agrees:

* **Its id says it is a test.** The voice channel's call ids are ``CA`` and 32 hexadecimal
  digits; a test call's is ``CAtest`` and 28 (``t`` and ``s`` are no hexadecimal digits, so
  no real call is ever taken for one). The id is in every log line of the call and in the
  call log.
* **It never reaches anyone.** Its texts are not queued, it asks for no callback, and its
  end raises no post-call event (no missed-call text, no ``call.ended`` webhook): whatever
  the workflow would send is only logged, as a test's.

Which version a test call runs is kept by :class:`TestCallVersions`, in the process that
places it (the test call's webhooks go to that process's own address): a test id that no
console placed runs nothing.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Final

TEST_CALL_PREFIX: Final = "CAtest"
"""How a test call's id begins."""

_REMEMBERED: Final = 1000
"""Test calls whose versions are kept at once; beyond, the oldest are forgotten."""


def new_test_call_id() -> str:
    """A fresh test call id, shaped like the voice channel's call ids (34 characters)."""
    return TEST_CALL_PREFIX + secrets.token_hex(14)


def is_test_call(call_id: str) -> bool:
    """Whether ``call_id`` is a test call's (see the module docstring)."""
    return call_id.startswith(TEST_CALL_PREFIX)


class TestCallVersions:
    """The workflow version each test call in progress runs."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, capacity: int = _REMEMBERED) -> None:
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._capacity = capacity

    def place(self, call_id: str, version_id: int) -> None:
        """``call_id`` (a test call's) runs ``version_id``."""
        if not is_test_call(call_id):
            raise ValueError(f"{call_id[:40]!r} is not a test call's id")
        self._versions[call_id] = version_id
        while len(self._versions) > self._capacity:
            self._versions.popitem(last=False)

    def version_of(self, call_id: str) -> int | None:
        """The version the test call runs; None for an id no console placed (or forgotten)."""
        return self._versions.get(call_id)

    def ended(self, call_id: str) -> None:
        """The test call is over: forget it."""
        self._versions.pop(call_id, None)
