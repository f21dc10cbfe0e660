"""Ringflow's composition root: settings, ``create_app()`` and the ``ringflow`` command.

This is the only module that wires the packages together. Resources live in the app's
cleanup context, in this order: database (with migrations) -> workflow catalog -> voice ->
SMS provider (Twilio, or the local outbox) -> job worker; they close in reverse.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TextIO

from aiohttp import web
from pydantic import ValidationError

import workflows.demo
from ivr import api as calls_api
from ivr import routes as voice_routes
from ivr.media import server_speech
from ivr.service import VoiceService
from ivr.signature import SignatureChecker
from prompts import api as prompts_api
from prompts import routes as prompt_routes
from prompts.playback import PromptPlayback
from prompts.service import PromptService, Synthesizer, prompts_among
from prompts.tts import LazyTtsPool
from ringflow.admin import jobs as jobs_admin
from ringflow.api.app import GATEKEEPER, api_application
from ringflow.api.auth import Gatekeeper
from ringflow.api.endpoints import Api
from ringflow.backup import run_backup_command
from ringflow.client_address import ClientAddress
from ringflow.clock import Clock, system_clock
from ringflow.database import Database, DatabaseUrlError
from ringflow.database import open_database as connect
from ringflow.logs import configure_logging
from ringflow.migrate import SchemaMismatch, require_current, upgrade
from ringflow.private_files import PRIVATE_UMASK, private_dir, private_sqlite_file
from ringflow.runtime import tune_garbage_collector
from ringflow.settings import Settings, SettingsSourceMissing, load_settings
from ringflow.webhook_guard import webhook_guard
from ringflow.webhook_signing import UnsignedWebhooksRefused, unsigned_webhooks_warning
from sms import api as sms_api
from sms import routes as sms_routes
from sms.messages import Provider
from sms.outbox import OUTBOX, OutboxProvider
from sms.provider import SmsProvider
from sms.reply_limits import ReplyLimit
from sms.runner import MessageRunner
from sms.send_job import SEND_SMS, SendRules, SendSmsHandler, queue_text
from sms.twilio_provider import TwilioSmsProvider
from sms.workflow_jobs import (
    RUN_TIMER,
    SMS_INBOUND,
    CallEventHandler,
    InboundTextHandler,
    RunTimerHandler,
)
from workflows import api as workflows_api
from workflows import contacts_api, recipes_api
from workflows.catalog import ActiveWorkflow, WorkflowCatalog, compile_trigger
from workflows.engine import Engine
from workflows.jobs import JobHandler, JobWorker, RetryPolicy
from workflows.loader import Workflow, from_file, from_folder
from workflows.problems import Problem, WorkflowInvalid
from workflows.schedules import ScheduleBook, load_schedule_folder
from workflows.schedules import api as schedules_api
from workflows.schedules.overrides import load_overrides
from workflows.schedules.stored import load_stored
from workflows.triggers import CALL_EVENT_JOB
from workflows.versions import published_using

log = logging.getLogger("ringflow")

DEMO_FLOWS = Path(workflows.demo.__file__).resolve().parent
SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
CATALOG = web.AppKey("catalog", WorkflowCatalog)
SMS_PROVIDER = web.AppKey("sms_provider", SmsProvider)
JOB_WORKER = web.AppKey("job_worker", JobWorker)
API_APP = web.AppKey("api_app", web.Application)
MAX_REQUEST_BYTES = 64 * 1024
MAX_API_BODY_BYTES = 32 * 1024 * 1024
"""The admin API's ceiling; each endpoint checks its own, smaller limit (413)."""
OVERRIDES_REFRESH_SECONDS = 5.0
"""How soon an admin's "open now" / "closed now" reaches every instance."""


def load_flows(settings: Settings) -> list[Workflow]:
    """The workflow files to install: ``flows_dir``, or the demo when none is configured."""
    folder = settings.flows_dir or DEMO_FLOWS
    if not folder.is_dir():
        raise WorkflowInvalid(str(folder), [Problem((), "no such folder of workflow files")])
    return from_folder(folder)


