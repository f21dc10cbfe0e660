"""The knowledge base's admin API (entries, documents, search) and ``ringflow knowledge``,
on SQLite and PostgreSQL: what is stored is found, bad input is a 4xx naming the field,
sizes are limited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from server import main
from tests.api_client import ApiClient, api
from tests.test_server import data_dir
from workflows.knowledge.split import MAX_PASSAGE

__all__ = ["api", "data_dir"]

ENTRY = {
    "question": "How can I cancel my subscription?",
    "answer": "Open Settings > Subscription and press Cancel.",
    "keywords": ["cancel subscription"],
    "language": "en-US",
}
GUIDE = (
    "# 배송\n\n해외 배송은 5일에서 10일 걸립니다.\n\n# Returns\n\nReturns are free for 30 days.\n"
)


def fields(answer: Any) -> list[str]:
    return [error["field"] for error in answer.json["errors"]]


async def test_entries_are_created_read_replaced_listed_and_deleted(api: ApiClient) -> None:
    created = await api.call("POST", "/knowledge/entries", json_body=ENTRY)
    assert created.status == 201, created.text
    entry = created.json
    assert entry["language"] == "en"  # the primary subtag
    assert entry["keywords"] == ["cancel subscription"]
    one = f"/knowledge/entries/{entry['id']}"
    assert (await api.call("GET", one)).json["question"] == ENTRY["question"]

    replaced = await api.call(
        "PUT", one, json_body={**ENTRY, "answer": "Write to billing@example.com."}
    )
    assert replaced.status == 200
    assert replaced.json["answer"] == "Write to billing@example.com."
    found = await api.call(
        "POST", "/knowledge/search", json_body={"question": "how do I cancel my subscription"}
    )
    assert found.json["answered"] is True
    [hit] = found.json["hits"][:1]
    assert (hit["kind"], hit["id"], hit["answer"]) == (
        "entry",
        entry["id"],
        "Write to billing@example.com.",
    )
    assert hit["source"] == ENTRY["question"]
    assert hit["passes"] is True

    listed = await api.call("GET", "/knowledge/entries", params={"language": "en"})
    assert [e["id"] for e in listed.json] == [entry["id"]]
    assert (await api.call("GET", "/knowledge/entries", params={"language": "ko"})).json == []
    assert (await api.call("DELETE", one)).status == 204
    assert (await api.call("DELETE", one)).status == 404
    assert (await api.call("GET", one)).status == 404
    gone = await api.call("POST", "/knowledge/search", json_body={"question": "cancel"})
    assert gone.json == {"answered": False, "hits": []}


async def test_a_long_korean_manual_is_accepted(api: ApiClient) -> None:
    """500,000 characters of Korean (3 MB as escaped JSON), past the server's usual request
    limit."""
    paragraph = "구독을 해지하려면 설정에서 구독 메뉴를 여세요. " * 8 + "\n\n"
    content = (paragraph * (500_000 // len(paragraph)))[:500_000]
    created = await api.call(
        "POST",
        "/knowledge/documents",
        data=json.dumps({"title": "설명서", "content": content}),
        content_type="application/json",
    )
    assert created.status == 201, created.text[:300]
    assert created.json["size"] == len(content)
    assert created.json["passage_count"] > 400


async def test_a_document_is_split_into_passages_and_searchable(api: ApiClient) -> None:
    long_section = "\n\n".join(f"Paragraph {n}: " + "words " * 60 for n in range(6))
    content = GUIDE + "\n# Long\n\n" + long_section
    created = await api.call(
        "POST", "/knowledge/documents", json_body={"title": "Guide", "content": content}
    )
    assert created.status == 201, created.text
    document = created.json
    detail = (await api.call("GET", f"/knowledge/documents/{document['id']}")).json
    passages = detail["passages"]
    assert detail["passage_count"] == len(passages) > 3
    assert [p["heading"] for p in passages[:2]] == ["배송", "Returns"]
    assert all(len(p["text"]) <= MAX_PASSAGE for p in passages)
    korean = await api.call("POST", "/knowledge/search", json_body={"question": "해외 배송"})
    assert korean.json["hits"][0]["source"] == "Guide / 배송"
    assert korean.json["answered"] is True
    listed = await api.call("GET", "/knowledge/documents")
    assert [d["title"] for d in listed.json] == ["Guide"]
    assert (await api.call("DELETE", f"/knowledge/documents/{document['id']}")).status == 204
    assert (await api.call("GET", f"/knowledge/documents/{document['id']}")).status == 404
    assert (await api.call("POST", "/knowledge/search", json_body={"question": "해외 배송"})).json[
        "hits"
    ] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ENTRY, "question": ""}, "body.question"),
        ({**ENTRY, "question": "x" * 501}, "body.question"),
        ({**ENTRY, "question": "   "}, "body.question"),
        ({**ENTRY, "answer": "x" * 1501}, "body.answer"),
        ({**ENTRY, "keywords": ["k"] * 31}, "body.keywords"),
        ({**ENTRY, "keywords": ["x" * 101]}, "body.keywords.0"),
        ({**ENTRY, "language": "Korean"}, "body.language"),
        ({**ENTRY, "colour": "red"}, "body.colour"),
        ({k: v for k, v in ENTRY.items() if k != "answer"}, "body.answer"),
    ],
)
async def test_a_bad_entry_is_refused_naming_the_field(
    api: ApiClient, body: dict[str, Any], field: str
) -> None:
    answer = await api.call("POST", "/knowledge/entries", json_body=body)
    assert answer.status == 422, answer.text
    assert field in fields(answer)
    assert (await api.call("GET", "/knowledge/entries")).json == []


async def test_bad_documents_and_searches_are_refused(api: ApiClient) -> None:
    empty = await api.call(
        "POST", "/knowledge/documents", json_body={"title": "Empty", "content": "\n\n  \n"}
    )
    assert empty.status == 422
    assert fields(empty) == ["body.content"]
    huge = await api.call(
        "POST",
        "/knowledge/documents",
        data=json.dumps({"title": "Huge", "content": "x" * 500_001}),
        content_type="application/json",
    )
    assert huge.status == 422
    assert fields(huge) == ["body.content"]
    body = json.dumps({"title": "Huge", "content": "구독 해지 " * 300_000})
    assert len(body.encode()) > 4 * 1024 * 1024
    refused = await api.call(
        "POST", "/knowledge/documents", data=body, content_type="application/json"
    )
    assert refused.status == 413
    form = await api.call(
        "POST", "/knowledge/documents", json_body={"title": "T", "content": "x", "format": "pdf"}
    )
    assert fields(form) == ["body.format"]
    not_json = await api.call(
        "POST", "/knowledge/documents", data="# Title", content_type="text/markdown"
    )
    assert not_json.status == 415
    long_question = await api.call("POST", "/knowledge/search", json_body={"question": "x" * 1001})
    assert fields(long_question) == ["body.question"]
    threshold = await api.call(
        "POST", "/knowledge/search", json_body={"question": "hi", "threshold": 0}
    )
    assert fields(threshold) == ["body.threshold"]
    assert (await api.call("GET", "/knowledge/entries/abc")).status == 404
    assert (await api.call("GET", "/knowledge/documents/99")).status == 404
    assert (await api.call("PUT", "/knowledge/entries/99", json_body=ENTRY)).status == 404


def test_the_knowledge_command_adds_uploads_searches_and_removes(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["knowledge", "list"]) == 0
    assert "no FAQ entries" in capsys.readouterr().out
    add = ["knowledge", "add", "--question", "구독은 어떻게 해지하나요?"]
    assert main([*add, "--answer", "설정에서 해지하세요.", "--keyword", "구독 해지"]) == 0
    assert capsys.readouterr().out.strip() == "FAQ entry #1 added"
    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE, encoding="utf-8")
    assert main(["knowledge", "upload", str(guide), "--language", "ko"]) == 0
    assert capsys.readouterr().out.strip() == "document #1 'guide' uploaded: 2 passages"

    assert main(["knowledge", "search", "구독을", "해지하고", "싶어요"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1.00 pass entry #1: 구독은 어떻게 해지하나요?"
    assert out[-1] == "an answer step would answer with the first"
    assert main(["knowledge", "search", "bicycle", "parking"]) == 0
    assert "would hand over" in capsys.readouterr().out

    assert main(["knowledge", "add", "--question", "Q", "--language", "Korean"]) == 1
    err = capsys.readouterr().err
    assert "--answer" in err
    assert "--language" in err
    update = ["knowledge", "update", "1", "--question", "구독 해지 방법", "--answer", "설정 > 구독"]
    assert main([*update, "--language", "ko-KR"]) == 0
    assert main(["knowledge", "show", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-3:] == [
        "#1 [ko] 구독 해지 방법",
        "    keywords: -",
        "    answer: 설정 > 구독",
    ]
    assert main(["knowledge", "remove", "7"]) == 1
    assert "no FAQ entry 7" in capsys.readouterr().err
    assert main(["knowledge", "remove", "1"]) == 0
    assert main(["knowledge", "remove-document", "1"]) == 0
    capsys.readouterr()
    assert main(["knowledge", "documents"]) == 0
    assert "no documents" in capsys.readouterr().out
