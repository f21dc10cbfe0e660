"""``ringflow worker``: only the job worker, for extra processes that send texts and run the
jobs of calls and conversations."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from aiohttp import web

from ringflow.cli.common import Commands, add_command
from ringflow.logs import configure_logging
from ringflow.private_files import PRIVATE_UMASK
from ringflow.resources.jobs import JOB_WORKER, WORKER_RUNNING
from ringflow.resources.sms import PROVIDER_NAME
from ringflow.settings import Settings, load_settings
from server import worker_app

log = logging.getLogger("ringflow")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_to(commands: Commands) -> None:
    """Add ``worker``."""
    worker = add_command(
        commands,
        "worker",
        summary="run only the job worker (sends queued texts), until Ctrl-C or SIGTERM",
        description=(
            "Run the jobs that wait in the database (texts to send, what happens after a\n"
            "call, answers to texts, timers) without serving webhooks. Start as many as you\n"
            "need beside `ringflow serve` on the same database; set RINGFLOW_WORKER=false\n"
            "for the servers to leave all jobs to them. A job whose worker died is taken\n"
            "over after RINGFLOW_JOB_LEASE_SECONDS. On SIGTERM the jobs in flight finish."
        ),
        examples="  $ RINGFLOW_DATABASE_URL=postgresql://ringflow@db/ringflow ringflow worker",
    )
    worker.set_defaults(run=run)


async def run_worker(settings: Settings) -> int:
    """Run the job worker until SIGINT or SIGTERM, then let the jobs in flight finish."""
    runner = web.AppRunner(worker_app(settings))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    try:
        await runner.setup()  # opens the resources, starts the worker
        app = runner.app
        worker, running = app[JOB_WORKER], app[WORKER_RUNNING]
        for number in STOP_SIGNALS:
            loop.add_signal_handler(number, stop.set)
        log.info("job worker %s started (sending texts with %s)", worker.owner, app[PROVIDER_NAME])
        stopping = asyncio.create_task(stop.wait(), name="stop-signal")
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        log.info("job worker %s stopping", worker.owner)
    finally:
        for number in STOP_SIGNALS:
            loop.remove_signal_handler(number)
        await runner.cleanup()  # the worker finishes its jobs, then the rest closes
    return 0


def run(_args: argparse.Namespace) -> int:
    """Work until stopped."""
    settings = load_settings()
    secrets = [settings.auth_token, settings.admin_api_token, settings.metrics_api_token]
    configure_logging(settings.log_level, [s or "" for s in secrets], settings.log_format)
    os.umask(PRIVATE_UMASK)
    return asyncio.run(run_worker(settings))
