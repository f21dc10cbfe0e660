"""Every operation of the admin API's own OpenAPI document, called without a token, with a
wrong one, with a body that is not what it takes, and with one that is too large: 401, 401,
4xx naming the problem, 413; never a 5xx. New endpoints are covered as soon as they exist."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ringflow.admin.app import GATEKEEPER
from server import API_APP
from tests.api_client import ApiClient

EXAMPLE_VALUES = {
    "workflow_id": "demo-line",
    "prompt_id": "pr_0123456789abcdef",
    "number": "%2B14155550123",
    "sid": "CA" + "0" * 32,
    "message_id": "1",
    "conversation_id": "1",
    "job_id": "1",
    "entry_id": "1",
    "document_id": "1",
    "callback_id": "1",
    "name": "office",
    "recipe_id": "missed-call-text",
    "step": "main",
    "agent": "alice",
    "team": "support",
    "tag": "billing",
    "webhook_id": "1",
    "call_id": "CAtest" + "0" * 28,
    "chat_id": "tc" + "0" * 28,
    "n": "1",
}


LARGER_BODIES = ("/workflows", "/knowledge/documents")
"""Endpoints whose documented body limit is larger than the JSON default."""


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            concrete = re.sub(r"\{(\w+)\}", lambda m: EXAMPLE_VALUES[m.group(1)], path)
            found.append((method.upper(), concrete.removeprefix("/api"), operation))
    return found


@pytest.fixture
async def document(api: ApiClient) -> dict[str, Any]:
    answer = await api.call("GET", "/openapi.json")
    body: dict[str, Any] = answer.json
    return body


async def test_every_operation_needs_a_token(api: ApiClient, document: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in operations(document):
        for token in (False, "rf_" + "w" * 43):
            answer = await api.call(method, path, token=token)
            assert answer.status == 401, (method, path, token, answer.text)
            assert answer.content_type == "application/problem+json"
            assert "401" in operation["responses"]
        checked += 1
        # Wrong tokens are counted per address (ten a minute): start each operation afresh.
        api.server.app[API_APP][GATEKEEPER]._failures.clear()
    assert checked >= 30


async def test_every_body_that_cannot_be_read_is_a_4xx_naming_why(
    api: ApiClient, document: dict[str, Any]
) -> None:
    refused = 0
    for method, path, operation in operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        media = list(body["content"])
        if "application/json" in media:
            answer = await api.call(method, path, data="{not json", content_type="application/json")
            if path.endswith("/validate"):  # a report, not a refusal: every problem listed
                assert answer.status == 200
                assert answer.json["valid"] is False
                continue
            assert answer.status in (400, 404, 422), (method, path, answer.text)
            if answer.status != 404:
                assert "JSON" in answer.text, (method, path, answer.text)
        wrong = await api.call(method, path, data="x", content_type="text/csv")
        assert wrong.status in (404, 415), (method, path, wrong.text)
        assert wrong.content_type == "application/problem+json"
        refused += wrong.status == 415
    # A 404 (the example id does not exist) is allowed above; most must really be checked.
    assert refused >= 10


async def test_every_body_too_large_is_a_413(api: ApiClient, document: dict[str, Any]) -> None:
    huge = "[" + "1," * (6 * 1024 * 1024) + "1]"  # 12 MiB: over every endpoint's limit
    too_large = 0
    for method, path, operation in operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        media = next(iter(body["content"]))
        answer = await api.call(method, path, data=huge, content_type=media)
        assert answer.status in (404, 413), (method, path, answer.status, answer.text[:200])
        if answer.status == 413:
            assert "413" in operation["responses"]
            too_large += 1
    assert too_large >= 12  # a 404 (no such example id) is allowed above, but not everywhere


async def test_json_bodies_past_their_limit_are_refused_unread(
    api: ApiClient, document: dict[str, Any]
) -> None:
    """A JSON body over 64 KiB is a 413 naming the limit on every JSON endpoint (events take
    at most 32 KiB); only workflows (1 MiB) and knowledge documents (4 MiB) take more."""
    padded = '{"padding": "' + "x" * (64 * 1024) + '"}'
    refused = 0
    for method, path, operation in operations(document):
        media = next(iter(operation.get("requestBody", {}).get("content", {})), None)
        if media != "application/json" or path.startswith(LARGER_BODIES):
            continue
        answer = await api.call(method, path, data=padded, content_type=media)
        assert answer.status in (404, 413), (method, path, answer.status, answer.text[:200])
        if answer.status == 413:
            # The default (64 KiB), or an endpoint's own smaller limit: named either way.
            limit = re.search(r"at most (\d+) bytes", answer.text)
            assert limit is not None, answer.text
            assert int(limit.group(1)) <= 65536, answer.text
            refused += 1
    assert refused >= 10


async def test_a_workflow_up_to_its_stated_limit_is_taken(api: ApiClient) -> None:
    """Workflows keep their own, larger limit: 100 KiB of YAML is read (and checked)."""
    comment = "# " + "x" * 1000 + "\n"
    text = comment * 100 + "id: big\ntrigger: {event: call.incoming}\nstart: hi\nsteps:\n"
    text += "  hi: {say: Hello}\n"
    answer = await api.call("POST", "/workflows", data=text, content_type="application/yaml")
    assert answer.status == 201, answer.text[:300]
