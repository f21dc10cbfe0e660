"""Ringflow's composition root: settings, ``create_app()`` and the ``ringflow`` command.

This is the only module that wires the packages together. Resources live in the app's
cleanup contexts, in this order: database (with migrations) -> workflow catalog -> voice.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TextIO

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import text

import workflows.demo
from ivr import routes as voice_routes
from ivr.service import VoiceService
from ivr.signature import SignatureChecker
from ringflow.database import Database, DatabaseUrlError
from ringflow.database import open_database as connect
from ringflow.logs import configure_logging
from ringflow.migrate import SchemaMismatch, require_current, upgrade
from ringflow.runtime import tune_garbage_collector
from ringflow.settings import Settings, load_settings
from sms import routes as sms_routes
from workflows.catalog import WorkflowCatalog
from workflows.engine import Engine
from workflows.loader import Workflow, from_file, from_folder
from workflows.problems import Problem, WorkflowInvalid

log = logging.getLogger("ringflow")

DEMO_FLOWS = Path(workflows.demo.__file__).resolve().parent
SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
CATALOG = web.AppKey("catalog", WorkflowCatalog)
MAX_REQUEST_BYTES = 64 * 1024


def load_flows(settings: Settings) -> list[Workflow]:
    """The workflow files to install: ``flows_dir``, or the demo when none is configured."""
    folder = settings.flows_dir or DEMO_FLOWS
    if not folder.is_dir():
        raise WorkflowInvalid(str(folder), [Problem((), "no such folder of workflow files")])
    return from_folder(folder)


async def open_database(settings: Settings) -> Database:
    """The database, its schema upgraded (or checked when migrations are off)."""
    db = await connect(settings.database)
    try:
        if settings.migrate:
            await upgrade(db)
        else:
            await require_current(db)
    except BaseException:
        await db.close()
        raise
    return db


def create_app(
    settings: Settings, flows: Sequence[Workflow] | None = None, *, serving: bool = False
) -> web.Application:
    """The aiohttp application. ``flows`` defaults to the files ``settings`` point at;
    ``serving`` tunes the process for a long-running server (``ringflow serve``)."""
    # Twilio's webhook forms are a few kilobytes; nothing here takes uploads yet.
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[SETTINGS] = settings
    to_install = list(flows) if flows is not None else load_flows(settings)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        db = await open_database(settings)
        try:
            app[DATABASE] = db
            catalog = WorkflowCatalog(db)
            await catalog.install_files(to_install)
            app[CATALOG] = catalog
            engine = Engine(settings.step_limit)
            app[voice_routes.VOICE_SERVICE] = VoiceService(db, catalog, engine)
            app[sms_routes.SMS_DATABASE] = db
            if serving:
                tune_garbage_collector()
            yield
        finally:
            await db.close()

    token = settings.auth_token
    app[voice_routes.VOICE_CONFIG] = voice_routes.VoiceConfig(
        checker=SignatureChecker(token, settings.public_url) if token else None,
        public_url=settings.public_url,
    )
    app.cleanup_ctx.append(resources)
    app.router.add_routes(
        [web.get("/healthz", healthz), *voice_routes.routes(), *sms_routes.routes()]
    )
    return app


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: 200 when the database answers, 503 otherwise."""
    try:
        await request.app[DATABASE].read(lambda conn: conn.execute(text("SELECT 1")).scalar())
    except Exception as error:
        log.warning("health check: database unavailable: %s", error)
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    workflows = [active.workflow.id for active in request.app[CATALOG].active]
    return web.json_response({"status": "ok", "database": "up", "workflows": workflows})


def banner(settings: Settings, flows: Sequence[Workflow], out: TextIO) -> None:
    """What the operator needs after start: where it listens and what to paste into Twilio."""
    local = f"http://{settings.host}:{settings.port}"
    public = settings.public_url or local
    print(f"Ringflow is answering on {local}", file=out)
    for workflow in flows:
        trigger = workflow.spec.trigger
        numbers = ", ".join(trigger.to) if trigger.to else "any number"
        print(f"  workflow {workflow.id}: {trigger.event} ({numbers})", file=out)
    print("Paste these into your Twilio number's voice configuration:", file=out)
    print(f"  A call comes in (HTTP POST):       {public}/twilio/voice", file=out)
    print(f"  Call status changes (HTTP POST):   {public}/twilio/voice/status", file=out)
    if not settings.public_url:
        print("  (set RINGFLOW_PUBLIC_URL to the https address Twilio reaches)", file=out)
    if not settings.auth_token:
        print(
            "  WARNING: TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked", file=out
        )
    print("Try it without a phone: ringflow call", file=out, flush=True)


