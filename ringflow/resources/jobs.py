"""The job worker: claims due jobs (texts to send, post-call events, inbound texts, timers)
and runs them, in this process, until it is stopped; jobs in flight finish first."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from chat.conversations import CHAT_RUN_TIMER
from chat.jobs import ChatRunTimerHandler
from ivr.offers import OfferHandler, twilio_calls
from ivr.status_check import CALL_STATUS_CHECK, StatusCheckHandler, StatusSweep
from ringflow.clock import Clock
from ringflow.database import Database
from ringflow.health import READINESS
from ringflow.metrics import METRICS, Metrics
from ringflow.outbound import OutboundClient, OutboundPolicy
from ringflow.resources import Resource
from ringflow.resources.callbacks import CALL_PLACER
from ringflow.resources.catalog import CATALOG
from ringflow.resources.conversation_channels import run_channels
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.resources.sessions import SESSIONS
from ringflow.resources.sms import PROVIDER_NAME, SMS_PROVIDER
from ringflow.settings import Settings
from sms import routes as sms_routes
from sms.messages import Provider
from sms.optouts import is_opted_out
from sms.provider import SmsProvider
from sms.reply_limits import ReplyLimit
from sms.send_job import SEND_SMS, SendRules, SendSmsHandler, queue_text
from sms.workflow_jobs import (
    RUN_TIMER,
    SMS_INBOUND,
    CallEventHandler,
    InboundTextHandler,
    RunTimerHandler,
)
from workflows.automations.handlers import ConversationEventHandler, ConversationTimerHandler
from workflows.automations.raising import CONVERSATION_EVENT_JOB, CONVERSATION_TIMER_JOB
from workflows.callbacks.job import PLACE_JOB, CallPlacer, PlaceCallbackHandler
from workflows.catalog import WorkflowCatalog
from workflows.conversations.actions import WAKE_JOB
from workflows.conversations.wake import WakeHandler
from workflows.external import EXTERNAL_EVENT_JOB, ExternalEventHandler
from workflows.http_requests import HTTP_REQUEST_JOB, HttpRequestHandler
from workflows.jobs import JobHandler, JobWorker, RetryPolicy
from workflows.people.presence import DISPATCH_JOB
from workflows.people.queue import OFFER_JOB, DispatchHandler
from workflows.sessions import SessionService
from workflows.triggers import CALL_EVENT_JOB
from workflows.webhooks import WEBHOOK_DELIVERY_JOB, DeliveryHandler, purge_settled

JOB_WORKER = web.AppKey("job_worker", JobWorker)
STATUS_SWEEP = web.AppKey("status_sweep", StatusSweep)
"""Looks for calls whose final status never came (with a Twilio account only)."""
WORKER_RUNNING: web.AppKey[asyncio.Task[None]] = web.AppKey("worker_running")
"""The worker's task: done only when it stopped (or died)."""


def send_rules(settings: Settings, catalog: WorkflowCatalog) -> SendRules:
    """The limits every text obeys when it leaves: countries, the hourly cap, quiet hours."""
    return SendRules(
        allowed_countries=settings.allowed_countries,
        hourly_cap=settings.sms_hourly_cap,
        quiet_until=lambda name, at: catalog.schedules.quiet_until(name, at),
    )


@dataclass(frozen=True)
class OutboundClients:
    """The outbound HTTP clients of the job worker's handlers (closed with the worker):
    webhook deliveries go to any public address (or the allowed networks), ``http_request``
    steps only to the hosts the settings list."""

    webhooks: OutboundClient
    requests: OutboundClient

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundClients:
        networks = settings.outbound_allowed_networks
        return cls(
            OutboundClient(OutboundPolicy(None, networks)),
            OutboundClient(OutboundPolicy(settings.http_hosts, networks)),
        )

    async def close(self) -> None:
        await self.webhooks.close()
        await self.requests.close()


def call_status_check_after(settings: Settings) -> timedelta:
    """How long after its start a call without a final status is looked up at Twilio."""
    return timedelta(minutes=settings.call_status_check_minutes)


