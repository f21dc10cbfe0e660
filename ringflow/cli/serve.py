"""``ringflow serve``: run the server (webhooks, admin API, job worker) until stopped."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from aiohttp import web

from ringflow.cli.common import Commands, add_command
from ringflow.logs import access_log_options, configure_logging
from ringflow.private_files import PRIVATE_UMASK
from ringflow.resources.catalog import check_references, load_flows, load_schedules
from ringflow.settings import Settings, load_settings
from ringflow.webhook_signing import unsigned_webhooks_warning
from server import create_app
from workflows.loader import Workflow

log = logging.getLogger("ringflow")


def add_to(commands: Commands) -> None:
    """Add ``serve``."""
    serve = add_command(
        commands,
        "serve",
        summary="run the server: Twilio webhooks, the admin API and the job worker",
        description=(
            "Answer calls and texts with your workflows. Loads every workflow file\n"
            "(*.yaml, *.yml, *.json) in the flows folder and the business hours in its\n"
            "schedules/ folder, upgrades the database, then prints the addresses to paste\n"
            "into your Twilio number. Stops on Ctrl-C or SIGTERM, letting calls in\n"
            "progress and jobs in flight finish."
        ),
        examples=(
            "  $ ringflow serve                           # the demo workflow, on 127.0.0.1:8080\n"
            "  $ ringflow serve --flows ./flows --port 9000\n"
            "  $ TWILIO_AUTH_TOKEN=... RINGFLOW_PUBLIC_URL=https://ivr.example.com \\\n"
            "      ringflow serve --host 0.0.0.0"
        ),
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1, RINGFLOW_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080, RINGFLOW_PORT)")
    serve.add_argument(
        "--flows",
        type=Path,
        metavar="DIR",
        help="folder of workflow files (default: RINGFLOW_FLOWS_DIR, else the demo)",
    )
    serve.set_defaults(run=run)


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
    print(
        f'Web chat: {public}/chat (embed: <script src="{public}/chat/widget.js" async>)', file=out
    )
    print("Try it without a phone: ringflow call", file=out, flush=True)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    settings = load_settings(host=args.host, port=args.port, flows_dir=args.flows)
    secrets = [settings.auth_token, settings.admin_api_token, settings.metrics_api_token]
    configure_logging(settings.log_level, [s or "" for s in secrets], settings.log_format)
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
        **access_log_options(settings.access_log),
    )
    return 0
