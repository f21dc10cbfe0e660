"""One process follows a PBX: a PostgreSQL session advisory lock, held on a connection of
its own while the process owns the AMI connection.

Several ``ringflow serve`` instances on one PostgreSQL may all be given the AMI settings: the
one that takes the lock follows the PBX, the others stand by and try again every few seconds.
When the owner stops or dies its session ends, PostgreSQL releases the lock, and a standby
takes over (and catches up with ``CoreShowChannels``, like after any reconnect). An owner
whose lock connection stops answering gives up the PBX at once, so two processes never
follow it for longer than one check. On SQLite (one node) the process simply owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import asyncpg

log = logging.getLogger(__name__)

APPLICATION_NAME = "ringflow-ami-owner"
_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name`` (the PBX's host and port)."""
    digest = hashlib.sha256(f"ringflow-ami:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Ownership:
    """Who follows the PBX ``name``; ``dsn`` None: no other process can (SQLite)."""

    def __init__(self, dsn: str | None, name: str, *, retry: float = 5.0) -> None:
        self._dsn = dsn
        self._name = name
        self._key = lock_key(name)
        self._retry = retry
        self._connection: asyncpg.Connection | None = None

    @property
    def held(self) -> bool:
        """Whether this process owns the PBX now."""
        return self._dsn is None or self._connection is not None

    async def acquire(self) -> None:
        """Return once this process owns the PBX (standing by until then)."""
        if self.held:
            return
        waiting_logged = False
        while True:
            connection = await self._connect()
            if connection is not None:
                try:
                    taken = await connection.fetchval("SELECT pg_try_advisory_lock($1)", self._key)
                except _ERRORS as error:
                    log.warning("AMI owner lock: %s", error)
                    taken = False
                if taken:
                    self._connection = connection
                    log.info("this process follows the PBX %s", self._name)
                    return
                await _close(connection)
                if not waiting_logged:
                    log.info("another process follows the PBX %s: standing by", self._name)
                    waiting_logged = True
            await asyncio.sleep(self._retry)

    async def lost(self) -> None:
        """Return when the lock is lost (its connection stopped answering); never without a
        database to share."""
        while True:
            await asyncio.sleep(self._retry)
            connection = self._connection
            if connection is None:
                if self._dsn is None:
                    continue
                return
            try:
                # asyncio.timeout, never wait_for: on Python 3.11 wait_for swallows a
                # cancellation that comes as the answer arrives, and the adapter's task group
                # (which cancels this when a connection ends) then waits for it forever.
                async with asyncio.timeout(self._retry):
                    await connection.fetchval("SELECT 1")
            except _ERRORS as error:
                log.warning("AMI owner lock lost (%s): leaving the PBX to another process", error)
                self._connection = None
                await _close(connection)
                return

    async def release(self) -> None:
        """Give the PBX up (another process may take it)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(*_ERRORS):
                await connection.execute("SELECT pg_advisory_unlock_all()")
            await _close(connection)

    async def _connect(self) -> asyncpg.Connection | None:
        try:
            return await asyncpg.connect(
                self._dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME}
            )
        except _ERRORS as error:
            log.warning("AMI owner lock: cannot connect (%s)", error)
            return None


async def _close(connection: asyncpg.Connection) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await connection.close()
