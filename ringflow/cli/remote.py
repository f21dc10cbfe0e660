"""``ringflow workflows|prompts|recipes ...``: the admin API from the command line.

The commands talk to a running server over HTTP, as any admin client would: ``--url`` (or
``RINGFLOW_API_URL``, default ``http://127.0.0.1:8080``) and ``--token`` (or
``RINGFLOW_API_TOKEN``, else ``RINGFLOW_ADMIN_TOKEN``). A problem the API answers is printed
as the API words it, each bad field on its own line (``file.yaml:12 steps.main: ...``); the
exit status is 1 then, 2 for a usage or connection error, 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from ringflow.cli.common import Commands, add_command

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = aiohttp.ClientTimeout(total=120)
_MEDIA = {".yaml": "application/yaml", ".yml": "application/yaml", ".json": "application/json"}


class CliError(Exception):
    """Usage or connection trouble: exit status 2."""


class ApiRefused(Exception):
    """The API answered with a problem: exit status 1."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Connection:
    """Where the API is and the token to send."""

    url: str
    token: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Connection:
        url = (args.url or os.environ.get("RINGFLOW_API_URL") or DEFAULT_URL).rstrip("/")
        token = (
            args.token
            or os.environ.get("RINGFLOW_API_TOKEN")
            or os.environ.get("RINGFLOW_ADMIN_TOKEN")
        )
        if not token:
            raise CliError(
                "no token: pass --token or set RINGFLOW_API_TOKEN (ringflow token create NAME)"
            )
        return cls(url, token)

    async def call(
        self,
        method: str,
        path: str,
        *,
        source: str = "",
        **kwargs: Any,
    ) -> Any:
        """The answer's JSON (None for an empty answer); ``ApiRefused`` for a problem."""
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as session,
                session.request(method, f"{self.url}/api{path}", headers=headers, **kwargs) as r,
            ):
                text = await r.text()
                if r.status >= 400:
                    raise ApiRefused(_problem_lines(r.status, text, source))
                if not text or r.content_type != "application/json":
                    return text or None
                return json.loads(text)
        except aiohttp.ClientError as error:
            raise CliError(f"cannot reach {self.url}: {error}") from None


