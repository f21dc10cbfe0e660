"""The job that ends a snooze (kind :data:`~workflows.conversations.actions.WAKE_JOB`).

It checks again when it fires: the conversation must still be snoozed at the state version
the snooze set (a text from the contact, a close or a new snooze since then make it do
nothing), so it opens the conversation at most once per snooze. The check and the change are
one guarded ``UPDATE`` (plus the ``woke`` event when it changed something), and they are the
job's final write: committed in the same transaction as the job's completion (which the
worker batches with other jobs' outcomes, see bench/README.md "Conversations"), so a worker
lost in between leaves neither, and the job runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from workflows.conversations.actions import wake
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
            woke = wake(conn, conversation_id, version, now)
            said = "ended" if woke else "no longer due (changed or gone since)"
            log.info("conversation %d: snooze %s", conversation_id, said)

        return wake_if_still_snoozed
