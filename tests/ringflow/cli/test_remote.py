"""``ringflow workflows ...`` against a running server, run as a real command (a subprocess)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.api_client import ADMIN_TOKEN, ApiClient

ROOT = Path(__file__).resolve().parents[3]
GOOD = """\
id: cli-line
trigger: {event: call.incoming, to: "+15005550003"}
start: hello
steps:
  hello: {say: "Hello from the command line."}
"""


async def ringflow(
    api: ApiClient, *args: str, token: str | None = ADMIN_TOKEN
) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGFLOW_")}
    env["RINGFLOW_API_URL"] = api.server.base_url
    if token is not None:
        env["RINGFLOW_API_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys, server; sys.exit(server.main(sys.argv[1:]))",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_push_publish_and_list(api: ApiClient, tmp_path: Path) -> None:
    path = tmp_path / "cli-line.yaml"
    path.write_text(GOOD)
    code, out, _ = await ringflow(api, "workflows", "push", str(path))
    assert (code, out.strip()) == (0, f"{path}: cli-line draft")
    code, out, _ = await ringflow(api, "workflows", "publish", "cli-line")
    assert (code, out.strip()) == (0, "cli-line: published as version 1")
    code, out, _ = await ringflow(api, "workflows", "list")
    assert code == 0
    assert any(line.split()[:4] == ["cli-line", "api", "true", "1"] for line in out.splitlines())


async def test_problems_are_printed_with_file_and_line(api: ApiClient, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace("start: hello", "start: helo"))
    code, out, err = await ringflow(api, "workflows", "push", "--publish", str(path))
    assert code == 1
    assert out == ""
    assert f"{path}:3 start: unknown step 'helo'" in err.splitlines()


async def test_no_token_or_no_server_is_a_usage_error(api: ApiClient) -> None:
    code, _, err = await ringflow(api, "workflows", "list", token=None)
    assert code == 2
    assert "no token" in err
    code, _, err = await ringflow(api, "workflows", "list", token="rf_wrong")
    assert code == 1
    assert "not valid" in err


async def test_prompts_add_say_and_list(api: ApiClient, tmp_path: Path) -> None:
    from tests.prompts.media import tone

    audio = tone(tmp_path, "hello.ogg", 1.0)
    code, out, err = await ringflow(api, "prompts", "add", str(audio), "--name", "hello")
    assert code == 0, err
    assert out.startswith(f"{audio}: prompt pr_")
    code, out, err = await ringflow(api, "prompts", "say", "Thank you.", "--language", "en")
    assert code == 0, err
    code, out, _ = await ringflow(api, "prompts", "list")
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()] == ["audio", "speech"]
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio\n" * 10)
    code, _, err = await ringflow(api, "prompts", "add", str(notes))
    assert code == 1
    assert "file: " in err


async def test_recipes_list_and_install(api: ApiClient) -> None:
    code, out, _ = await ringflow(api, "recipes", "list")
    assert code == 0
    assert "missed-call-text" in out
    code, out, err = await ringflow(
        api,
        "recipes",
        "install",
        "missed-call-text",
        "--param",
        "workflow_id=missed",
        "--param",
        "business_name=Acme",
        "--publish",
    )
    assert code == 0, err
    assert out.strip() == (
        "recipe missed-call-text: workflow missed installed, published as version 1"
    )
    code, _, err = await ringflow(api, "recipes", "install", "missed-call-text", "--param", "x")
    assert code == 2
    assert "NAME=VALUE" in err
