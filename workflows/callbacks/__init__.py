"""Callbacks: a customer asks to be called back; Ringflow calls a free agent of the team
first, then the customer, during the team's business hours.

- :mod:`workflows.callbacks.db`: the requests and their attempts (tables);
- :mod:`workflows.callbacks.requests`: create (:func:`request_callback`: the hold queue's
  "press 1", the ``callback`` step and the admin API all call it), read, list, cancel, and
  the steps of a placement, each a compare-and-set so a repeat changes nothing;
- :mod:`workflows.callbacks.job`: the durable job that places a pending request when the
  team is open and an agent is free, never twice;
- :mod:`workflows.callbacks.service`: what each call of a placement says and does, for the
  voice channel to word.

Channel-neutral: the voice channel provides the :class:`~workflows.callbacks.job.CallPlacer`
and words the service's decisions; the SMS channel provides the opt-out check.
"""

from __future__ import annotations

from workflows.callbacks.requests import (
    PLACE_JOB,
    Callback,
    cancel_callback,
    find_callback,
    list_callbacks,
    request_callback,
)

__all__ = [
    "PLACE_JOB",
    "Callback",
    "cancel_callback",
    "find_callback",
    "list_callbacks",
    "request_callback",
]
