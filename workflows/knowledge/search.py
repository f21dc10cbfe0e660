"""Find the entry or passage that answers a question, with a score from 0 to 1.

**Candidates** come from the database's full-text index over the grams of every passage
(:mod:`workflows.knowledge.grams`): SQLite FTS5 ranked by ``bm25``, PostgreSQL
``to_tsvector('simple', grams) @@ to_tsquery(...)`` ranked by ``ts_rank`` (a GIN index), any
gram of the question matching, at most :data:`CANDIDATES` of them, limited to the question's
language and passages of any language.

**Scores** are then computed here, the same way on both databases, from the grams
themselves, so one threshold means the same everywhere. Each gram ``g`` of the question weighs
``w(g) = ln(1 + (N + 1) / (df(g) + 0.5))``, where ``N`` is the number of passages searched and
``df(g)`` how many candidates contain ``g`` (a gram no passage has weighs the most: words the
knowledge base does not know make it less sure). Three measures, each from 0 to 1:

- *coverage*: the weight of the question's grams the passage contains, over the weight of
  all the question's grams ("how do I cancel my subscription" against an entry that speaks of
  cancelling a subscription: 1.0);
- for an FAQ entry, *keyword*: for each of its keywords, the weight of the keyword's grams the
  question contains over the keyword's weight; the best keyword counts ("구독 해지" inside
  "구독을 해지하고 싶어요": 1.0);
- for an FAQ entry, *question match*: the harmonic mean of the coverage of the question by the
  entry's own question and of the entry's question by the customer's words.

An entry scores the best of the three, a document's passage its coverage times
:data:`PASSAGE_FACTOR` (curated answers win a tie). Equal scores go to the passage whose grams
the question covers most densely. A score of 0.5 or more (the ``answer`` step's default
threshold) means the question's main words, or one of the entry's keywords, were all found.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select, text

from workflows.knowledge.db import (
    knowledge_documents,
    knowledge_entries,
    knowledge_passages,
)
from workflows.knowledge.grams import grams, token
from workflows.knowledge.store import count_passages, primary_language

__all__ = ["CANDIDATES", "MAX_QUESTION", "Hit", "search"]

CANDIDATES = 100
"""How many passages the full-text index hands over to be scored."""
MAX_QUESTION = 1000
"""Characters of a question that are searched (a longer text is cut)."""
MAX_GRAMS = 200
"""Distinct grams of a question that are searched."""
PASSAGE_FACTOR = 0.95


@dataclass(frozen=True, slots=True)
class Hit:
    """A found answer: an FAQ entry (``kind="entry"``, ``source`` its question) or a document's
    passage (``kind="document"``, ``source`` the title and section)."""

    kind: Literal["entry", "document"]
    id: int
    """The entry's or the document's id."""
    passage_id: int
    source: str
    answer: str
    score: float
    language: str | None


def search(
    conn: Connection, question: str, *, language: str | None = None, limit: int = 5
) -> list[Hit]:
    """The best ``limit`` answers to ``question`` in ``language`` (None: any), best first."""
    asked = Counter(grams(question[:MAX_QUESTION]))
    if not asked:
        return []
    # Scores are computed on the grams' tokens: a candidate's are stored with it.
    wanted = {token(g) for g, _ in asked.most_common(MAX_GRAMS)}
    lang = primary_language(language)
    ids = _candidates(conn, sorted(wanted), lang)
    if not ids:
        return []
    rows = list(_rows(conn, ids))
    total = count_passages(conn, lang)
    seen = [set(row.grams.split()) for row in rows]
    df: Counter[str] = Counter()
    for found in seen:
        df.update(found & wanted)
    weight = {t: math.log(1 + (total + 1) / (df[t] + 0.5)) for t in wanted}
    scored = [
        (_score(row, found, wanted, weight), _density(found, wanted), row)
        for row, found in zip(rows, seen, strict=True)
    ]
    scored.sort(key=lambda item: (-item[0], -item[1], item[2].id))
    return [_hit(row, score) for score, _, row in scored[:limit] if score > 0]


_SQLITE = (
    "SELECT f.rowid FROM knowledge_fts AS f JOIN knowledge_passages AS p ON p.id = f.rowid"
    " WHERE knowledge_fts MATCH :query {language} ORDER BY bm25(knowledge_fts) LIMIT :limit"
)
_POSTGRESQL = (
    "SELECT p.id FROM knowledge_passages AS p"
    " WHERE to_tsvector('simple'::regconfig, p.grams) @@ to_tsquery('simple'::regconfig, :query)"
    " {language} ORDER BY ts_rank(to_tsvector('simple'::regconfig, p.grams),"
    " to_tsquery('simple'::regconfig, :query)) DESC, p.id LIMIT :limit"
)
_IN_LANGUAGE = "AND (p.language IS NULL OR p.language = :lang)"
_STATEMENTS = {
    (dialect, filtered): text(sql.format(language=_IN_LANGUAGE if filtered else ""))
    for dialect, sql in (("sqlite", _SQLITE), ("postgresql", _POSTGRESQL))
    for filtered in (False, True)
}
"""The candidate queries by dialect and whether a language is asked for (all constant)."""


def _candidates(conn: Connection, tokens: Sequence[str], lang: str | None) -> list[int]:
    """Passage ids with any of ``tokens``, best ranked first, in ``lang`` or any language."""
    sqlite = conn.dialect.name == "sqlite"
    # Tokens are lower-case ASCII letters (grams.token): nothing to escape in either syntax.
    query = " OR ".join(f'"{t}"' for t in tokens) if sqlite else " | ".join(tokens)
    values: dict[str, object] = {"query": query, "limit": CANDIDATES}
    if lang:
        values["lang"] = lang
    statement = _STATEMENTS["sqlite" if sqlite else "postgresql", bool(lang)]
    return [int(row[0]) for row in conn.execute(statement, values)]


def _rows(conn: Connection, ids: Iterable[int]) -> Iterable[Any]:
    p, e, d = knowledge_passages, knowledge_entries, knowledge_documents
    return conn.execute(
        select(
            p.c.id,
            p.c.entry_id,
            p.c.document_id,
            p.c.heading,
            p.c.text,
            p.c.language,
            p.c.grams,
            e.c.question,
            e.c.keywords,
            d.c.title,
        )
        .select_from(p.outerjoin(e, e.c.id == p.c.entry_id).outerjoin(d, d.c.id == p.c.document_id))
        .where(p.c.id.in_(list(ids)))
    )


def _share(part: Iterable[str], whole: Iterable[str], weight: Mapping[str, float]) -> float:
    """The weight of ``part`` over the weight of ``whole`` (grams the question lacks weigh
    as much as the rarest gram it has)."""
    top = max(weight.values(), default=1.0)
    total = sum(weight.get(g, top) for g in whole)
    return sum(weight.get(g, top) for g in part) / total if total else 0.0


def _score(row: Any, found: set[str], asked: set[str], weight: Mapping[str, float]) -> float:
    coverage = _share(asked & found, asked, weight)
    if row.entry_id is None:
        return round(coverage * PASSAGE_FACTOR, 4)
    best = coverage
    for keyword in row.keywords:
        own = _tokens(keyword)
        if own:
            best = max(best, _share(own & asked, own, weight))
    own_question = _tokens(row.question)
    if own_question:
        by = _share(asked & own_question, asked, weight)
        of = _share(own_question & asked, own_question, weight)
        if by and of:
            best = max(best, 2 * by * of / (by + of))
    return round(min(best, 1.0), 4)


def _tokens(words: str) -> set[str]:
    return {token(g) for g in grams(words)}


def _density(found: set[str], asked: set[str]) -> float:
    return len(found & asked) / len(found) if found else 0.0


def _hit(row: Any, score: float) -> Hit:
    if row.entry_id is not None:
        return Hit("entry", row.entry_id, row.id, row.question, row.text, score, row.language)
    source = f"{row.title} / {row.heading}" if row.heading else row.title
    return Hit("document", row.document_id, row.id, source, row.text, score, row.language)
