"""A worker killed mid-run loses no text and sends none twice.

1,000 texts are queued; ``ringflow worker`` runs as a subprocess against TwilioApiStub (in this
test's event loop); once the stub has accepted 300 it is SIGKILLed, and a second worker takes
over (claiming the dead one's jobs once their short leases expire) until every message is
``sent``. Every key must reach the stub, none may be accepted twice. Re-sends (a request whose
token was already accepted: the dead worker's send whose ``mark_sent`` never committed) are the
expected at-least-once behaviour, absorbed by the idempotency token; the test prints how many.
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
LEASE_SECONDS = 2
TO = "+15005550006"
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
        queue_text(conn, to=TO, from_=FROM, body=f"Reminder {key}", key=key, now=now)


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
        env = worker_env(database_url, stub, tmp_path / "data")
        try:
            first = await start_worker(env, log)
            processes.append(first)

            async def enough_accepted() -> bool:
                if first.returncode is not None:
                    raise AssertionError(f"worker exited early:\n{log.read_text()}")
                return len(stub.accepted) >= KILL_AFTER

            await eventually(enough_accepted, 30, f"{KILL_AFTER} accepted texts")
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL
            accepted_at_kill = len(stub.accepted)
            assert accepted_at_kill < TEXTS, "the first worker finished before it was killed"

            second = await start_worker(env, log)
            processes.append(second)

            async def all_done() -> bool:
                if second.returncode is not None:
                    raise AssertionError(f"worker exited early:\n{log.read_text()}")
                return (
                    await count(db, "messages", "sent") == TEXTS
                    and await count(db, "jobs", "done") == TEXTS
                )

            await eventually(all_done, 60, "every message sent and every job done")
            second.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                assert await second.wait() == 0, log.read_text()
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    elapsed = time.monotonic() - began

    accepted = Counter(message.idempotency_token for message in stub.accepted)
    requested = Counter(request.idempotency_token for request in stub.requests)
    assert set(accepted) == set(keys), "every key reached the stub"
    assert max(accepted.values()) == 1, "no text was accepted twice"
    assert len(stub.accepted) == TEXTS
    resent = [key for key, times in requested.items() if times > 1]
    assert len(stub.requests) == TEXTS + sum(requested[key] - 1 for key in resent)
    reclaimed = await db.read(
        lambda conn: conn.execute(
            select(func.count()).select_from(jobs).where(jobs.c.attempts > 1)
        ).scalar_one()
    )
    sids = await db.read(
        lambda conn: conn.execute(
            select(func.count(messages.c.provider_id.distinct()))
        ).scalar_one()
    )
    assert sids == TEXTS
    print(
        f"\ncrash test ({database_url.split(':', 1)[0]}): {len(stub.accepted)} accepted, "
        f"{accepted_at_kill} before the kill, {len(resent)} keys re-sent "
        f"({len(stub.requests)} requests), {reclaimed} jobs claimed more than once, "
        f"{elapsed:.1f} s"
    )
