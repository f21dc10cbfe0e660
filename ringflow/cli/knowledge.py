"""``ringflow knowledge ...``: the knowledge base the ``answer`` step answers from, on the
configured database (like ``ringflow teams``), validated by the same models as the API.

FAQ entries: ``add``, ``update ID``, ``list``, ``show ID``, ``remove ID``; documents:
``upload FILE``, ``documents``, ``remove-document ID``; ``search QUESTION`` shows what an
``answer`` step would find, with scores.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ringflow.admin.knowledge import (
    MAX_DOCUMENT_CHARS,
    KnowledgeDocumentIn,
    KnowledgeEntryIn,
    KnowledgeSearchIn,
)
from ringflow.cli.common import Commands, add_command
from ringflow.clock import system_clock
from ringflow.database import Database
from ringflow.settings import load_settings
from workflows.knowledge.errors import KnowledgeError, UnknownDocument, UnknownEntry
from workflows.knowledge.search import search
from workflows.knowledge.store import (
    Entry,
    add_document,
    add_entry,
    delete_document,
    delete_entry,
    find_entry,
    list_documents,
    list_entries,
    prepare_document,
    put_entry,
)

ACTIONS = (
    "list",
    "show",
    "add",
    "update",
    "remove",
    "upload",
    "documents",
    "remove-document",
    "search",
)


class CliRefused(Exception):
    """Bad input or an unknown id: printed as ``error: ...``, exit status 1."""


def _run(work: Callable[[Database], Awaitable[str]]) -> int:
    from ringflow.resources.database import open_database  # opened and migrated

    async def main() -> str:
        db = await open_database(load_settings())
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        print(asyncio.run(main()))
    except (CliRefused, KnowledgeError) as error:
        print(f"error: {_words(error)}", file=sys.stderr)
        return 1
    return 0


def _words(error: Exception) -> str:
    if isinstance(error, UnknownEntry):
        return f"no FAQ entry {error.args[0]}"
    if isinstance(error, UnknownDocument):
        return f"no document {error.args[0]}"
    return str(error)


def _valid(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        lines = [
            f"--{'.'.join(str(p) for p in d['loc']).replace('_', '-')}: {d['msg']}"
            for d in error.errors()
        ]
        raise CliRefused("; ".join(lines)) from None


def _first(target: list[str]) -> str | None:
    return target[0] if len(target) == 1 else None


def _id(raw: str | None, what: str) -> int:
    if raw is None or not raw.isdigit() or len(raw) > 18:
        raise CliRefused(f"give the {what}'s id (a number; `ringflow knowledge list` shows them)")
    return int(raw)


def _entry_lines(entry: Entry) -> str:
    f = entry.fields
    keywords = ", ".join(f.keywords) or "-"
    return (
        f"#{entry.id} [{f.language or 'any'}] {f.question}\n"
        f"    keywords: {keywords}\n    answer: {f.answer}"
    )


def _entry_body(args: argparse.Namespace) -> KnowledgeEntryIn:
    body: KnowledgeEntryIn = _valid(
        KnowledgeEntryIn,
        {
            "question": args.question,
            "answer": args.answer,
            "keywords": args.keyword,
            "language": args.language,
        },
    )
    return body


def _read(path: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise CliRefused(f"cannot read {path}: {error.strerror}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliRefused(f"{path} is not UTF-8 text") from None


def cmd_knowledge(args: argparse.Namespace) -> int:
    now = system_clock()

    async def work(db: Database) -> str:
        action = args.action
        if action == "list":
            rows = await db.read(lambda conn: list_entries(conn, language=args.language))
            return "\n".join(_entry_lines(e) for e in rows) or (
                "no FAQ entries (ringflow knowledge add --question ... --answer ...)"
            )
        if action == "show":
            entry_id = _id(_first(args.target), "entry")
            found = await db.read(lambda conn: find_entry(conn, entry_id))
            if found is None:
                raise UnknownEntry(entry_id)
            return _entry_lines(found)
        if action in ("add", "update"):
            fields = _entry_body(args).fields()
            if action == "add":
                entry = await db.write(lambda conn: add_entry(conn, fields, now))
                return f"FAQ entry #{entry.id} added"
            entry_id = _id(_first(args.target), "entry")
            await db.write(lambda conn: put_entry(conn, entry_id, fields, now))
            return f"FAQ entry #{entry_id} updated"
        if action == "remove":
            entry_id = _id(_first(args.target), "entry")
            await db.write(lambda conn: delete_entry(conn, entry_id))
            return f"FAQ entry #{entry_id} removed"
        if action == "documents":
            documents = await db.read(list_documents)
            return "\n".join(
                f"#{d.id} [{d.language or 'any'}] {d.title} ({d.format},"
                f" {d.passage_count} passages, {d.size} characters)"
                for d in documents
            ) or ("no documents (ringflow knowledge upload FILE.md)")
        if action == "remove-document":
            document_id = _id(_first(args.target), "document")
            await db.write(lambda conn: delete_document(conn, document_id))
            return f"document #{document_id} removed"
        if action == "search":
            return await _search(db, args)
        if action == "upload":
            if len(args.target) != 1:
                raise CliRefused("give the one file to upload (Markdown or text, UTF-8)")
            path = Path(args.target[0])
            content = _read(args.target[0])
            markdown = path.suffix.lower() in (".md", ".markdown")
            doc: KnowledgeDocumentIn = _valid(
                KnowledgeDocumentIn,
                {
                    "title": args.title or path.stem,
                    "format": args.format or ("markdown" if markdown else "text"),
                    "language": args.language,
                    "content": content,
                },
            )
            prepared = prepare_document(
                doc.title.strip(), doc.content, format=doc.format, language=doc.language
            )
            document = await db.write(lambda conn: add_document(conn, prepared, now))
            return (
                f"document #{document.id} {document.title!r} uploaded:"
                f" {document.passage_count} passages"
            )
        raise CliRefused(f"unknown action {action!r}")

    return _run(work)


async def _search(db: Database, args: argparse.Namespace) -> str:
    asked: KnowledgeSearchIn = _valid(
        KnowledgeSearchIn,
        {
            "question": " ".join(args.target),
            "language": args.language,
            "threshold": args.threshold,
        },
    )
    hits = await db.read(
        lambda conn: search(conn, asked.question, language=asked.language, limit=asked.limit)
    )
    if not hits:
        return "nothing found: an answer step would hand over (on_unsure)"
    lines = [
        f"{hit.score:.2f} {'pass' if hit.score >= asked.threshold else '    '}"
        f" {hit.kind} #{hit.id}: {hit.source}"
        for hit in hits
    ]
    verdict = (
        "an answer step would answer with the first"
        if hits[0].score >= asked.threshold
        else f"below {asked.threshold}: an answer step would hand over (on_unsure)"
    )
    return "\n".join([*lines, verdict])


def add_to(commands: Commands) -> None:
    """Add ``knowledge`` to the ``ringflow`` command's subcommands."""
    knowledge = add_command(
        commands,
        "knowledge",
        summary="the FAQ and documents the answer step answers from: list, add, upload, search",
        description=(
            "The knowledge base, on the configured database: FAQ entries (list, show ID, add,"
            " update ID, remove ID) and documents (upload FILE, documents, remove-document ID)."
            f" A document is Markdown (.md: split at headings and paragraphs) or text, UTF-8, at"
            f" most {MAX_DOCUMENT_CHARS} characters. `ringflow knowledge-search` tries a question."
        ),
        examples=(
            "  $ ringflow knowledge add --question 'How can I cancel my subscription?'"
            " --answer 'Open Settings > Subscription.' --keyword 'cancel subscription'"
            " --language en\n"
            "  $ ringflow knowledge add --question '구독은 어떻게 해지하나요?'"
            " --answer '설정 > 구독에서 해지하세요.' --keyword '구독 해지' --language ko\n"
            "  $ ringflow knowledge upload guide.md --title 'Customer guide' --language en\n"
            "  $ ringflow knowledge list --language ko\n"
            "  $ ringflow knowledge search how do I cancel my subscription\n"
            "  $ ringflow knowledge search 구독을 해지하고 싶어요 --language ko"
        ),
    )
    knowledge.add_argument("action", choices=ACTIONS)
    knowledge.add_argument(
        "target", nargs="*", help="an entry's or document's id; upload: FILE; search: QUESTION"
    )
    knowledge.add_argument("--question", help="add/update: the question as customers ask it")
    knowledge.add_argument("--answer", help="add/update: what the customer is told")
    knowledge.add_argument(
        "--keyword", action="append", default=[], help="add/update: a phrase that finds it"
    )
    knowledge.add_argument("--language", help="a language tag (en, ko); none: any language")
    knowledge.add_argument(
        "--threshold", type=float, default=0.5, help="search: the answer step's (default 0.5)"
    )
    knowledge.add_argument("--title", help="upload: the document's title (default: file name)")
    knowledge.add_argument(
        "--format", choices=["markdown", "text"], help="upload: default from the file's suffix"
    )
    knowledge.set_defaults(run=cmd_knowledge)
