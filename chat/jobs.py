"""The chat's job: wake a run whose ``wait`` is over (kind
:data:`~chat.conversations.CHAT_RUN_TIMER`); the session service checks that the run still
waits at that turn, so a repeated job does nothing twice."""

from __future__ import annotations

from chat.conversations import ChatConversations
from workflows.jobs import ClaimedJob, PermanentJobError
from workflows.sessions import SessionService, TextQueue


class ChatRunTimerHandler:
    """Wakes a chat run waiting in a ``wait`` step."""

    def __init__(self, sessions: SessionService, texts: TextQueue | None = None) -> None:
        self._sessions = sessions
        self._channel = ChatConversations(texts)

    async def __call__(self, job: ClaimedJob) -> None:
        run_id = job.payload.get("run_id")
        if not isinstance(run_id, str):
            raise PermanentJobError("payload needs run_id")
        await self._sessions.timer_fired(run_id, job.payload.get("turn"), self._channel)
