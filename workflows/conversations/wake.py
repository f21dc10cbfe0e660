"""The job that ends a snooze (kind :data:`~workflows.conversations.actions.WAKE_JOB`).

It checks again when it fires: the conversation must still be snoozed at the state version
the snooze set (a text from the contact, a close or a new snooze since then make it do
nothing), so it opens the conversation at most once per snooze. The check and the change are
the job's final write: they commit in the same transaction as the job's completion (one
transaction per timer instead of two, see bench/README.md "Conversations"), so a worker lost
in between leaves neither, and the job runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from workflows.conversations.actions import wake
from workflows.conversations.errors import UnknownConversation
from workflows.jobs import ClaimedJob, FinalWrite, PermanentJobError

log = logging.getLogger(__name__)


class WakeHandler:
    """Opens a snoozed conversation when its snooze ends."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    async def __call__(self, job: ClaimedJob) -> FinalWrite:
        conversation_id = job.payload.get("conversation_id")
        version = job.payload.get("state_version")
        if not isinstance(conversation_id, int) or not isinstance(version, int):
            raise PermanentJobError("payload needs conversation_id and state_version")
        now = self._clock()

        def wake_if_still_snoozed(conn: Connection) -> None:
            try:
                woke = wake(conn, conversation_id, version, now)
            except UnknownConversation:
                log.info("conversation %d: gone before its snooze ended", conversation_id)
                return
            log.info(
                "conversation %d: snooze %s", conversation_id, "ended" if woke else "no longer due"
            )

        return wake_if_still_snoozed
