"""One clock for the whole server: a server whose clock is set years away from the real time
answers calls and texts, runs its jobs and stamps every row with its own time, never the
machine's (a stray read of the real clock would leave a time near today in some table, or
leave a job due "in the future" that the worker never runs)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, DateTime, select

from ringflow.database import metadata, stored_time
from tests.clock import MONDAY, MovableClock, next_weekday_at
from tests.conftest import ServerFactory, eventually, signed_post
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.sms.test_post_call_texts import CALLER, MISSED, NEW_YORK, OUR_NUMBER, start_line

YEARS_AGO = timedelta(days=3 * 365)


def stamped_times(conn: Connection) -> list[tuple[str, datetime]]:
    """Every time stored in any table, as (table.column, time)."""
    found = []
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, DateTime)]
        if not columns:
            continue
        for row in conn.execute(select(*columns)):
            for column, value in zip(columns, row, strict=True):
                if value is not None:
                    found.append((f"{table.name}.{column.name}", stored_time(value)))
    return found


async def test_a_server_years_in_the_past_runs_on_its_own_clock(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    moment = next_weekday_at(MONDAY, time(10, 0), NEW_YORK, after=datetime.now(UTC) - YEARS_AGO)
    clock = MovableClock(moment)
    line = await start_line(servers, server_stub, clock)
    server = line.server
    await line.call("1", "no-answer", None)
    await eventually(lambda: len(server_stub.accepted) == 1, what="the missed-call text")
    assert (server_stub.accepted[0].to, server_stub.accepted[0].body) == (CALLER, MISSED)
    form: dict[str, Any] = {
        "MessageSid": "SM" + "7" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": CALLER,
        "To": OUR_NUMBER,
        "Body": "HELP",
    }
    assert (await signed_post(server, "/twilio/sms", form)).status == 200
    await eventually(lambda: len(server_stub.accepted) == 2, what="the HELP reply")
    await line.settled()  # the reply's job is recorded done (a running job's lease is ahead)

    stamps = await server.db.read(stamped_times)
    assert {name.split(".")[0] for name, _ in stamps} >= {
        "calls",
        "runs",
        "contacts",
        "messages",
        "jobs",
        "trigger_firings",
    }
    latest = clock()
    strays = [(name, at) for name, at in stamps if not moment <= at <= latest]
    assert strays == [], "times not from the server's clock"
