"""Scoped tokens over HTTP: a token made with ``--scope events`` (for a shop or a CRM that
sends events) may post events and read the API's description, and gets 403 on every other
operation of the live OpenAPI document; the CLI makes and lists such tokens."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ringflow.admin.app import API_DESCRIPTION
from ringflow.admin.tokens import create_token
from ringflow.settings import load_settings
from server import API_APP, create_app
from tests.ringflow.admin.people import Desk, desk
from tests.ringflow.admin.test_every_endpoint import EXAMPLE_VALUES

__all__ = ["desk"]

EVENTS_MAY = "Tokens scoped `events` may call this."


def _operations(scoped: bool) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        settings = load_settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/x.db")
        document: dict[str, Any] = create_app(settings, [])[API_APP][API_DESCRIPTION]
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if (EVENTS_MAY in operation.get("description", "")) == scoped:
                concrete = re.sub(r"\{(\w+)\}", lambda m: EXAMPLE_VALUES[m.group(1)], path)
                found.append((method.upper(), concrete.removeprefix("/api")))
    return found


NOT_FOR_EVENTS = _operations(scoped=False)


async def events_token(desk: Desk) -> str:
    now = desk.clock()
    token: str = await desk.api.server.db.write(
        lambda conn: create_token(conn, "shop", now, scopes=["events"])
    )
    return token


def test_an_events_token_may_post_events_and_read_the_description_only() -> None:
    assert sorted(_operations(scoped=True)) == [
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
        ("POST", "/events"),
    ]
    assert len(NOT_FOR_EVENTS) >= 30


@pytest.mark.parametrize(("method", "path"), NOT_FOR_EVENTS)
async def test_an_events_token_is_refused_everywhere_else(
    desk: Desk, method: str, path: str
) -> None:
    token = await events_token(desk)
    before = await desk.api.call("GET", "/agents")
    answer = await desk.api.call(method, path, token=token, json_body={})
    assert answer.status == 403, answer.text
    assert answer.content_type == "application/problem+json"
    assert "scoped to events" in answer.json["detail"]
    assert (await desk.api.call("GET", "/agents")).text == before.text  # nothing changed


async def test_admin_and_events_tokens_post_events_agent_tokens_do_not(desk: Desk) -> None:
    body = {"name": "checkout.idle", "contact": {"phone": "+14155550123"}}
    token = await events_token(desk)
    assert (await desk.api.call("POST", "/events", json_body=body, token=token)).status == 202
    assert (await desk.api.call("POST", "/events", json_body=body)).status == 202
    assert (await desk.api.call("GET", "/openapi.json", token=token)).status == 200
    await desk.agent("alice")
    agent = await desk.agent_token("alice")
    assert (await desk.api.call("POST", "/events", json_body=body, token=agent)).status == 403


def test_unknown_scopes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        create_token(None, "x", None, scopes=["everything"])  # type: ignore[arg-type]
