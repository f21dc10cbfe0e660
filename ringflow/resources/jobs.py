"""The job worker: claims due jobs (texts to send, post-call events, inbound texts, timers)
and runs them, in this process, until it is stopped; jobs in flight finish first."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from ivr.offers import OfferHandler, twilio_calls
from ringflow.clock import Clock
from ringflow.database import Database
from ringflow.health import READINESS
from ringflow.metrics import METRICS, Metrics
from ringflow.resources import Resource
from ringflow.resources.catalog import CATALOG
from ringflow.resources.conversation_channels import run_channels
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.resources.sessions import SESSIONS
from ringflow.resources.sms import PROVIDER_NAME, SMS_PROVIDER
from ringflow.settings import Settings
from sms import routes as sms_routes
from sms.messages import Provider
from sms.provider import SmsProvider
from sms.reply_limits import ReplyLimit
from sms.send_job import SEND_SMS, SendRules, SendSmsHandler
from sms.workflow_jobs import (
    RUN_TIMER,
    SMS_INBOUND,
    CallEventHandler,
    InboundTextHandler,
    RunTimerHandler,
)
from workflows.automations.handlers import ConversationEventHandler, ConversationTimerHandler
from workflows.automations.raising import CONVERSATION_EVENT_JOB, CONVERSATION_TIMER_JOB
from workflows.catalog import WorkflowCatalog
from workflows.conversations.actions import WAKE_JOB
from workflows.conversations.wake import WakeHandler
from workflows.jobs import JobHandler, JobWorker, RetryPolicy
from workflows.people.presence import DISPATCH_JOB
from workflows.people.queue import OFFER_JOB, DispatchHandler
from workflows.sessions import SessionService
from workflows.triggers import CALL_EVENT_JOB

JOB_WORKER = web.AppKey("job_worker", JobWorker)
WORKER_RUNNING: web.AppKey[asyncio.Task[None]] = web.AppKey("worker_running")
"""The worker's task: done only when it stopped (or died)."""


def send_rules(settings: Settings, catalog: WorkflowCatalog) -> SendRules:
    """The limits every text obeys when it leaves: countries, the hourly cap, quiet hours."""
    return SendRules(
        allowed_countries=settings.allowed_countries,
        hourly_cap=settings.sms_hourly_cap,
        quiet_until=lambda name, at: catalog.schedules.quiet_until(name, at),
    )


def job_handlers(
    settings: Settings,
    db: Database,
    catalog: WorkflowCatalog,
    provider: SmsProvider,
    provider_name: Provider,
    clock: Clock,
    sessions: SessionService,
) -> dict[str, JobHandler]:
    """Every job kind's handler, by kind: the one table a new kind of job is added to."""
    callback = f"{settings.public_url}/twilio/sms/status" if settings.public_url else None
    return {
        SEND_SMS: SendSmsHandler(
            db, provider, provider_name, callback, clock=clock, rules=send_rules(settings, catalog)
        ),
        CALL_EVENT_JOB: CallEventHandler(db, sessions, clock),
        SMS_INBOUND: InboundTextHandler(
            db, sessions, clock, reply_limit=ReplyLimit.from_settings(settings)
        ),
        RUN_TIMER: RunTimerHandler(db, sessions, clock),
        WAKE_JOB: WakeHandler(clock),
        CONVERSATION_EVENT_JOB: ConversationEventHandler(
            db, sessions, catalog, run_channels(), clock
        ),
        CONVERSATION_TIMER_JOB: ConversationTimerHandler(
            db, sessions, catalog, run_channels(), clock
        ),
        DISPATCH_JOB: DispatchHandler(db, clock),
        OFFER_JOB: OfferHandler(db, twilio_calls(settings), settings.public_url, clock),
    }


def job_worker(
    settings: Settings,
    db: Database,
    catalog: WorkflowCatalog,
    provider: SmsProvider,
    provider_name: Provider,
    clock: Clock,
    sessions: SessionService,
    metrics: Metrics | None = None,
) -> JobWorker:
    """The job worker with every job kind's handler, leases named after this process,
    reporting to ``metrics``."""
    return JobWorker(
        db,
        job_handlers(settings, db, catalog, provider, provider_name, clock, sessions),
        owner=f"{socket.gethostname()}:{os.getpid()}",
        policy=RetryPolicy(),
        lease=timedelta(seconds=settings.job_lease_seconds),
        # Claim as many as may run: fewer claims per job, and texts to the provider overlap.
        batch=settings.worker_concurrency,
        concurrency=settings.worker_concurrency,
        clock=clock,
        observer=metrics,
        retention=timedelta(days=settings.job_retention_days),
    )


def _no_worker() -> None:
    """No worker in this process: another one (``ringflow worker``) polls for the jobs."""


def jobs(*, always: bool = False) -> Resource:
    """``app[JOB_WORKER]`` running, when ``RINGFLOW_WORKER`` is on or ``always`` (the
    ``ringflow worker`` process); without it, webhooks leave their jobs to another process."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        if not (always or settings.worker):
            app[sms_routes.JOBS_WAKE] = _no_worker
            yield
            return
        worker = job_worker(
            settings,
            app[DATABASE],
            app[CATALOG],
            app[SMS_PROVIDER],
            app[PROVIDER_NAME],
            app[CLOCK],
            app[SESSIONS],
            app[METRICS],
        )
        app[JOB_WORKER] = worker
        app[sms_routes.JOBS_WAKE] = worker.wake
        running = asyncio.create_task(worker.run_until_stopped(), name="job-worker")
        app[WORKER_RUNNING] = running
        readiness = app.get(READINESS)
        if readiness is not None:
            readiness.watch("job worker", running)
        try:
            yield
        finally:
            await worker.stop()  # lets the jobs in flight finish
            await running

    return context
