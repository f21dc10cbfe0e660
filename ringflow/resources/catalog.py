"""The workflow catalog: the workflows and schedules that events are matched against, and the
feed that keeps it in step with changes made through other instances."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import web

import workflows.demo
from ringflow.changes import ChangeFeed
from ringflow.clock import Clock
from ringflow.database import Database
from ringflow.resources import Resource
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.settings import Settings
from workflows.catalog import WorkflowCatalog, compile_trigger
from workflows.following import follow_catalog
from workflows.loader import Workflow, from_folder
from workflows.problems import Problem, WorkflowInvalid
from workflows.schedules import ScheduleBook, load_schedule_folder
from workflows.schedules.overrides import load_overrides
from workflows.schedules.stored import load_stored

log = logging.getLogger("ringflow")

CATALOG = web.AppKey("catalog", WorkflowCatalog)
DEMO_FLOWS = Path(workflows.demo.__file__).resolve().parent


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


def check_references(flows: Sequence[Workflow], schedules: ScheduleBook) -> None:
    """Raise ``WorkflowInvalid`` for the first workflow naming a schedule that is not there."""
    for workflow in flows:
        compile_trigger(workflow, schedules.names)


async def open_catalog(db: Database, settings: Settings, clock: Clock) -> WorkflowCatalog:
    """The workflow catalog with the schedules and their stored overrides."""
    catalog = WorkflowCatalog(db, load_schedules(settings), clock=clock)
    catalog.use_stored_schedules(await db.read(load_stored))
    catalog.use_overrides(await db.read(load_overrides))
    return catalog


def catalog(install: Sequence[Workflow] | None) -> Resource:
    """``app[CATALOG]``; ``install``: the workflow files this process installs (the server),
    or None to read only what is stored (a worker)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        opened = await open_catalog(app[DATABASE], app[SETTINGS], app[CLOCK])
        if install is None:
            await opened.refresh()
        else:
            await opened.install_files(install)
        app[CATALOG] = opened
        yield

    return context


CHANGES = web.AppKey("changes", ChangeFeed)
"""The feed of changes made through any instance (LISTEN/NOTIFY; polling on SQLite)."""


async def catalog_refresh(app: web.Application) -> AsyncIterator[None]:
    """``app[CHANGES]``: keeps ``app[CATALOG]`` in step with what any instance changes
    (workflows, schedules, overrides), closed at the end."""
    feed = follow_catalog(app[DATABASE], app[CATALOG])
    app[CHANGES] = feed
    try:
        yield
    finally:
        await feed.close()
