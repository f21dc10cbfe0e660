"""Which workflows exist and which version of each is active, backed by the database.

Versions are immutable and identified by the digest of their definition; a run keeps the id of
the version it started on, so a workflow changed mid-call never changes that call. Workflows
from a ``--flows`` folder are installed at start with origin ``file``; a file that disappears
disables its workflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from ringflow.database import Database
from workflows.db import workflow_versions, workflows
from workflows.loader import Workflow, from_data


@dataclass(frozen=True, slots=True)
class ActiveWorkflow:
    """An enabled workflow and the version id runs should record."""

    version_id: int
    workflow: Workflow


class UnknownVersion(LookupError):
    """A run names a workflow version that is not in the database."""


def _version_id(conn: Connection, workflow: Workflow, now: datetime) -> int:
    query = select(workflow_versions.c.id).where(
        workflow_versions.c.workflow_id == workflow.id,
        workflow_versions.c.digest == workflow.digest,
    )
    found = conn.execute(query).scalar()
    if found is not None:
        return int(found)
    inserted = conn.execute(
        workflow_versions.insert()
        .values(
            workflow_id=workflow.id,
            digest=workflow.digest,
            definition=workflow.definition(),
            source=workflow.source,
            created_at=now,
        )
        .returning(workflow_versions.c.id)
    )
    return int(inserted.scalar_one())


def _install_files(conn: Connection, loaded: Sequence[Workflow]) -> list[int]:
    now = datetime.now(UTC)
    version_ids = []
    for workflow in loaded:
        version_id = _version_id(conn, workflow, now)
        version_ids.append(version_id)
        exists = conn.execute(select(workflows.c.id).where(workflows.c.id == workflow.id)).first()
        values = {"version_id": version_id, "enabled": True, "updated_at": now}
        if exists is None:
            conn.execute(workflows.insert().values(id=workflow.id, origin="file", **values))
        else:
            conn.execute(update(workflows).where(workflows.c.id == workflow.id).values(**values))
    conn.execute(
        update(workflows)
        .where(workflows.c.origin == "file")
        .where(workflows.c.id.not_in([w.id for w in loaded]))
        .values(enabled=False, updated_at=now)
    )
    return version_ids


def _enabled_version_ids(conn: Connection) -> list[int]:
    query = (
        select(workflows.c.version_id).where(workflows.c.enabled.is_(True)).order_by(workflows.c.id)
    )
    return [int(v) for v in conn.execute(query).scalars()]


class WorkflowCatalog:
    """Installs workflow versions and answers which workflow handles an event."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._versions: dict[int, Workflow] = {}
        self._active: list[ActiveWorkflow] = []

    @property
    def active(self) -> Sequence[ActiveWorkflow]:
        """The enabled workflows, as last loaded."""
        return tuple(self._active)

    async def install_files(self, loaded: Sequence[Workflow]) -> None:
        """Make ``loaded`` the active file workflows; disable file workflows no longer there."""
        version_ids = await self._db.write(lambda conn: _install_files(conn, loaded))
        # Just validated: no need to read these versions back and validate them again.
        self._versions.update(zip(version_ids, loaded, strict=True))
        await self.refresh()

    async def refresh(self) -> None:
        """Reload the enabled workflows from the database."""
        version_ids = await self._db.read(_enabled_version_ids)
        self._active = [ActiveWorkflow(v, await self.version(v)) for v in version_ids]

    async def version(self, version_id: int) -> Workflow:
        """The workflow version ``version_id`` (cached: versions never change)."""
        cached = self._versions.get(version_id)
        if cached is not None:
            return cached

        def fetch(conn: Connection) -> Any:
            query = select(workflow_versions.c.definition, workflow_versions.c.source)
            return conn.execute(query.where(workflow_versions.c.id == version_id)).first()

        row = await self._db.read(fetch)
        if row is None:
            raise UnknownVersion(f"workflow version {version_id} does not exist")
        workflow = from_data(row.definition, row.source)
        self._versions[version_id] = workflow
        return workflow

    def match(self, event: str, called: str | None = None) -> ActiveWorkflow | None:
        """The workflow an event starts: one naming the called number first, else a catch-all.

        Among equals the workflow id decides, so the choice is the same on every instance.
        """
        catch_all: ActiveWorkflow | None = None
        for active in self._active:
            trigger = active.workflow.spec.trigger
            if trigger.event != event:
                continue
            if trigger.to:
                if called in trigger.to:
                    return active
            elif catch_all is None:
                catch_all = active
        return catch_all
