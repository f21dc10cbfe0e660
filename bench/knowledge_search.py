"""How long the ``answer`` step's search takes on a knowledge base where every entry is a
candidate (the worst case): 1,000 FAQ entries (500 English, 500 Korean) sharing the searched
words, and a 250-passage document; 100 searches, median and p95.

    .venv/bin/python -m bench.knowledge_search sqlite:////tmp/kb.db
    .venv/bin/python -m bench.knowledge_search postgresql+asyncpg://postgres@127.0.0.1/kb

The database must be empty (a new SQLite file, an empty PostgreSQL database); it is migrated.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import Connection

from ringflow.database import open_database
from ringflow.migrate import upgrade
from workflows.knowledge.search import search
from workflows.knowledge.store import EntryFields, add_document, add_entry, prepare_document

TOPICS = ("subscription", "delivery", "refund", "password", "invoice")
QUESTIONS = (
    "how do I cancel my subscription",
    "구독을 해지하고 싶어요",
    "my parcel never arrived",
    "비밀번호를 잊어버렸어요",
)


def _fill(conn: Connection, now: datetime) -> None:
    for i in range(500):
        topic = TOPICS[i % len(TOPICS)]
        english = EntryFields(f"Question {i} about {topic}?", f"Answer {i}.", (topic,), "en")
        add_entry(conn, english, now)
        korean = EntryFields(f"{i}번 구독 해지 문의", f"{i}번 답변입니다.", (f"구독 {i}",), "ko")
        add_entry(conn, korean, now)


async def main(url: str) -> None:
    db = await open_database(url)
    try:
        await upgrade(db)
        now = datetime.now(UTC)
        await db.write(lambda conn: _fill(conn, now))
        paragraph = "구독을 해지하려면 설정에서 구독 메뉴를 여세요. Delivery takes ten days. " * 8
        started = time.perf_counter()
        prepared = prepare_document("Manual", (paragraph + "\n\n") * 500)
        prepare = time.perf_counter() - started
        started = time.perf_counter()
        await db.write(lambda conn: add_document(conn, prepared, now))
        store = time.perf_counter() - started
        times = []
        for question in QUESTIONS * 25:
            started = time.perf_counter()
            await db.read(lambda conn, q=question: search(conn, q, limit=1))  # type: ignore[misc]
            times.append(time.perf_counter() - started)
        times.sort()
        print(
            f"{db.url.get_backend_name()}: 1000 entries + {len(prepared.passages)} passages;"
            f" document prepared in {prepare * 1000:.0f} ms, stored in {store * 1000:.0f} ms;"
            f" search median {statistics.median(times) * 1000:.1f} ms,"
            f" p95 {times[94] * 1000:.1f} ms"
        )
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
