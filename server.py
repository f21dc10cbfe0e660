"""Ringflow's composition root: ``create_app()`` for ``ringflow serve``, ``worker_app()`` for
``ringflow worker``, and the ``ringflow`` command's entry point.

This is the only module that decides which resources a process holds and which routes it
serves. Each resource is one cleanup context (:mod:`ringflow.resources`), appended in order
and closed in reverse; the serving and the worker process share the same ones. To add a
resource, write its generator in ``ringflow/resources/`` and append it below; to add
webhook routes, add the package's ``routes()`` to ``ROUTES``; to add an admin API area, see
:mod:`ringflow.admin.areas`; to add a command, see :mod:`ringflow.cli.main`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web

from chat import routes as chat_routes
from ivr import callbacks as callback_routes
from ivr import routes as voice_routes
from prompts import routes as prompt_routes
from prompts.service import Synthesizer
from ringflow.admin.app import API_APP, GATEKEEPER, api_application
from ringflow.admin.areas import admin_api
from ringflow.clock import Clock, system_clock
from ringflow.console import routes as console_routes
from ringflow.health import READINESS, Readiness, health_routes
from ringflow.inbox import routes as inbox_routes
from ringflow.metrics import METRICS, Metrics
from ringflow.metrics_http import METRICS_ACCESS, MetricsAccess, metrics_listening, metrics_routes
from ringflow.migrate import head_revision, known_revisions
from ringflow.resources import Resource
from ringflow.resources.admin import admin
from ringflow.resources.callbacks import callbacks
from ringflow.resources.catalog import CATALOG, catalog, catalog_refresh, load_flows
from ringflow.resources.chat import chat
from ringflow.resources.database import DATABASE, database
from ringflow.resources.inbox import browser_sessions, inbox_live
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.resources.jobs import JOB_WORKER, jobs
from ringflow.resources.observed import observed_database
from ringflow.resources.pbx import pbx
from ringflow.resources.sessions import sessions
from ringflow.resources.sms import SMS_PROVIDER, sms
from ringflow.resources.speech import prompts_and_speech
from ringflow.resources.voice import voice
from ringflow.runtime import tune_garbage_collector
from ringflow.settings import Settings
from ringflow.twilio_webhooks import TWILIO_WEBHOOKS, SignatureChecker, WebhookConfig
from ringflow.webhook_guard import webhook_guard
from sms import routes as sms_routes
from workflows.loader import Workflow

__all__ = [
    "API_APP",
    "CATALOG",
    "DATABASE",
    "JOB_WORKER",
    "SETTINGS",
    "SMS_PROVIDER",
    "create_app",
    "load_flows",
    "main",
    "worker_app",
]

MAX_REQUEST_BYTES = 64 * 1024
"""Twilio's webhook forms are a few kilobytes; the admin API has its own limits."""
ROUTES: tuple[Callable[[], list[web.AbstractRouteDef]], ...] = (
    voice_routes.routes,
    callback_routes.routes,
    sms_routes.routes,
    prompt_routes.routes,
    chat_routes.routes,
    inbox_routes.routes,
    console_routes.routes,
)
"""The webhook and media routes each package owns, served from ``/``."""


def _hold(
    app: web.Application, settings: Settings, clock: Clock, resources: Sequence[Resource]
) -> web.Application:
    """``app`` with its inputs, its metrics and its resources, opened in this order at start
    (the separate metrics listener, when configured, last)."""
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[METRICS] = Metrics(clock)
    app.cleanup_ctx.extend(resources)
    app.cleanup_ctx.append(metrics_listening(settings.metrics_address))
    return app


def create_app(
    settings: Settings,
    flows: Sequence[Workflow] | None = None,
    *,
    serving: bool = False,
    clock: Clock = system_clock,
    speech: Synthesizer | None = None,
) -> web.Application:
    """The server. ``flows`` defaults to the files ``settings`` point at; ``serving`` tunes
    the process for a long-running server (``ringflow serve``); ``clock`` is what "now" means
    to business hours, quiet hours and jobs (tests move it); ``speech`` is the server's voice
    (default: espeak-ng worker processes, started when first needed; one given here is the
    caller's to close)."""
    to_install = list(flows) if flows is not None else load_flows(settings)
    resources: list[Resource] = [
        database,
        observed_database,
        catalog(install=to_install),
        catalog_refresh,
        prompts_and_speech(speech),
        sms,
        sessions,
        callbacks,
        jobs(),
        voice,
        chat,
        pbx,
        browser_sessions,
        admin,
        inbox_live,
    ]
    app = web.Application(
        client_max_size=MAX_REQUEST_BYTES,
        middlewares=[webhook_guard(settings.webhook_body_seconds)],
    )
    _hold(app, settings, clock, resources)
    app[READINESS] = Readiness(head_revision(), known_revisions())
    app.on_shutdown.append(inbox_routes.close_streams)
    token = settings.auth_token
    app[TWILIO_WEBHOOKS] = WebhookConfig(
        checker=(
            SignatureChecker(token, settings.public_url, app[METRICS].signature_rejected)
            if token
            else None
        ),
        public_url=settings.public_url,
        deadline=settings.voice_deadline_seconds,
        status_deadline=settings.status_deadline_seconds,
    )
    app.router.add_routes(health_routes())
    app.router.add_routes(metrics_routes())
    for routes in ROUTES:
        app.router.add_routes(routes())
    # Uploads stream to disk with their own limit (413); this is only the outer bound.
    api_app = api_application(admin_api(), client_max_size=settings.prompt_max_bytes + 1024**2)
    app.add_subapp("/api", api_app)
    app[API_APP] = api_app
    app[METRICS_ACCESS] = MetricsAccess(settings.metrics_api_token, lambda: api_app.get(GATEKEEPER))
    if serving:
        tune_garbage_collector()
    return app


def worker_app(settings: Settings, *, clock: Clock = system_clock) -> web.Application:
    """The ``ringflow worker`` process: no routes, only the resources the job worker needs
    (the same as the server's), its worker running whatever ``RINGFLOW_WORKER`` says."""
    resources: list[Resource] = [database, observed_database, catalog(install=None)]
    resources += [catalog_refresh, sms, sessions, callbacks, jobs(always=True)]
    return _hold(web.Application(), settings, clock, resources)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ringflow`` command (:mod:`ringflow.cli`)."""
    from ringflow.cli.main import main as run  # the commands import this module

    return run(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
