"""The knowledge base's search on SQLite (FTS5) and PostgreSQL (full text): Korean inside
sentences, English in other words, one threshold for both, the language filter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection

from ringflow.database import Database
from workflows.knowledge import Knowledge
from workflows.knowledge.search import Hit, search
from workflows.knowledge.store import (
    EntryFields,
    add_document,
    add_entry,
    delete_document,
    delete_entry,
    prepare_document,
    put_entry,
)

NOW = datetime.now(UTC)
THRESHOLD = 0.5

GUIDE = """\
# Deliveries

We deliver Monday to Saturday. Orders placed before 2 pm leave the same day.

## Lost parcels

If your parcel has not arrived within five working days, write to us with your order number
and we send a replacement at no cost.

# 환불

환불은 구매 후 14일 이내에 신청할 수 있습니다. 영수증을 보내 주세요.
"""


def _fill(conn: Connection) -> None:
    add_entry(
        conn,
        EntryFields(
            "How can I cancel my subscription?",
            "Open Settings > Subscription and press Cancel; you keep access until the period ends.",
            ("cancel subscription", "unsubscribe"),
            "en",
        ),
        NOW,
    )
    add_entry(
        conn,
        EntryFields(
            "What are your opening hours?",
            "We are open from 9:00 to 18:00, Monday to Friday.",
            ("opening hours", "open"),
            "en",
        ),
        NOW,
    )
    add_entry(
        conn,
        EntryFields(
            "구독은 어떻게 해지하나요?",
            "설정 > 구독에서 해지 버튼을 누르세요. 남은 기간까지 이용할 수 있습니다.",
            ("구독 해지", "구독 취소"),
            "ko",
        ),
        NOW,
    )
    add_entry(
        conn,
        EntryFields("영업시간이 어떻게 되나요?", "평일 오전 9시부터 오후 6시까지입니다.", (), "ko"),
        NOW,
    )
    add_document(conn, prepare_document("Customer guide", GUIDE), NOW)


async def _ask(db: Database, question: str, language: str | None = None) -> list[Hit]:
    return await db.read(lambda conn: search(conn, question, language=language))


@pytest.fixture
async def kb(migrated_db: Database) -> Database:
    await migrated_db.write(_fill)
    return migrated_db


async def test_a_korean_phrase_is_found_inside_a_sentence(kb: Database) -> None:
    hits = await _ask(kb, "구독을 해지하고 싶어요", "ko")
    assert hits[0].source == "구독은 어떻게 해지하나요?"
    assert hits[0].score >= THRESHOLD
    assert hits[0].answer.startswith("설정 > 구독")


async def test_a_korean_search_finds_the_words_inside_a_document_sentence(kb: Database) -> None:
    hits = await _ask(kb, "환불 신청", "ko")
    assert hits[0].kind == "document"
    assert hits[0].source == "Customer guide / 환불"
    assert "14일" in hits[0].answer
    assert hits[0].score >= THRESHOLD


async def test_an_english_question_in_other_words_finds_its_entry(kb: Database) -> None:
    hits = await _ask(kb, "how do I cancel my subscription", "en")
    assert hits[0].source == "How can I cancel my subscription?"
    assert hits[0].score >= THRESHOLD
    hours = await _ask(kb, "When are you open on Friday?", "en-US")
    assert hours[0].source == "What are your opening hours?"
    assert hours[0].score >= THRESHOLD


async def test_a_passage_of_a_document_answers_with_its_section(kb: Database) -> None:
    hits = await _ask(kb, "my parcel has not arrived")
    assert hits[0].kind == "document"
    assert hits[0].source == "Customer guide / Deliveries / Lost parcels"
    assert "replacement" in hits[0].answer
    assert hits[0].score >= THRESHOLD


async def test_a_question_the_knowledge_base_cannot_answer_stays_under_the_threshold(
    kb: Database,
) -> None:
    for question in (
        "Do you sell gift cards for dogs?",
        "can I bring my bicycle on the train",
        "비밀번호를 잊어버렸어요",
    ):
        hits = await _ask(kb, question)
        assert all(hit.score < THRESHOLD for hit in hits), (question, hits)
    assert await _ask(kb, "   ?!  ") == []


async def test_the_language_filter_keeps_other_languages_out(kb: Database) -> None:
    assert await _ask(kb, "구독 해지", "en") == [] or all(
        hit.language in (None, "en") for hit in await _ask(kb, "구독 해지", "en")
    )
    korean = await _ask(kb, "구독 해지", "ko")
    assert korean[0].language == "ko"
    assert all(hit.language in (None, "ko") for hit in await _ask(kb, "subscription", "ko"))
    anywhere = await _ask(kb, "구독 해지")
    assert anywhere[0].source == "구독은 어떻게 해지하나요?"


async def test_changes_and_deletions_reach_the_index_at_once(kb: Database) -> None:
    first = (await _ask(kb, "how do I cancel my subscription"))[0]
    await kb.write(
        lambda conn: put_entry(
            conn,
            first.id,
            EntryFields("How do I close my account?", "Write to us.", ("close account",), "en"),
            NOW,
        )
    )
    assert (await _ask(kb, "close my account"))[0].id == first.id
    after = await _ask(kb, "how do I cancel my subscription", "en")
    assert all(hit.passage_id != first.passage_id for hit in after)
    await kb.write(lambda conn: delete_entry(conn, first.id))
    assert all(
        hit.kind != "entry" or hit.id != first.id for hit in await _ask(kb, "close my account")
    )
    guide = (await _ask(kb, "parcel arrived"))[0]
    await kb.write(lambda conn: delete_document(conn, guide.id))
    assert all(hit.kind == "entry" for hit in await _ask(kb, "parcel arrived"))


async def test_scores_are_the_same_on_both_databases(kb: Database) -> None:
    """The scores are computed from the grams, not by the database: pinned values hold on
    SQLite and PostgreSQL alike."""
    hits = await kb.read(lambda conn: Knowledge(conn).search("구독을 해지하고 싶어요"))
    assert hits[0].score == 1.0
    english = await _ask(kb, "how do I cancel my subscription")
    assert english[0].score == 1.0