def _settings_error(error: ValidationError) -> str:
    lines = []
    for detail in error.errors():
        field = str(detail["loc"][0]) if detail["loc"] else "?"
        name = "TWILIO_AUTH_TOKEN" if field == "twilio_auth_token" else f"RINGFLOW_{field.upper()}"
        lines.append(f"configuration error: {name}: {detail['msg']}")
    return "\n".join(lines)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings(host=args.host, port=args.port, flows_dir=args.flows)
    configure_logging(settings.log_level, [settings.auth_token or ""])
    flows = load_flows(settings)
    app = create_app(settings, flows, serving=True)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=lambda _text: banner(settings, flows, sys.stdout),
        access_log=None,
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for name in args.files:
        try:
            workflow = from_file(Path(name))
        except WorkflowInvalid as error:
            failed += 1
            for message in error.messages():
                print(message, file=sys.stderr)
        else:
            print(f"{name}: ok ({workflow.id}, {len(workflow.spec.steps)} steps)")
    return 1 if failed else 0


def cmd_calls(args: argparse.Namespace) -> int:
    from ivr.calllog import format_calls, recent_calls

    settings = load_settings()

    async def show() -> str:
        db = await open_database(settings)
        try:
            return format_calls(await recent_calls(db, args.limit))
        finally:
            await db.close()

    print(asyncio.run(show()))
    return 0


def cmd_messages(args: argparse.Namespace) -> int:
    from sms.messages import format_messages, recent_messages

    settings = load_settings()

    async def show() -> str:
        db = await open_database(settings)
        try:
            return format_messages(await recent_messages(db, args.limit))
        finally:
            await db.close()

    print(asyncio.run(show()))
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from ivr.cli_call import place_call

    settings = load_settings(flows_dir=args.flows)
    configure_logging("WARNING", [settings.auth_token or ""])
    return asyncio.run(place_call(settings, args, create_app, sys.stdin, sys.stdout))


def cmd_db(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def run() -> str:
        from ringflow.migrate import current_revision, head_revision

        db = await connect(settings.database)
        try:
            if args.action == "upgrade":
                await upgrade(db)
            return f"database at revision {await current_revision(db)} (code: {head_revision()})"
        finally:
            await db.close()

    print(asyncio.run(run()))
    return 0


def parser() -> argparse.ArgumentParser:
    """The ``ringflow`` command line."""
    top = argparse.ArgumentParser(prog="ringflow", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--flows", type=Path, help="folder of workflow files (default: demo)")
    serve.set_defaults(run=cmd_serve)

    validate = commands.add_parser("validate", help="check workflow files offline")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(run=cmd_validate)

    call = commands.add_parser("call", help="place a test call: hear the IVR, press keys")
    call.add_argument("--from", dest="caller", default="+15005550006", help="caller number")
    call.add_argument("--to", dest="called", default="+15005550001", help="number called")
    call.add_argument("--url", help="server base URL (default: run the server in-process)")
    call.add_argument("--flows", type=Path, help="in-process only: folder of workflow files")
    call.set_defaults(run=cmd_call)

    calls = commands.add_parser("calls", help="show the call log")
    calls.add_argument("--limit", type=int, default=50, help="how many calls (default 50)")
    calls.set_defaults(run=cmd_calls)

    texts = commands.add_parser("messages", help="show the message log")
    texts.add_argument("--limit", type=int, default=50, help="how many messages (default 50)")
    texts.set_defaults(run=cmd_messages)

    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "status"])
    db.set_defaults(run=cmd_db)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ringflow`` command."""
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ValidationError as error:
        print(_settings_error(error), file=sys.stderr)
        return 2
    except WorkflowInvalid as error:
        print("\n".join(error.messages()), file=sys.stderr)
        return 2
    except (SchemaMismatch, DatabaseUrlError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