def load_schedules(settings: Settings) -> ScheduleBook:
    """The named schedules: the ``schedules`` folder beside the workflow files."""
    folder = settings.flows_dir or DEMO_FLOWS
    return ScheduleBook(load_schedule_folder(folder / "schedules"))


async def open_catalog(db: Database, settings: Settings, clock: Clock) -> WorkflowCatalog:
    """The workflow catalog with the schedules and their stored overrides."""
    catalog = WorkflowCatalog(db, load_schedules(settings), clock=clock)
    catalog.use_stored_schedules(await db.read(load_stored))
    catalog.use_overrides(await db.read(load_overrides))
    return catalog


async def refresh_overrides(db: Database, catalog: WorkflowCatalog) -> None:
    """Re-read the manual overrides and the enabled workflows every few seconds, until
    cancelled: what an admin changed through another instance reaches this one."""
    while True:
        await asyncio.sleep(OVERRIDES_REFRESH_SECONDS)
        try:
            catalog.use_stored_schedules(await db.read(load_stored))
            catalog.use_overrides(await db.read(load_overrides))
            await catalog.refresh()
        except Exception:
            log.exception("could not re-read overrides and workflows; keeping the last ones")


def private_data_files(settings: Settings) -> None:
    """The data dir, and a SQLite database file, created owner-only if they are missing."""
    private_dir(settings.data_dir)
    private_sqlite_file(settings.database)


async def open_database(settings: Settings) -> Database:
    """The database, its schema upgraded (or checked when migrations are off); the data dir
    and a new SQLite file are made owner-only first."""
    private_data_files(settings)
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


def sms_provider(settings: Settings, db: Database, clock: Clock) -> tuple[SmsProvider, Provider]:
    """Twilio when both its account SID and auth token are set, else the local outbox."""
    sid, token = settings.twilio_account_sid, settings.auth_token
    if sid and token:
        provider = TwilioSmsProvider(
            sid, token, api_base_url=settings.twilio_api_base_url, clock=clock
        )
        return provider, "twilio"
    return OutboxProvider(db, clock=clock), OUTBOX


def send_rules(settings: Settings, catalog: WorkflowCatalog) -> SendRules:
    """The limits every text obeys when it leaves: countries, the hourly cap, quiet hours."""
    return SendRules(
        allowed_countries=settings.allowed_countries,
        hourly_cap=settings.sms_hourly_cap,
        quiet_until=lambda name, at: catalog.schedules.quiet_until(name, at),
    )


def job_worker(
    settings: Settings,
    db: Database,
    catalog: WorkflowCatalog,
    provider: SmsProvider,
    provider_name: Provider,
    clock: Clock,
) -> JobWorker:
    """The job worker with every job kind's handler, leases named after this process."""
    callback = f"{settings.public_url}/twilio/sms/status" if settings.public_url else None
    runner = MessageRunner(Engine(settings.step_limit), catalog)
    handlers: dict[str, JobHandler] = {
        SEND_SMS: SendSmsHandler(
            db, provider, provider_name, callback, clock=clock, rules=send_rules(settings, catalog)
        ),
        CALL_EVENT_JOB: CallEventHandler(db, catalog, runner, clock),
        SMS_INBOUND: InboundTextHandler(
            db, catalog, runner, clock, reply_limit=ReplyLimit.from_settings(settings)
        ),
        RUN_TIMER: RunTimerHandler(db, catalog, runner, clock),
    }
    return JobWorker(
        db,
        handlers,
        owner=f"{socket.gethostname()}:{os.getpid()}",
        policy=RetryPolicy(),
        lease=timedelta(seconds=settings.job_lease_seconds),
        # Claim as many as may run: fewer claims per job, and texts to the provider overlap.
        batch=settings.worker_concurrency,
        concurrency=settings.worker_concurrency,
        clock=clock,
        retention=timedelta(days=settings.job_retention_days),
    )


async def _published_using(db: Database, prompt_id: str) -> list[str]:
    return await db.read(lambda conn: published_using(conn, prompt_id))


