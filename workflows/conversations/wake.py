"""The job that ends a snooze (kind :data:`~workflows.conversations.actions.WAKE_JOB`).

It checks again when it fires: the conversation must still be snoozed at the state version
the snooze set (a text from the contact, a close or a new snooze since then make it do
nothing), so it opens the conversation at most once per snooze. The check and the change are
one guarded ``UPDATE`` (plus the ``woke`` event when it changed something), and they are the
job's final write: committed in the same transaction as the job's completion, so a worker
lost in between leaves neither, and the job runs again. It is a grouped write: the worker
ends the snoozes of all the wake jobs of a batch with one ``UPDATE`` and one ``INSERT`` (see
bench/README.md "Conversations").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from workflows.conversations.actions import wake_all
from workflows.jobs import ClaimedJob, FinalWrite, GroupedWrite, PermanentJobError

log = logging.getLogger(__name__)


def end_snoozes(conn: Connection, snoozes: list[tuple[int, int, datetime]]) -> None:
    """The wake jobs' grouped final write: :func:`wake_all` for the snoozes of every wake job
    in the worker's batch."""
    woke = wake_all(conn, snoozes)
    for conversation_id, _, _ in snoozes:
        said = "ended" if conversation_id in woke else "no longer due (changed or gone since)"
        log.info("conversation %d: snooze %s", conversation_id, said)


class WakeHandler:
    """Opens a snoozed conversation when its snooze ends."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    async def __call__(self, job: ClaimedJob) -> FinalWrite:
        conversation_id = job.payload.get("conversation_id")
        version = job.payload.get("state_version")
        if not isinstance(conversation_id, int) or not isinstance(version, int):
            raise PermanentJobError("payload needs conversation_id and state_version")
        return GroupedWrite(end_snoozes, (conversation_id, version, self._clock()))
