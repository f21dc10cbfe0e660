"""Admin API for the knowledge base the ``answer`` step answers from: FAQ entries (create,
list, read, replace, delete), documents (upload Markdown or text, list, read with their
passages, delete), and a search to try a question as a customer would ask it.

Entries are addressed by id (``/knowledge/entries/12``), documents too. A document is sent as
JSON (``title``, ``format``, ``language``, ``content``) and split into passages at its headings
and paragraphs (docs/knowledge.md); one with no text is a 422 naming ``body.content``. Every
text has a size limit, and a field past it is a 422 naming the field.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection

from ringflow.admin.context import Text, admin_of, path_id, unprocessable
from ringflow.admin.endpoints import (
    Api,
    Body,
    Endpoint,
    json_answer,
    json_body,
    query_params,
)
from ringflow.admin.problems import not_found
from workflows.knowledge.errors import EmptyDocument, UnknownDocument, UnknownEntry
from workflows.knowledge.search import MAX_QUESTION, Hit, search
from workflows.knowledge.split import MAX_PASSAGE
from workflows.knowledge.store import (
    Document,
    DocumentPassage,
    Entry,
    EntryFields,
    add_document,
    add_entry,
    delete_document,
    delete_entry,
    find_document,
    find_entry,
    list_documents,
    list_entries,
    passages_of,
    prepare_document,
    put_entry,
)
from workflows.names import LANGUAGE_TAG

MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 1500
"""An answer and its source line fit in one text of 1,600 characters."""
MAX_KEYWORDS = 30
MAX_KEYWORD_CHARS = 100
MAX_TITLE_CHARS = 200
MAX_DOCUMENT_CHARS = 500_000
"""About 300 pages of text; a bigger manual is better uploaded in parts."""
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
"""The largest document upload body: 500,000 characters of Korean are 1.5 MB of UTF-8, 3 MB
as JSON ``\\uXXXX`` escapes (the server's general 64 KiB request limit is too small for
documents, so this body is streamed and counted here)."""

LanguageTag = Annotated[str, StringConstraints(pattern=LANGUAGE_TAG, max_length=16)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KnowledgeEntryIn(Strict):
    """An FAQ entry as an admin writes it."""

    question: Annotated[Text, Field(min_length=1, max_length=MAX_QUESTION_CHARS)] = Field(
        description="the question as customers ask it; its words find the entry"
    )
    answer: Annotated[Text, Field(min_length=1, max_length=MAX_ANSWER_CHARS)] = Field(
        description="what the customer is told"
    )
    keywords: list[Annotated[Text, Field(min_length=1, max_length=MAX_KEYWORD_CHARS)]] = Field(
        default_factory=list,
        max_length=MAX_KEYWORDS,
        description="phrases that find the entry when a message contains them all"
        ' ("cancel subscription", "구독 해지")',
    )
    language: LanguageTag | None = Field(
        default=None, description="the entry's language (`en`, `ko`); none: any language"
    )

    def fields(self) -> EntryFields:
        return EntryFields(
            self.question.strip(),
            self.answer.strip(),
            tuple(k.strip() for k in self.keywords if k.strip()),
            self.language,
        )


class KnowledgeEntryOut(Strict):
    id: int
    question: str
    answer: str
    keywords: list[str]
    language: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, entry: Entry) -> KnowledgeEntryOut:
        f = entry.fields
        return cls(
            id=entry.id,
            question=f.question,
            answer=f.answer,
            keywords=list(f.keywords),
            language=f.language,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
        )


class KnowledgeEntriesQuery(Strict):
    language: LanguageTag | None = Field(
        default=None, description="only entries in this language and those for any"
    )
    after: int = Field(default=0, ge=0, le=2**63 - 1, description="entries with a greater id")
    limit: int = Field(default=100, ge=1, le=500)


class KnowledgeDocumentIn(Strict):
    """A document to search: Markdown or plain text."""

    title: Annotated[Text, Field(min_length=1, max_length=MAX_TITLE_CHARS)] = Field(
        description="shown as the source of its answers"
    )
    format: Literal["markdown", "text"] = Field(
        default="markdown", description="markdown: split at headings and paragraphs"
    )
    language: LanguageTag | None = Field(default=None, description="none: any language")
    content: Annotated[Text, Field(min_length=1, max_length=MAX_DOCUMENT_CHARS)] = Field(
        description=f"the document's text (at most {MAX_DOCUMENT_CHARS} characters)"
    )


class KnowledgeDocumentOut(Strict):
    id: int
    title: str
    format: str
    language: str | None
    size: int = Field(description="characters")
    passage_count: int
    created_at: datetime

    @classmethod
    def of(cls, document: Document) -> KnowledgeDocumentOut:
        return cls(
            id=document.id,
            title=document.title,
            format=document.format,
            language=document.language,
            size=document.size,
            passage_count=document.passage_count,
            created_at=document.created_at,
        )


class KnowledgePassageOut(Strict):
    id: int
    position: int
    heading: str | None
    text: str

    @classmethod
    def of(cls, passage: DocumentPassage) -> KnowledgePassageOut:
        return cls(
            id=passage.id, position=passage.position, heading=passage.heading, text=passage.text
        )


class KnowledgeDocumentDetail(KnowledgeDocumentOut):
    passages: list[KnowledgePassageOut] = Field(
        description=f"at most {MAX_PASSAGE} characters each"
    )


class KnowledgeSearchIn(Strict):
    question: Annotated[Text, Field(min_length=1, max_length=MAX_QUESTION)] = Field(
        description="the customer's words"
    )
    language: LanguageTag | None = Field(default=None, description="none: every language")
    limit: int = Field(default=5, ge=1, le=20)
    threshold: float = Field(
        default=0.5, gt=0, le=1, description="the `answer` step's threshold, to see what passes"
    )


class KnowledgeHitOut(Strict):
    kind: Literal["entry", "document"]
    id: int = Field(description="the entry's or the document's id")
    passage_id: int
    source: str = Field(description="the entry's question, or the document's title / section")
    answer: str
    score: float = Field(description="0 to 1, the same on SQLite and PostgreSQL")
    language: str | None
    passes: bool = Field(description="whether the score reaches the threshold")

    @classmethod
    def of(cls, hit: Hit, threshold: float) -> KnowledgeHitOut:
        return cls(
            kind=hit.kind,
            id=hit.id,
            passage_id=hit.passage_id,
            source=hit.source,
            answer=hit.answer,
            score=hit.score,
            language=hit.language,
            passes=hit.score >= threshold,
        )


class KnowledgeSearchOut(Strict):
    answered: bool = Field(description="whether an `answer` step would answer")
    hits: list[KnowledgeHitOut] = Field(description="best first")


# --- entries -----------------------------------------------------------------------------


async def list_knowledge_entries(request: web.Request) -> web.Response:
    query = query_params(request, KnowledgeEntriesQuery)
    found = await admin_of(request).db.read(
        lambda conn: list_entries(
            conn, language=query.language, limit=query.limit, after=query.after
        )
    )
    return json_answer([KnowledgeEntryOut.of(entry) for entry in found])


async def create_knowledge_entry(request: web.Request) -> web.Response:
    admin = admin_of(request)
    fields = (await json_body(request, KnowledgeEntryIn)).fields()
    if not fields.question:
        raise unprocessable("body.question", "must not be blank")
    if not fields.answer:
        raise unprocessable("body.answer", "must not be blank")
    now = admin.clock()
    entry = await admin.db.write(lambda conn: add_entry(conn, fields, now))
    return json_answer(KnowledgeEntryOut.of(entry), status=201)


async def get_knowledge_entry(request: web.Request) -> web.Response:
    entry_id = path_id(request, "entry_id", "entry")
    entry = await admin_of(request).db.read(lambda conn: find_entry(conn, entry_id))
    if entry is None:
        raise not_found(f"entry {entry_id}")
    return json_answer(KnowledgeEntryOut.of(entry))


async def put_knowledge_entry(request: web.Request) -> web.Response:
    admin = admin_of(request)
    entry_id = path_id(request, "entry_id", "entry")
    fields = (await json_body(request, KnowledgeEntryIn)).fields()
    if not fields.question:
        raise unprocessable("body.question", "must not be blank")
    if not fields.answer:
        raise unprocessable("body.answer", "must not be blank")
    now = admin.clock()
    try:
        entry = await admin.db.write(lambda conn: put_entry(conn, entry_id, fields, now))
    except UnknownEntry:
        raise not_found(f"entry {entry_id}") from None
    return json_answer(KnowledgeEntryOut.of(entry))


async def delete_knowledge_entry(request: web.Request) -> web.Response:
    entry_id = path_id(request, "entry_id", "entry")
    try:
        await admin_of(request).db.write(lambda conn: delete_entry(conn, entry_id))
    except UnknownEntry:
        raise not_found(f"entry {entry_id}") from None
    return web.Response(status=204)


# --- documents ---------------------------------------------------------------------------


async def list_knowledge_documents(request: web.Request) -> web.Response:
    found = await admin_of(request).db.read(list_documents)
    return json_answer([KnowledgeDocumentOut.of(document) for document in found])


async def _document_body(request: web.Request) -> KnowledgeDocumentIn:
    """The upload's JSON body, read as a stream up to :data:`MAX_DOCUMENT_BYTES` (413 past
    it), then checked like every JSON body (400, 415, 422 naming the field)."""
    return await json_body(request, KnowledgeDocumentIn, max_bytes=MAX_DOCUMENT_BYTES)


async def upload_knowledge_document(request: web.Request) -> web.Response:
    admin = admin_of(request)
    body = await _document_body(request)
    if not body.title.strip():
        raise unprocessable("body.title", "must not be blank")
    try:
        # Splitting and tokenising a long manual takes a while: off the event loop, and
        # before the write transaction (which then only inserts rows).
        prepared = await asyncio.to_thread(
            prepare_document,
            body.title.strip(),
            body.content,
            format=body.format,
            language=body.language,
        )
    except EmptyDocument:
        raise unprocessable("body.content", "has no text to search") from None
    now = admin.clock()
    document = await admin.db.write(lambda conn: add_document(conn, prepared, now))
    return json_answer(KnowledgeDocumentOut.of(document), status=201)


async def get_knowledge_document(request: web.Request) -> web.Response:
    document_id = path_id(request, "document_id", "document")

    def read(conn: Connection) -> tuple[Document | None, list[DocumentPassage]]:
        found = find_document(conn, document_id)
        return found, passages_of(conn, document_id) if found else []

    document, passages = await admin_of(request).db.read(read)
    if document is None:
        raise not_found(f"document {document_id}")
    detail = KnowledgeDocumentDetail(
        **KnowledgeDocumentOut.of(document).model_dump(),
        passages=[KnowledgePassageOut.of(p) for p in passages],
    )
    return json_answer(detail)


async def delete_knowledge_document(request: web.Request) -> web.Response:
    document_id = path_id(request, "document_id", "document")
    try:
        await admin_of(request).db.write(lambda conn: delete_document(conn, document_id))
    except UnknownDocument:
        raise not_found(f"document {document_id}") from None
    return web.Response(status=204)


# --- search ------------------------------------------------------------------------------


async def search_knowledge(request: web.Request) -> web.Response:
    body = await json_body(request, KnowledgeSearchIn)
    hits = await admin_of(request).db.read(
        lambda conn: search(conn, body.question, language=body.language, limit=body.limit)
    )
    out = [KnowledgeHitOut.of(hit, body.threshold) for hit in hits]
    return json_answer(KnowledgeSearchOut(answered=bool(out) and out[0].passes, hits=out))


def endpoints() -> list[Endpoint]:
    """The knowledge base's endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "knowledge"
    entries, entry = "/knowledge/entries", "/knowledge/entries/{entry_id}"
    documents, document = "/knowledge/documents", "/knowledge/documents/{document_id}"
    return [
        Endpoint(
            "GET",
            entries,
            list_knowledge_entries,
            "List FAQ entries, by id",
            tag,
            answer=list[KnowledgeEntryOut],
            query=KnowledgeEntriesQuery,
            errors=(422,),
            description="Page with `after` (the last id seen) and `limit`.",
        ),
        Endpoint(
            "POST",
            entries,
            create_knowledge_entry,
            "Add an FAQ entry",
            tag,
            body=Body(model=KnowledgeEntryIn, description="The entry; searchable at once."),
            answer=KnowledgeEntryOut,
            status=201,
            errors=(400, 415, 422),
        ),
        Endpoint(
            "GET",
            entry,
            get_knowledge_entry,
            "An FAQ entry",
            tag,
            answer=KnowledgeEntryOut,
            errors=(404,),
        ),
        Endpoint(
            "PUT",
            entry,
            put_knowledge_entry,
            "Replace an FAQ entry",
            tag,
            body=Body(model=KnowledgeEntryIn, description="The entry's new fields."),
            answer=KnowledgeEntryOut,
            errors=(400, 404, 415, 422),
        ),
        Endpoint(
            "DELETE",
            entry,
            delete_knowledge_entry,
            "Delete an FAQ entry",
            tag,
            status=204,
            errors=(404,),
        ),
        Endpoint(
            "GET",
            documents,
            list_knowledge_documents,
            "List documents, by id",
            tag,
            answer=list[KnowledgeDocumentOut],
        ),
        Endpoint(
            "POST",
            documents,
            upload_knowledge_document,
            "Upload a document (Markdown or text), split into passages",
            tag,
            body=Body(
                model=KnowledgeDocumentIn,
                description="The document; split at headings and paragraphs, searchable at once.",
            ),
            answer=KnowledgeDocumentOut,
            status=201,
            errors=(400, 413, 415, 422),
        ),
        Endpoint(
            "GET",
            document,
            get_knowledge_document,
            "A document and its passages",
            tag,
            answer=KnowledgeDocumentDetail,
            errors=(404,),
        ),
        Endpoint(
            "DELETE",
            document,
            delete_knowledge_document,
            "Delete a document and its passages",
            tag,
            status=204,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            "/knowledge/search",
            search_knowledge,
            "Try a question: the answers an `answer` step would find, with their scores",
            tag,
            body=Body(
                model=KnowledgeSearchIn, description="The question, as a customer would ask it."
            ),
            answer=KnowledgeSearchOut,
            errors=(400, 415, 422),
        ),
    ]


def register(api: Api) -> None:
    """Add the knowledge base's endpoints to ``api``."""
    api.add(*endpoints())