async def _existing_prompts(db: Database, ids: Collection[str]) -> set[str]:
    return await db.read(lambda conn: prompts_among(conn, ids))


def _prepare_speech(playback: PromptPlayback, active: Sequence[ActiveWorkflow]) -> None:
    """Have the server's voice say every enabled workflow's ``render: server`` texts in the
    background, so that no caller waits for them."""
    playback.prepare(speech for each in active for speech in server_speech(each.workflow))


def _no_worker() -> None:
    """No worker in this process: another one (``ringflow worker``) polls for the jobs."""


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _stop_worker(worker: JobWorker, running: asyncio.Task[None]) -> None:
    await worker.stop()  # lets the jobs in flight finish
    await running


def create_app(
    settings: Settings,
    flows: Sequence[Workflow] | None = None,
    *,
    serving: bool = False,
    clock: Clock = system_clock,
    speech: Synthesizer | None = None,
) -> web.Application:
    """The aiohttp application. ``flows`` defaults to the files ``settings`` point at;
    ``serving`` tunes the process for a long-running server (``ringflow serve``); ``clock``
    is what "now" means to business hours, quiet hours and jobs (tests move it); ``speech``
    is the server's voice (default: espeak-ng worker processes, started when first needed;
    one given here is the caller's to close)."""
    # Twilio's webhook forms are a few kilobytes; the admin API (its own limits) is a sub-app.
    app = web.Application(
        client_max_size=MAX_REQUEST_BYTES,
        middlewares=[webhook_guard(settings.webhook_body_seconds)],
    )
    app[SETTINGS] = settings
    to_install = list(flows) if flows is not None else load_flows(settings)
    api = Api()
    workflows_api.register(api)
    recipes_api.register(api)
    contacts_api.register(api)
    calls_api.register(api)
    sms_api.register(api)
    schedules_api.register(api)
    api.add(*prompts_api.endpoints())
    api.add(*jobs_admin.endpoints())
    # Uploads stream to disk with their own limit (413); this is only the outer bound.
    api_app = api_application(api, client_max_size=settings.prompt_max_bytes + 1024 * 1024)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        # Closed in reverse: the worker finishes its jobs, then the provider, then the database.
        async with contextlib.AsyncExitStack() as stack:
            db = await open_database(settings)
            stack.push_async_callback(db.close)
            app[DATABASE] = db
            catalog = await open_catalog(db, settings, clock)
            await catalog.install_files(to_install)
            app[CATALOG] = catalog
            voice = speech
            if voice is None:
                pool = LazyTtsPool(workers=2, timeout=10.0)
                stack.push_async_callback(pool.close)
                voice = pool
            prompt_service = PromptService(
                db,
                settings.data_dir,
                voice,
                max_bytes=settings.prompt_max_bytes,
                min_seconds=settings.prompt_min_seconds,
                max_seconds=settings.prompt_max_seconds,
                clock=clock,
            )
            stack.push_async_callback(prompt_service.close)
            app[prompt_routes.PROMPT_SERVICE] = prompt_service
            playback = PromptPlayback(prompt_service)
            stack.push_async_callback(playback.close)
            # Server speech is made when a workflow is published or installed and now, at
            # start, for every enabled one: never first on a caller's turn.
            catalog.on_change(partial(_prepare_speech, playback))
            _prepare_speech(playback, catalog.active)
            prompts_playing = partial(_published_using, db)
            app[prompts_api.PROMPT_ADMIN] = prompts_api.PromptAdmin(
                prompt_service, prompts_playing, settings.data_dir / "uploads"
            )
            app[workflows_api.WORKFLOW_ADMIN] = workflows_api.WorkflowAdmin(
                db, catalog, clock, partial(_existing_prompts, db)
            )
            app[contacts_api.CONTACT_ADMIN] = contacts_api.ContactAdmin(db, clock)
            app[calls_api.CALL_ADMIN] = calls_api.CallAdmin(db)
            app[sms_api.SMS_ADMIN] = sms_api.SmsAdmin(db, clock)
            app[schedules_api.SCHEDULE_ADMIN] = schedules_api.ScheduleAdmin(db, catalog, clock)
            app[jobs_admin.JOB_ADMIN] = jobs_admin.JobAdmin(db, clock)
            api_app[GATEKEEPER] = Gatekeeper(
                db, settings.admin_api_token, clients=ClientAddress(settings.trusted_proxies)
            )
            refreshing = asyncio.create_task(refresh_overrides(db, catalog), name="overrides")
            stack.push_async_callback(_cancel, refreshing)
            app[sms_routes.SMS_DATABASE] = db
            app[sms_routes.SMS_SETTINGS] = settings
            app[sms_routes.SMS_CLOCK] = clock
            provider, provider_name = sms_provider(settings, db, clock)
            stack.push_async_callback(provider.close)
            app[SMS_PROVIDER] = provider
            wake: Callable[[], None] | None = None
            if settings.worker:
                worker = job_worker(settings, db, catalog, provider, provider_name, clock)
                app[JOB_WORKER] = worker
                wake = worker.wake
                running = asyncio.create_task(worker.run_until_stopped(), name="job-worker")
                stack.push_async_callback(_stop_worker, worker, running)
            app[sms_routes.JOBS_WAKE] = wake or _no_worker
            engine = Engine(settings.step_limit)
            post_call = CallEventHandler(db, catalog, MessageRunner(engine, catalog), clock)
            voice_service = VoiceService(
                db,
                catalog,
                engine,
                queue_text,
                clock=clock,
                events=wake,
                post_call=post_call.handle_in,
                playback=playback,
                media_base=settings.public_url or "",
            )
            stack.push_async_callback(voice_service.close, settings.voice_deadline_seconds)
            app[voice_routes.VOICE_SERVICE] = voice_service
            if serving:
                tune_garbage_collector()
            yield

    token = settings.auth_token
    app[voice_routes.VOICE_CONFIG] = voice_routes.VoiceConfig(
        checker=SignatureChecker(token, settings.public_url) if token else None,
        public_url=settings.public_url,
        deadline=settings.voice_deadline_seconds,
    )
    app.cleanup_ctx.append(resources)
    app.router.add_routes(
        [
            web.get("/healthz", healthz),
            *voice_routes.routes(),
            *sms_routes.routes(),
            *prompt_routes.routes(),
        ]
    )
    app.add_subapp("/api", api_app)
    app[API_APP] = api_app
    return app


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: 200 when the database can take work, 503 when it is unreachable or
    (SQLite) its writer has died or is stuck. Never waits for a write lock."""
    try:
        await request.app[DATABASE].check()
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
    print("Paste these into your Twilio number's configuration:", file=out)
    print(f"  A call comes in (HTTP POST):       {public}/twilio/voice", file=out)
    print(f"  Call status changes (HTTP POST):   {public}/twilio/voice/status", file=out)
    print(f"  A message comes in (HTTP POST):    {public}/twilio/sms", file=out)
    if not settings.public_url:
        print("  (set RINGFLOW_PUBLIC_URL to the https address Twilio reaches)", file=out)
    if not settings.auth_token:
        print(
            "  WARNING: TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked", file=out
        )
    print("Try it without a phone: ringflow call", file=out, flush=True)


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    choices = getattr(alias, "choices", None)
    return str(choices[0]) if choices else f"RINGFLOW_{field.upper()}"


_ENV_NAMES = {field: _env_name(field) for field in Settings.model_fields}


def _settings_error(error: ValidationError) -> str:
    lines = []
    for detail in error.errors():
        field = str(detail["loc"][0]) if detail["loc"] else "?"
        # Pydantic names the field, or the alias it was read by (already a variable name).
        name = _ENV_NAMES.get(field) or (field if field.isupper() else f"RINGFLOW_{field.upper()}")
        message = str(detail["msg"]).removeprefix("Value error, ")
        lines.append(f"configuration error: {name}: {message}")
    return "\n".join(lines)


def check_references(flows: Sequence[Workflow], schedules: ScheduleBook) -> None:
    """Raise ``WorkflowInvalid`` for the first workflow naming a schedule that is not there."""
    for workflow in flows:
        compile_trigger(workflow, schedules.names)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings(host=args.host, port=args.port, flows_dir=args.flows)
    configure_logging(
        settings.log_level, [settings.auth_token or "", settings.admin_api_token or ""]
    )
    unsigned = unsigned_webhooks_warning(
        signed=settings.auth_token is not None,
        host=settings.host,
        insecure_allowed=settings.insecure_webhooks,
    )
    flows = load_flows(settings)
    check_references(flows, load_schedules(settings))  # before anything is started
    if unsigned is not None:
        log.warning("%s", unsigned)
    os.umask(PRIVATE_UMASK)  # whatever the server (or ffmpeg) creates: owner-only
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
        path = Path(name)
        try:
            workflow = from_file(path)
            # Schedules are looked for where `serve --flows` looks: beside the file.
            schedules = ScheduleBook(load_schedule_folder(path.parent / "schedules"))
            check_references([workflow], schedules)
        except WorkflowInvalid as error:
            failed += 1
            for message in error.messages():
                print(message, file=sys.stderr)
        else:
            print(f"{name}: ok ({workflow.id}, {len(workflow.spec.steps)} steps)")
    return 1 if failed else 0


def _print_from_database(table: Callable[[Database], Awaitable[str]]) -> int:
    """Open the configured database, print what ``table`` makes of it, close it."""

    async def show() -> str:
        db = await open_database(load_settings())
        try:
            return await table(db)
        finally:
            await db.close()

    print(asyncio.run(show()))
    return 0


def cmd_calls(args: argparse.Namespace) -> int:
    from ivr.calllog import format_calls, recent_calls

    async def table(db: Database) -> str:
        return format_calls(await recent_calls(db, args.limit))

    return _print_from_database(table)


def cmd_messages(args: argparse.Namespace) -> int:
    from sms.messages import format_messages, recent_messages

    async def table(db: Database) -> str:
        return format_messages(await recent_messages(db, args.limit))

    return _print_from_database(table)


def cmd_hours(args: argparse.Namespace) -> int:
    from workflows.schedules.overrides import clear_override, set_override
    from workflows.schedules.report import describe_status

    settings = load_settings(flows_dir=args.flows)
    files = load_schedules(settings)

    async def table(db: Database) -> str:
        now = system_clock()
        stored = await db.read(load_stored)
        book = ScheduleBook({**stored, **{n: s for n in files.names if (s := files.get(n))}})
        if args.name is not None and args.name not in book.names:
            known = ", ".join(sorted(book.names)) or "none"
            raise SystemExit(f"error: no schedule {args.name!r} (schedules: {known})")
        if args.action is not None:
            name = args.name
            if args.action == "auto":
                await db.write(lambda conn: clear_override(conn, name))
            else:
                is_open = args.action == "open"
                await db.write(lambda conn: set_override(conn, name, is_open, now, "cli"))
        current = book.with_overrides(await db.read(load_overrides))
        names = [args.name] if args.name is not None else sorted(current.names)
        lines = [describe_status(current, name, now) for name in names]
        return "\n".join(lines) or "no schedules (add files to the flows folder's schedules/)"

    return _print_from_database(table)


def cmd_token(args: argparse.Namespace) -> int:
    from ringflow.api.tokens import TokenNameTaken, create_token, list_tokens, revoke_token

    async def run(db: Database) -> str:
        now = system_clock()
        if args.action == "create":
            try:
                token = await db.write(lambda conn: create_token(conn, args.name, now))
            except (TokenNameTaken, ValueError) as error:
                raise SystemExit(f"error: {error}") from None
            return (
                f"{token}\n(token {args.name!r}: shown this once; send it as"
                " `Authorization: Bearer <token>`)"
            )
        if args.action == "revoke":
            revoked = await db.write(lambda conn: revoke_token(conn, args.name, now))
            if not revoked:
                raise SystemExit(f"error: no live token named {args.name!r}")
            return f"token {args.name!r} revoked"
        rows = await db.read(list_tokens)
        lines = [
            f"{t.name:<24} {t.prefix}...  created {t.created_at:%Y-%m-%d %H:%M}"
            + ("  REVOKED" if t.revoked else "")
            for t in rows
        ]
        return "\n".join(lines) or "no tokens (RINGFLOW_ADMIN_TOKEN may still be set)"

    if args.action in ("create", "revoke") and not args.name:
        print(f"error: ringflow token {args.action} needs a NAME", file=sys.stderr)
        return 2
    return _print_from_database(run)


def cmd_call(args: argparse.Namespace) -> int:
    from ivr.cli_call import place_call

    settings = load_settings(flows_dir=args.flows)
    configure_logging("WARNING", [settings.auth_token or ""])
    return asyncio.run(place_call(settings, args, create_app, sys.stdin, sys.stdout))


def cmd_db(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.action == "backup":
        return run_backup_command(settings.database, args.file)

    async def run() -> str:
        from ringflow.migrate import current_revision, head_revision

        private_data_files(settings)
        db = await connect(settings.database)
        try:
            if args.action == "upgrade":
                await upgrade(db)
            return f"database at revision {await current_revision(db)} (code: {head_revision()})"
        finally:
            await db.close()

    print(asyncio.run(run()))
    return 0


async def run_worker(settings: Settings) -> int:
    """Run the job worker until SIGINT or SIGTERM, then let the jobs in flight finish."""
    db = await open_database(settings)
    try:
        catalog = await open_catalog(db, settings, system_clock)
        await catalog.refresh()
        refreshing = asyncio.create_task(refresh_overrides(db, catalog), name="overrides")
        provider, provider_name = sms_provider(settings, db, system_clock)
        try:
            worker = job_worker(settings, db, catalog, provider, provider_name, system_clock)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(number, stop.set)
            running = asyncio.create_task(worker.run_until_stopped(), name="job-worker")
            stopping = asyncio.create_task(stop.wait(), name="stop-signal")
            log.info("job worker %s started (sending texts with %s)", worker.owner, provider_name)
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            log.info("job worker %s stopping", worker.owner)
            stopping.cancel()
            await worker.stop()
            await running
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(number)
        finally:
            await _cancel(refreshing)
            await provider.close()
    finally:
        await db.close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level, [settings.auth_token or ""])
    os.umask(PRIVATE_UMASK)
    return asyncio.run(run_worker(settings))


def parser() -> argparse.ArgumentParser:
    """The ``ringflow`` command line."""
    top = argparse.ArgumentParser(prog="ringflow", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--flows", type=Path, help="folder of workflow files (default: demo)")
    serve.set_defaults(run=cmd_serve)

    validate = commands.add_parser(
        "validate",
        help="check workflow files offline (schedules they name: the schedules folder beside)",
    )
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

    worker = commands.add_parser(
        "worker", help="run only the job worker (sends texts), until SIGINT or SIGTERM"
    )
    worker.set_defaults(run=cmd_worker)

    hours = commands.add_parser(
        "hours",
        help="show business hours; open or close a schedule now (until its next change)",
    )
    hours.add_argument("name", nargs="?", help="the schedule (default: show all)")
    hours.add_argument(
        "action",
        nargs="?",
        choices=["open", "closed", "auto"],
        help="open now / closed now until the next boundary; auto: follow the hours again",
    )
    hours.add_argument("--flows", type=Path, help="folder of workflow files (its schedules/)")
    hours.set_defaults(run=cmd_hours)

    token = commands.add_parser("token", help="admin API tokens: create NAME, list, revoke NAME")
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("name", nargs="?", help="the token's name, e.g. the admin's")
    token.set_defaults(run=cmd_token)

    from ringflow.cli_api import add_commands

    add_commands(commands)
    from ringflow.admin.jobs_cli import add_command as add_jobs_command

    add_jobs_command(commands)

    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "status", "backup"])
    db.add_argument("file", nargs="?", type=Path, help="backup: the file to write (SQLite)")
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
    except (
        SchemaMismatch,
        DatabaseUrlError,
        UnsignedWebhooksRefused,
        SettingsSourceMissing,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