def _read(path: Path) -> bytes:
    """A file's bytes (a CLI reads its few small files before it starts talking)."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise CliError(f"{path}: {error.strerror}") from None


def _problem_lines(status: int, text: str, source: str) -> list[str]:
    try:
        problem = json.loads(text)
    except json.JSONDecodeError:
        return [f"error: HTTP {status}: {text[:200]}"]
    lines = [f"error: {problem.get('detail') or problem.get('title') or status}"]
    for error in problem.get("errors") or []:
        where = source
        if error.get("line") is not None:
            where = f"{where}:{error['line']}" if where else f"line {error['line']}"
        prefix = " ".join(part for part in (where, error.get("field", "")) if part)
        lines.append(f"{prefix}: {error.get('message')}")
    return lines


# --- workflows -------------------------------------------------------------------------


async def workflows_list(conn: Connection, args: argparse.Namespace, out: TextIO) -> None:
    rows = await conn.call("GET", "/workflows")
    print(f"{'id':<28} {'origin':<6} {'enabled':<7} {'version':<7} draft  name", file=out)
    for row in rows:
        version = row["published_version"] or "-"
        draft = "yes" if row["has_draft"] else "-"
        print(
            f"{row['id']:<28} {row['origin']:<6} {str(row['enabled']).lower():<7} "
            f"{version!s:<7} {draft:<6} {row['name'] or ''}",
            file=out,
        )


async def workflows_push(conn: Connection, args: argparse.Namespace, out: TextIO) -> None:
    refused: list[str] = []
    for name in args.files:
        path = Path(name)
        media = _MEDIA.get(path.suffix.lower())
        if media is None:
            raise CliError(f"{name}: a workflow file ends in .yaml, .yml or .json")
        body = await asyncio.to_thread(_read, path)
        params = {"publish": "true"} if args.publish else {}
        try:
            row = await conn.call(
                "POST",
                "/workflows",
                source=name,
                data=body,
                headers={"Content-Type": media},
                params=params,
            )
        except ApiRefused as error:
            refused.extend(error.lines)
            continue
        state = f"published as version {row['published_version']}" if args.publish else "draft"
        print(f"{name}: {row['id']} {state}", file=out)
    if refused:
        raise ApiRefused(refused)


async def workflows_publish(conn: Connection, args: argparse.Namespace, out: TextIO) -> None:
    row = await conn.call("POST", f"/workflows/{args.id}/publish")
    print(f"{row['id']}: published as version {row['published_version']}", file=out)


# --- prompts ---------------------------------------------------------------------------


async def prompts_list(conn: Connection, args: argparse.Namespace, out: TextIO) -> None:
    rows = await conn.call("GET", "/prompts")
    for row in rows:
        seconds = row.get("duration_ms", 0) / 1000
        what = row.get("text") or row.get("original_format") or ""
        print(
            f"{row['id']:<22} {row['kind']:<7} {seconds:6.1f}s  {row.get('name') or ''}  {what}"[
                :160
            ],
            file=out,
        )


async def prompts_add(conn: Connection, args: argparse.Namespace, out: TextIO) -> None:
    path = Path(args.file)
    content = await asyncio.to_thread(_read, path)
    form = aiohttp.FormData()
    form.add_field("file", content, filename=path.name)
    if args.name:
        form.add_field("name", args.name)
    row = await conn.call("POST", "/prompts", source=args.file, data=form)
    print(f"{args.file}: prompt {row['id']} ({row['duration_ms'] / 1000:.1f} s)", file=out)


async def prompts_say(conn: Connection, args: argparse.Namespace, out: TextIO) -> None:
    body: dict[str, Any] = {"text": args.text, "language": args.language}
    if args.voice:
        body["voice"] = args.voice
    if args.rate:
        body["rate"] = args.rate
    if args.name:
        body["name"] = args.name
    row = await conn.call("POST", "/prompts/speech", json=body)
    print(f"prompt {row['id']} ({row['duration_ms'] / 1000:.1f} s)", file=out)


# --- recipes ---------------------------------------------------------------------------


async def recipes_list(conn: Connection, args: argparse.Namespace, out: TextIO) -> None:
    for row in await conn.call("GET", "/recipes"):
        print(f"{row['id']:<24} {row['title']}", file=out)


async def recipes_install(conn: Connection, args: argparse.Namespace, out: TextIO) -> None:
    parameters: dict[str, Any] = {}
    for pair in args.param or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"--param takes NAME=VALUE, not {pair!r}")
        try:
            parameters[name] = json.loads(value)  # numbers, true/false, ["+1..."]
        except json.JSONDecodeError:
            parameters[name] = value
    row = await conn.call(
        "POST",
        f"/recipes/{args.id}/install",
        json={"parameters": parameters, "publish": args.publish},
    )
    state = f"published as version {row['published_version']}" if args.publish else "a draft"
    print(f"recipe {args.id}: workflow {row['id']} installed, {state}", file=out)


REMOTE_HELP = (
    "These commands use a running server's admin API. The server: --url, else\n"
    f"RINGFLOW_API_URL, else {DEFAULT_URL}. The token: --token, else RINGFLOW_API_TOKEN,\n"
    "else RINGFLOW_ADMIN_TOKEN (make one with `ringflow token create NAME`). Exit\n"
    "status: 0 done, 1 the API refused (its reasons are printed), 2 usage or connection."
)


def _group(commands: Commands, name: str, summary: str, description: str, examples: str) -> Any:
    group = add_command(
        commands, name, summary=summary, description=description, examples=examples, settings=False
    )
    group.epilog = f"{group.epilog}\n\n{REMOTE_HELP}"
    return group.add_subparsers(dest="action", required=True, metavar="ACTION")


def add_to(commands: Commands) -> None:
    """Add ``workflows``, ``prompts`` and ``recipes`` to the ``ringflow`` command line."""

    def connection_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--url", help=f"the server (default $RINGFLOW_API_URL or {DEFAULT_URL})"
        )
        parser.add_argument("--token", help="an admin token (default $RINGFLOW_API_TOKEN)")

    actions = _group(
        commands,
        "workflows",
        "workflows on a running server: list, push FILE..., publish ID",
        "Upload workflow files to a running server as drafts, publish them, list them.\n"
        "A file the server refuses is printed with every problem, FILE:LINE PATH: MESSAGE.",
        "  $ ringflow workflows push flows/*.yaml --publish\n"
        "  $ ringflow workflows publish main\n"
        "  $ ringflow workflows list",
    )
    listing = actions.add_parser("list", help="list workflows")
    listing.set_defaults(api_run=workflows_list)
    push = actions.add_parser("push", help="upload workflow files as drafts")
    push.add_argument("files", nargs="+", metavar="FILE")
    push.add_argument("--publish", action="store_true", help="publish them at once")
    push.set_defaults(api_run=workflows_push)
    publish = actions.add_parser("publish", help="publish a workflow's draft")
    publish.add_argument("id")
    publish.set_defaults(api_run=workflows_publish)

    prompt_actions = _group(
        commands,
        "prompts",
        "audio prompts on a running server: list, add FILE, say TEXT",
        "Audio that workflows play (`play: ID`): upload a recording, which the\n"
        "server converts for the phone network, or have the server's voice say a text.",
        "  $ ringflow prompts add greeting.wav --name 'Main greeting'\n"
        "  $ ringflow prompts say 'Thank you for calling.' --language en\n"
        "  $ ringflow prompts list",
    )
    prompt_list = prompt_actions.add_parser("list", help="list prompts")
    prompt_list.set_defaults(api_run=prompts_list)
    add = prompt_actions.add_parser("add", help="upload an audio file (WAV, MP3, OGG, M4A)")
    add.add_argument("file")
    add.add_argument("--name")
    add.set_defaults(api_run=prompts_add)
    say = prompt_actions.add_parser("say", help="make a prompt from text (text-to-speech)")
    say.add_argument("text")
    say.add_argument("--language", default="en")
    say.add_argument("--voice")
    say.add_argument("--rate", type=int)
    say.add_argument("--name")
    say.set_defaults(api_run=prompts_say)

    recipe_actions = _group(
        commands,
        "recipes",
        "ready-made workflows on a running server: list, install ID",
        "Recipes are ready-made workflows for common cases (docs/recipes.md): list them\n"
        "with their parameters, install one with yours as a workflow.",
        "  $ ringflow recipes list\n"
        "  $ ringflow recipes install missed-call-text --param workflow_id=missed-text \\\n"
        "      --param business_name=Acme --publish",
    )
    recipe_list = recipe_actions.add_parser("list", help="list recipes")
    recipe_list.set_defaults(api_run=recipes_list)
    install = recipe_actions.add_parser("install", help="install a recipe as a workflow")
    install.add_argument("id")
    install.add_argument("--param", action="append", metavar="NAME=VALUE")
    install.add_argument("--publish", action="store_true")
    install.set_defaults(api_run=recipes_install)

    for parser in (
        listing,
        push,
        publish,
        prompt_list,
        add,
        say,
        recipe_list,
        install,
    ):
        connection_options(parser)
        parser.set_defaults(run=run_api_command)


def run_api_command(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Run the chosen admin API command; its exit status."""
    try:
        conn = Connection.from_args(args)
        asyncio.run(args.api_run(conn, args, out))
    except ApiRefused as refused:
        print("\n".join(refused.lines), file=sys.stderr)
        return 1
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