def job_handlers(
    settings: Settings,
    db: Database,
    catalog: WorkflowCatalog,
    provider: SmsProvider,
    provider_name: Provider,
    clock: Clock,
    sessions: SessionService,
    outbound: OutboundClients,
    placer: CallPlacer | None = None,
    metrics: Metrics | None = None,
) -> dict[str, JobHandler]:
    """Every job kind's handler, by kind: the one table a new kind of job is added to."""
    callback = f"{settings.public_url}/twilio/sms/status" if settings.public_url else None
    calls_api = twilio_calls(settings)
    return {
        SEND_SMS: SendSmsHandler(
            db, provider, provider_name, callback, clock=clock, rules=send_rules(settings, catalog)
        ),
        CALL_EVENT_JOB: CallEventHandler(db, sessions, clock),
        SMS_INBOUND: InboundTextHandler(
            db, sessions, clock, reply_limit=ReplyLimit.from_settings(settings)
        ),
        RUN_TIMER: RunTimerHandler(db, sessions, clock),
        CHAT_RUN_TIMER: ChatRunTimerHandler(sessions, queue_text),
        WAKE_JOB: WakeHandler(clock),
        CONVERSATION_EVENT_JOB: ConversationEventHandler(
            db, sessions, catalog, run_channels(), clock
        ),
        CONVERSATION_TIMER_JOB: ConversationTimerHandler(
            db, sessions, catalog, run_channels(), clock
        ),
        EXTERNAL_EVENT_JOB: ExternalEventHandler(db, sessions, catalog, run_channels(), clock),
        HTTP_REQUEST_JOB: HttpRequestHandler(sessions, outbound.requests, run_channels()),
        WEBHOOK_DELIVERY_JOB: DeliveryHandler(
            db, outbound.webhooks, clock, max_attempts=settings.webhook_max_attempts
        ),
        PLACE_JOB: PlaceCallbackHandler(
            db, placer, clock, hours=lambda: catalog.schedules, opted_out=is_opted_out
        ),
        DISPATCH_JOB: DispatchHandler(db, clock),
        OFFER_JOB: OfferHandler(db, calls_api, settings.public_url, clock),
        CALL_STATUS_CHECK: StatusCheckHandler(
            db,
            calls_api,
            sessions,
            clock,
            check_after=call_status_check_after(settings),
            ended=metrics.call_ended if metrics is not None else None,
        ),
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
    outbound: OutboundClients | None = None,
    placer: CallPlacer | None = None,
) -> JobWorker:
    """The job worker with every job kind's handler, leases named after this process,
    reporting to ``metrics``; ``outbound``: its HTTP clients (the caller closes them; default:
    new ones, never closed, for a worker that makes no outbound requests)."""
    return JobWorker(
        db,
        job_handlers(
            settings,
            db,
            catalog,
            provider,
            provider_name,
            clock,
            sessions,
            outbound or OutboundClients.from_settings(settings),
            placer,
            metrics,
        ),
        owner=f"{socket.gethostname()}:{os.getpid()}",
        policy=RetryPolicy(),
        lease=timedelta(seconds=settings.job_lease_seconds),
        # Claim as many as may run: fewer claims per job, and texts to the provider overlap.
        batch=settings.worker_concurrency,
        concurrency=settings.worker_concurrency,
        clock=clock,
        observer=metrics,
        retention=timedelta(days=settings.job_retention_days),
        purges=(purge_settled,),
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
        outbound = OutboundClients.from_settings(settings)
        worker = job_worker(
            settings,
            app[DATABASE],
            app[CATALOG],
            app[SMS_PROVIDER],
            app[PROVIDER_NAME],
            app[CLOCK],
            app[SESSIONS],
            app[METRICS],
            outbound,
            app.get(CALL_PLACER),
        )
        app[JOB_WORKER] = worker
        app[sms_routes.JOBS_WAKE] = worker.wake
        running = asyncio.create_task(worker.run_until_stopped(), name="job-worker")
        app[WORKER_RUNNING] = running
        readiness = app.get(READINESS)
        if readiness is not None:
            readiness.watch("job worker", running)
        sweep: StatusSweep | None = None
        sweeping: asyncio.Task[None] | None = None
        if twilio_calls(settings) is not None:  # calls to look up only with a Twilio account
            sweep = StatusSweep(
                app[DATABASE],
                app[CLOCK],
                check_after=call_status_check_after(settings),
                queued=worker.wake,
            )
            app[STATUS_SWEEP] = sweep
            sweeping = asyncio.create_task(sweep.run_until_stopped(), name="call-status-sweep")
        try:
            yield
        finally:
            if sweep is not None and sweeping is not None:
                sweep.stop()
                await sweeping
            await worker.stop()  # lets the jobs in flight finish
            await running
            await outbound.close()

    return context
