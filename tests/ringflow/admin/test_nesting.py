"""Deeply nested bodies to the admin API are 422 problems naming the nesting, never a 500."""

from __future__ import annotations

import pytest

from tests.api_client import ApiClient

DEEP = 20_000
"""Far beyond what Python's json copes with (recursion), within the 64 KiB of a JSON body."""


def nested_json(depth: int) -> str:
    return '{"name": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/contacts/+15005550006"),
        ("POST", "/workflows"),
        ("PUT", "/schedules/office"),
        ("POST", "/recipes/missed-call-text/install"),
    ],
)
async def test_deeply_nested_json_is_a_422_naming_the_nesting(
    api: ApiClient, method: str, path: str
) -> None:
    answer = await api.call(method, path, data=nested_json(DEEP), content_type="application/json")
    assert answer.status == 422, answer.text
    assert answer.content_type == "application/problem+json"
    assert "nested" in answer.json["detail"]


async def test_json_a_little_too_deep_for_a_request_is_refused_too(api: ApiClient) -> None:
    answer = await api.call(
        "PUT", "/contacts/+15005550006", data=nested_json(200), content_type="application/json"
    )
    assert answer.status == 422
    assert "more than 64 levels" in answer.json["detail"]
    assert answer.json["errors"] == [{"field": "body", "message": "nested more than 64 levels"}]


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/json", '{"id": "x", "steps": ' + "[" * 500 + "]" * 500 + "}"),
        ("application/yaml", "id: x\nsteps: " + "[" * 100 + "]" * 100 + "\n"),
    ],
)
async def test_a_workflow_nested_too_deep_to_be_one_is_a_422(
    api: ApiClient, content_type: str, text: str
) -> None:
    answer = await api.call("POST", "/workflows", data=text, content_type=content_type)
    assert answer.status == 422
    assert answer.json["errors"][0]["message"] == "the file is nested more than 64 levels deep"
    checked = await api.call("POST", "/workflows/validate", data=text, content_type=content_type)
    assert checked.status == 200
    assert checked.json["valid"] is False
    assert checked.json["problems"][0]["message"] == "the file is nested more than 64 levels deep"


async def test_deeply_nested_yaml_is_a_422_too(api: ApiClient) -> None:
    answer = await api.call(
        "POST", "/workflows", data="a: " + "[" * DEEP, content_type="application/yaml"
    )
    assert answer.status == 422
    assert answer.json["errors"][0]["message"] == "the file is nested too deeply"
