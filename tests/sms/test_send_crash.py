"""A worker killed mid-run loses no text and sends none twice, at a provider that keeps
duplicates.

1,000 texts are queued; ``ringflow worker`` runs as a subprocess against TwilioApiStub (in this
test's event loop), which, like Twilio, creates a new message for every request and here holds
each answer back a little after creating the message, so that a kill lands while dozens of
texts are accepted but their SIDs not yet recorded. Once the stub has accepted 300 texts the
worker is SIGKILLed, and a second worker takes over (claiming the dead one's jobs once their
leases expire) until every message is ``sent``. Every text must reach the stub exactly once:
the texts caught in the window are found by the second worker's lookup, not sent again.

The lease is short, so that the second worker takes over soon, but not shorter than a send
takes on a loaded machine: 50 handlers at once share 20 database connections, and on a starved
CPU each can take seconds. With a 2 s lease the first worker spent its time cancelling handlers
that outlived their leases and claiming their jobs again, so it often could not hand 300 texts
over within the time allowed here. (That churn is also where a real defect showed: two runs of
one job overlapping, the stale one sending the text again. It is fixed in the send job and
tested deterministically in ``test_send_overlap.py``, not left to this test's timing.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

from ringflow.clock import system_clock
from ringflow.database import Database
from sms.db import messages
from sms.send_job import queue_text
from tests.conftest import eventually
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub
from workflows.jobs import jobs

TEXTS = 1000
KILL_AFTER = 300
CHUNK = 250
LEASE_SECONDS = 8
ANSWER_DELAY = 0.3
TO_PREFIX = "+1500555"
FROM = "+15005550001"
RINGFLOW = Path(sys.executable).parent / "ringflow"


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


async def count(db: Database, table: str, status: str) -> int:
    source = messages if table == "messages" else jobs
    query = select(func.count()).select_from(source).where(source.c.status == status)
    return int(await db.read(lambda conn: conn.execute(query).scalar_one()))


def worker_env(database_url: str, stub: TwilioApiStub, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TWILIO_EDGE", "TWILIO_REGION", "RINGFLOW_CONFIG", "RINGFLOW_PUBLIC_URL"}
    }
    env.update(
        RINGFLOW_DATABASE_URL=database_url,
        RINGFLOW_DATA_DIR=str(data_dir),
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        RINGFLOW_TWILIO_API_URL=stub.base_url,
        RINGFLOW_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
        RINGFLOW_LOG_LEVEL="WARNING",
    )
    return env


async def start_worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            str(RINGFLOW),
            "worker",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=err,
            stderr=err,
        )


def queue_all(conn: Connection, keys: list[str]) -> None:
    now = system_clock()  # the worker that sends them is another process, on the real clock
    for key in keys:
        to = TO_PREFIX + key[-4:]  # one customer each, as in life
        queue_text(conn, to=to, from_=FROM, body=f"Reminder {key}", key=key, now=now)


async def recorded_sids(db: Database) -> set[str]:
    query = select(messages.c.provider_id).where(messages.c.provider_id.is_not(None))
    return {str(sid) for sid in await db.read(lambda conn: conn.execute(query).scalars().all())}


async def test_a_killed_worker_loses_no_text_and_sends_none_twice(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    keys = [f"crash-test:{number:04d}" for number in range(TEXTS)]
    for start in range(0, TEXTS, CHUNK):
        await db.write(partial(queue_all, keys=keys[start : start + CHUNK]))
    assert await count(db, "jobs", "queued") == TEXTS

    log = tmp_path / "workers.log"
    processes: list[asyncio.subprocess.Process] = []
    began = time.monotonic()
    async with TwilioApiStub() as stub:
        stub.answer_delay = ANSWER_DELAY  # created at once, answered late: the kill's window
        env = worker_env(database_url, stub, tmp_path / "data")
        try:
            first = await start_worker(env, log)
            processes.append(first)

            async def enough_accepted() -> bool:
                if first.returncode is not None:
                    raise AssertionError(f"worker exited early:\n{log.read_text()}")
                return len(stub.accepted) >= KILL_AFTER

            # About 10 s on an idle machine; the margin is for a loaded CI machine (30 s was
            # missed there twice on PostgreSQL while the same run passed alone).
            await eventually(enough_accepted, 90, f"{KILL_AFTER} accepted texts")
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL
            accepted_at_kill = len(stub.accepted)
            assert accepted_at_kill < TEXTS, "the first worker finished before it was killed"
            unrecorded = {m.sid for m in stub.accepted} - await recorded_sids(db)
            assert unrecorded, "the kill landed outside the window it is meant to test"

            stub.answer_delay = 0.0
            second = await start_worker(env, log)
            processes.append(second)

            async def all_done() -> bool:
                if second.returncode is not None:
                    raise AssertionError(f"worker exited early:\n{log.read_text()}")
                return (
                    await count(db, "messages", "sent") == TEXTS
                    and await count(db, "jobs", "done") == TEXTS
                )

            await eventually(all_done, 90, "every message sent and every job done")
            second.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                assert await second.wait() == 0, log.read_text()
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    elapsed = time.monotonic() - began

    bodies = Counter(message.body for message in stub.accepted)
    assert set(bodies) == {f"Reminder {key}" for key in keys}, "every text reached the stub"
    twice = [body for body, times in bodies.items() if times > 1]
    assert twice == [], f"{len(twice)} texts sent twice, e.g. {twice[:3]}"
    assert len(stub.accepted) == TEXTS

    def stored(conn: Connection) -> dict[str, str]:
        rows = conn.execute(select(messages.c.body, messages.c.provider_id)).all()
        return {row.body: row.provider_id for row in rows}

    by_body = await db.read(stored)
    assert by_body == {message.body: message.sid for message in stub.accepted}
    assert unrecorded <= set(by_body.values()), "the texts caught in the window were found"
    reclaimed = await db.read(
        lambda conn: conn.execute(
            select(func.count()).select_from(jobs).where(jobs.c.attempts > 1)
        ).scalar_one()
    )
    print(
        f"\ncrash test ({database_url.split(':', 1)[0]}): {len(stub.accepted)} accepted, "
        f"{accepted_at_kill} before the kill, {len(unrecorded)} accepted but unrecorded at the "
        f"kill (found by {len(stub.lookups())} lookups), {len(stub.creations())} create "
        f"requests, {reclaimed} jobs claimed more than once, {elapsed:.1f} s"
    )
