"""``ringflow worker`` as its own process: it sends a text queued in the database through the
provider, and on SIGTERM it stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import select

from ringflow.clock import system_clock
from ringflow.database import Database
from sms.db import messages
from sms.send_job import queue_text
from tests.conftest import eventually
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub

RINGFLOW = Path(sys.executable).parent / "ringflow"
CUSTOMER = "+14155550123"
BUSINESS = "+15005550001"


def worker_env(database_url: str, stub: TwilioApiStub, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RINGFLOW_", "TWILIO_"))
    }
    env.update(
        RINGFLOW_DATABASE_URL=database_url,
        RINGFLOW_DATA_DIR=str(data_dir),
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        RINGFLOW_TWILIO_API_URL=stub.base_url,
    )
    return env


async def status_of(db: Database, key: str) -> str | None:
    query = select(messages.c.status).where(messages.c.idempotency_key == key)
    return await db.read(lambda conn: conn.execute(query).scalar_one_or_none())


async def test_the_worker_sends_a_queued_text_and_stops_on_sigterm(
    migrated_db: Database, database_url: str, tmp_path: Path
) -> None:
    now = system_clock()  # the worker is another process, on the real clock
    await migrated_db.write(
        lambda conn: queue_text(
            conn, to=CUSTOMER, from_=BUSINESS, body="Your table is ready.", key="t1", now=now
        )
    )
    log = tmp_path / "worker.log"
    async with TwilioApiStub() as stub:
        with log.open("wb") as out:
            worker = await asyncio.create_subprocess_exec(
                str(RINGFLOW),
                "worker",
                env=worker_env(database_url, stub, tmp_path / "data"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        try:

            async def sent() -> bool:
                if worker.returncode is not None:
                    raise AssertionError(f"worker exited early:\n{log.read_text()}")
                return await status_of(migrated_db, "t1") == "sent"

            await eventually(sent, 20, "the text sent")
            assert [(m.to, m.from_, m.body) for m in stub.accepted] == [
                (CUSTOMER, BUSINESS, "Your table is ready.")
            ]
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(worker.wait(), 20) == 0
        finally:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    output = log.read_text()
    assert "started (sending texts with twilio)" in output
    assert "stopping" in output
