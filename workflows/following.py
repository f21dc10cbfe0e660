"""Keeping a process's workflow catalog in step with the database, whichever process changed it.

The catalog caches the enabled workflows, the stored schedules and their manual overrides (read
on every turn). The functions that change them (:mod:`workflows.versions`,
:mod:`workflows.schedules.stored`, :mod:`workflows.schedules.overrides`, the file install in
:mod:`workflows.catalog`) announce the change in their own transaction
(:func:`ringflow.changes.announce`); :func:`follow_catalog` subscribes this process's catalog
to those announcements, so a workflow published through one instance answers the next call on
every instance. Reloads of one catalog take turns (``WorkflowCatalog.reloading``): a reload
that read the database before a change must not apply its read after the one that read it
after (an override set twice in a row was seen reverted to the first).
"""

from __future__ import annotations

from typing import Final

from ringflow.changes import OVERRIDES, SCHEDULES, WORKFLOWS, ChangeFeed, listen_dsn
from ringflow.database import Database
from workflows.catalog import WorkflowCatalog
from workflows.schedules.overrides import load_overrides
from workflows.schedules.stored import load_stored

__all__ = ["CATALOG_TOPICS", "follow_catalog", "reload_catalog", "reload_overrides"]

CATALOG_TOPICS: Final = (WORKFLOWS, SCHEDULES, OVERRIDES)
"""What the catalog caches."""


async def reload_catalog(db: Database, catalog: WorkflowCatalog) -> None:
    """Re-read the stored schedules, their overrides and the enabled workflows into ``catalog``."""
    async with catalog.reloading:
        catalog.use_stored_schedules(await db.read(load_stored))
        catalog.use_overrides(await db.read(load_overrides))
        await catalog.refresh()


async def reload_overrides(db: Database, catalog: WorkflowCatalog) -> None:
    """Re-read the schedules' manual overrides into ``catalog`` (after this process changed
    one: the change feed's reload comes later)."""
    async with catalog.reloading:
        catalog.use_overrides(await db.read(load_overrides))


def follow_catalog(db: Database, catalog: WorkflowCatalog, **options: float) -> ChangeFeed:
    """A started feed that reloads ``catalog`` whenever another process (or this one) changes
    what it caches; close it when done. ``options`` tune the feed (tests)."""
    feed = ChangeFeed(listen_dsn(db.url), **options)

    async def reload() -> None:
        await reload_catalog(db, catalog)

    for topic in CATALOG_TOPICS:
        feed.subscribe(topic, reload)
    feed.start()
    return feed
