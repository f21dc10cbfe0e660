"""Schemathesis against the admin API's own OpenAPI document, on a real server process:
generated requests (valid and not) never get a 5xx, and every answer matches its schema.

The server is ``ringflow serve`` in a subprocess (SQLite in a temporary folder, an admin
token), so the generated traffic goes over a real socket like an admin client's.

Two of schemathesis's checks are left out, as beyond what this test promises:

* ``ignored_auth`` probes every successful case again with a wrong token, and wrong tokens
  beyond ten a minute from one address are answered 429 by design (the valid token still
  works). That every operation refuses a missing or wrong token with 401 is checked in
  ``test_every_endpoint.py``.
* ``positive_data_acceptance`` (a body or query that fits the schema must not get a 4xx):
  the API checks more than its schema says (a workflow's steps must exist, a YAML body is a
  plain string to OpenAPI, ``GET /api/contacts?number=`` must be a phone number), so those
  answers are 422s naming the problem, which is right.

The conversation operations run a second time with an agent's token (made with ``ringflow
agents token``) on a conversation that a text through the webhook opened, each also with a
valid request on that conversation, so that real answers (a timeline with messages, a reply
queued) are checked against their schemas, not only 404s.

Until the token was checked ahead of the lockout, the ``ignored_auth`` probes locked the
test's own token out within seconds and every later request was answered 429, which hid the
second point.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

TOKEN = "rf_" + "s" * 43
LEFT_OUT = [ignored_auth, positive_data_acceptance]
"""Checks this test does not make (see the module docstring)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("conformance")
    env = {
        **os.environ,
        "RINGFLOW_DATA_DIR": str(data),
        "RINGFLOW_ADMIN_TOKEN": TOKEN,
        "RINGFLOW_LOG_LEVEL": "ERROR",
    }
    env.pop("RINGFLOW_DATABASE_URL", None)
    return env


def _ringflow(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-c", f"import server, sys; sys.exit(server.main({list(args)!r}))"]
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def base_url(server_env: dict[str, str]) -> Iterator[str]:
    env = server_env
    port = _free_port()
    command = [sys.executable, "-c", f"import server; server.main(['serve', '--port', '{port}'])"]
    root = Path(__file__).resolve().parents[3]
    with subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL) as process:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        try:
            # A conversation with a text in it: the webhook is unsigned on a loopback server.
            form = {"MessageSid": "SM" + "1" * 32, "From": "+14155550123", "To": "+15005550001"}
            texted = requests.post(url + "/twilio/sms", data={**form, "Body": "Hi"}, timeout=5)
            assert texted.status_code == 200
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def api_schema(base_url: str) -> schemathesis.BaseSchema:
    document = requests.get(
        base_url + "/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ).json()
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.update(base_url=base_url)
    return loaded


def test_no_5xx_and_every_answer_matches_its_schema(api_schema: schemathesis.BaseSchema) -> None:
    failures: list[str] = []
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an invalid operation: {result}"
        operations.append(result.ok())
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            case.call_and_validate(
                headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=LEFT_OUT
            )

        try:
            check()
        except Exception as error:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def agent_token(server_env: dict[str, str], base_url: str) -> str:
    _ringflow(server_env, "agents", "add", "alice", "--status", "available")
    return _ringflow(server_env, "agents", "token", "alice").splitlines()[0]


VALID_ACTIONS: dict[tuple[str, str], dict[str, object]] = {
    ("GET", "/api/conversations"): {"query": {"limit": 5}},
    ("GET", "/api/conversations/{conversation_id}"): {},
    ("POST", "/api/conversations/{conversation_id}/replies"): {"body": {"body": "Hello!"}},
    ("POST", "/api/conversations/{conversation_id}/notes"): {"body": {"body": "VIP"}},
    ("POST", "/api/conversations/{conversation_id}/assign"): {"body": {"agent": "alice"}},
    ("POST", "/api/conversations/{conversation_id}/priority"): {"body": {"priority": "high"}},
    ("POST", "/api/conversations/{conversation_id}/tags"): {"body": {"tag": "billing"}},
    ("DELETE", "/api/conversations/{conversation_id}/tags/{tag}"): {
        "path_parameters": {"tag": "billing"}
    },
    ("POST", "/api/conversations/{conversation_id}/snooze"): {
        "body": {"until": "2999-01-01T00:00:00+00:00"}
    },
    ("POST", "/api/conversations/{conversation_id}/reopen"): {},
    ("POST", "/api/conversations/{conversation_id}/close"): {},
    ("GET", "/api/me"): {},
    ("PUT", "/api/me/status"): {"body": {"status": "away"}},
}
"""A valid request of every operation an agent may call, on the conversation the fixture
opened (id 1), in an order that makes each one succeed."""


def test_an_agents_operations_answer_by_their_schemas(
    api_schema: schemathesis.BaseSchema, agent_token: str
) -> None:
    headers = {"Authorization": f"Bearer {agent_token}"}
    operations = {}
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        if "Agent tokens may call this." in operation.definition.raw.get("description", ""):
            operations[(operation.method.upper(), operation.path)] = operation
    assert set(VALID_ACTIONS) <= set(operations)
    failures: list[str] = []
    for key, request in VALID_ACTIONS.items():
        arguments: dict[str, object] = dict(request)
        path_parameters = {"conversation_id": "1", **arguments.pop("path_parameters", {})}  # type: ignore[dict-item]
        case = operations[key].Case(path_parameters=path_parameters, **arguments)  # type: ignore[arg-type]
        response = case.call_and_validate(headers=headers, excluded_checks=LEFT_OUT)
        if response.status_code >= 300:
            failures.append(f"{key}: {response.status_code} {response.text}")
    for operation in operations.values():

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            case.call_and_validate(headers=headers, excluded_checks=LEFT_OUT)

        try:
            check()
        except Exception as error:
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
