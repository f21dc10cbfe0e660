"""Workflows made over the API: a draft per workflow, numbered immutable publications.

A workflow's definitions are rows of ``workflow_versions`` (immutable, one per digest). The
``workflows`` row points at the published one runs start on (``version_id``) and at the draft an
admin edits (``draft_version_id``). Publishing makes the draft the next numbered publication
(1, 2, 3...); rolling back to N publishes N's definition again as the next number, so the
history only grows. Workflows from files (origin ``file``) are managed by their files: the API
reads them but does not change them. Plain functions of a ``Connection``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from ringflow.changes import WORKFLOWS, announce
from ringflow.database import stored_time
from workflows.db import workflow_publications, workflow_versions, workflows
from workflows.loader import Workflow

API = "api"
FILE = "file"


class UnknownWorkflow(LookupError):
    """No workflow has this id."""


class UnknownPublication(LookupError):
    """The workflow has no publication with this number."""


class ManagedByFile(RuntimeError):
    """The workflow comes from a file in the flows folder: change the file instead."""


class NoDraft(RuntimeError):
    """There is no draft to publish."""


class NotAMenu(LookupError):
    """The workflow has no menu step of this name."""


@dataclass(frozen=True, slots=True)
class Publication:
    """One numbered publication."""

    number: int
    digest: str
    published_at: datetime
    note: str | None


@dataclass(frozen=True, slots=True)
class WorkflowState:
    """A workflow as the API shows it."""

    id: str
    origin: str
    enabled: bool
    name: str | None
    published: int | None
    """The number of the publication runs start on (None: never published)."""
    draft_digest: str | None
    publications: tuple[Publication, ...]
    updated_at: datetime
    event: str | None = None
    """The event the workflow starts on (its published version's, else its draft's)."""
    numbers: tuple[str, ...] = ()
    """The numbers its trigger names (none: any number)."""


def version_id(conn: Connection, workflow: Workflow, now: datetime) -> int:
    """The id of ``workflow``'s definition, stored if new (definitions are shared by digest)."""
    found = conn.execute(
        select(workflow_versions.c.id).where(
            workflow_versions.c.workflow_id == workflow.id,
            workflow_versions.c.digest == workflow.digest,
        )
    ).scalar()
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


def _row(conn: Connection, workflow_id: str) -> Any:
    row = conn.execute(select(workflows).where(workflows.c.id == workflow_id)).first()
    if row is None:
        raise UnknownWorkflow(workflow_id)
    return row


def _api_row(conn: Connection, workflow_id: str) -> Any:
    row = _row(conn, workflow_id)
    if row.origin == FILE:
        raise ManagedByFile(
            f"workflow {workflow_id!r} comes from a file in the flows folder: change the file"
        )
    return row


def record_publication(
    conn: Connection, workflow_id: str, version: int, now: datetime, note: str | None = None
) -> int:
    """Add the next numbered publication of ``version``; its number."""
    last = conn.execute(
        select(func.max(workflow_publications.c.number)).where(
            workflow_publications.c.workflow_id == workflow_id
        )
    ).scalar()
    number = int(last or 0) + 1
    conn.execute(
        workflow_publications.insert().values(
            workflow_id=workflow_id,
            number=number,
            version_id=version,
            published_at=now,
            note=note,
        )
    )
    return number


def save_draft(conn: Connection, workflow: Workflow, now: datetime) -> None:
    """Make ``workflow`` the draft of its id (a new API workflow if the id is new)."""
    draft = version_id(conn, workflow, now)
    exists = conn.execute(select(workflows.c.origin).where(workflows.c.id == workflow.id)).first()
    if exists is None:
        conn.execute(
            workflows.insert().values(
                id=workflow.id,
                origin=API,
                version_id=None,
                draft_version_id=draft,
                enabled=True,
                updated_at=now,
            )
        )
        return
    _api_row(conn, workflow.id)
    conn.execute(
        update(workflows)
        .where(workflows.c.id == workflow.id)
        .values(draft_version_id=draft, updated_at=now)
    )


def publish(conn: Connection, workflow_id: str, now: datetime) -> int:
    """Publish the draft as the next number; runs start on it from now on."""
    row = _api_row(conn, workflow_id)
    if row.draft_version_id is None:
        raise NoDraft(f"workflow {workflow_id!r} has no draft to publish")
    number = record_publication(conn, workflow_id, row.draft_version_id, now)
    conn.execute(
        update(workflows)
        .where(workflows.c.id == workflow_id)
        .values(version_id=row.draft_version_id, draft_version_id=None, updated_at=now)
    )
    announce(conn, WORKFLOWS)
    return number


def save_workflow(
    conn: Connection, workflow: Workflow, now: datetime, *, publish_now: bool
) -> None:
    """Make ``workflow`` the draft of its id and, when ``publish_now``, publish it at once
    (in the caller's transaction: both or neither)."""
    save_draft(conn, workflow, now)
    if publish_now:
        publish(conn, workflow.id, now)


def roll_back(conn: Connection, workflow_id: str, number: int, now: datetime) -> int:
    """Publish publication ``number``'s definition again, as the next number."""
    _api_row(conn, workflow_id)
    version = conn.execute(
        select(workflow_publications.c.version_id).where(
            workflow_publications.c.workflow_id == workflow_id,
            workflow_publications.c.number == number,
        )
    ).scalar()
    if version is None:
        raise UnknownPublication(f"workflow {workflow_id!r} has no version {number}")
    new_number = record_publication(
        conn, workflow_id, int(version), now, note=f"rolled back to {number}"
    )
    conn.execute(
        update(workflows)
        .where(workflows.c.id == workflow_id)
        .values(version_id=int(version), updated_at=now)
    )
    announce(conn, WORKFLOWS)
    return new_number


def set_enabled(conn: Connection, workflow_id: str, enabled: bool, now: datetime) -> None:
    """Let the workflow start runs, or stop it (runs in progress go on)."""
    _api_row(conn, workflow_id)
    conn.execute(
        update(workflows)
        .where(workflows.c.id == workflow_id)
        .values(enabled=enabled, updated_at=now)
    )
    announce(conn, WORKFLOWS)


def remove(conn: Connection, workflow_id: str) -> None:
    """Delete an API workflow and its publications; its definitions stay for the runs that
    use them and for the call log."""
    _api_row(conn, workflow_id)
    conn.execute(
        delete(workflow_publications).where(workflow_publications.c.workflow_id == workflow_id)
    )
    conn.execute(delete(workflows).where(workflows.c.id == workflow_id))
    announce(conn, WORKFLOWS)


def definition_of(conn: Connection, workflow_id: str, which: str | int) -> dict[str, Any]:
    """A definition: ``"draft"``, ``"published"`` (the one runs start on), or a number."""
    version = stored_version_id(conn, workflow_id, which)
    found = conn.execute(
        select(workflow_versions.c.definition).where(workflow_versions.c.id == version)
    ).scalar_one()
    return dict(found)


def stored_version_id(conn: Connection, workflow_id: str, which: str | int) -> int:
    """The stored version id of ``"draft"``, ``"published"`` or publication number ``which``
    (raises :class:`UnknownWorkflow`, :class:`NoDraft` or :class:`UnknownPublication`)."""
    row = _row(conn, workflow_id)
    if which == "draft":
        version = row.draft_version_id
        if version is None:
            raise NoDraft(f"workflow {workflow_id!r} has no draft")
    elif which == "published":
        version = row.version_id
        if version is None:
            raise UnknownPublication(f"workflow {workflow_id!r} was never published")
    else:
        version = conn.execute(
            select(workflow_publications.c.version_id).where(
                workflow_publications.c.workflow_id == workflow_id,
                workflow_publications.c.number == which,
            )
        ).scalar()
        if version is None:
            raise UnknownPublication(f"workflow {workflow_id!r} has no version {which}")
    return int(version)


def with_menu_options(
    conn: Connection, workflow_id: str, step: str, options: dict[str, Any]
) -> dict[str, Any]:
    """The definition of the workflow's draft (else of its published version) with the menu
    step ``step`` offering ``options`` instead: what to validate and save as the new draft.
    Raises :class:`UnknownWorkflow`, :class:`NotAMenu`, or :class:`UnknownPublication` for a
    workflow with neither a draft nor a publication."""
    which = "draft" if state_of(conn, workflow_id).draft_digest is not None else "published"
    definition = definition_of(conn, workflow_id, which)
    found = definition.get("steps", {}).get(step)
    if not isinstance(found, dict) or "menu" not in found:
        raise NotAMenu(f"menu step {step!r} in workflow {workflow_id!r}")
    menu = found["menu"] if isinstance(found["menu"], dict) else {}
    found["menu"] = {**menu, "options": options}
    return definition


def state_of(conn: Connection, workflow_id: str) -> WorkflowState:
    """The workflow ``workflow_id`` as the API shows it."""
    states = _states(conn, workflows.c.id == workflow_id)
    if not states:
        raise UnknownWorkflow(workflow_id)
    return states[0]


def all_states(conn: Connection) -> list[WorkflowState]:
    """Every workflow, by id."""
    return _states(conn, None)


def _states(conn: Connection, where: Any) -> list[WorkflowState]:
    query = select(workflows).order_by(workflows.c.id)
    if where is not None:
        query = query.where(where)
    rows = conn.execute(query).all()
    ids = [row.id for row in rows]
    publications: dict[str, list[tuple[Publication, int]]] = {i: [] for i in ids}
    versions = {
        row.id: row
        for row in conn.execute(
            select(
                workflow_versions.c.id, workflow_versions.c.digest, workflow_versions.c.definition
            ).where(workflow_versions.c.workflow_id.in_(ids))
        )
    }
    for pub in conn.execute(
        select(workflow_publications)
        .where(workflow_publications.c.workflow_id.in_(ids))
        .order_by(workflow_publications.c.number)
    ):
        digest = versions[pub.version_id].digest if pub.version_id in versions else ""
        publications[pub.workflow_id].append(
            (
                Publication(pub.number, digest, stored_time(pub.published_at), pub.note),
                pub.version_id,
            )
        )
    states = []
    for row in rows:
        published = None
        for publication, version in publications[row.id]:
            if version == row.version_id:
                published = publication.number  # the latest number of the active definition
        active = versions.get(row.version_id) or versions.get(row.draft_version_id)
        name = active.definition.get("name") if active is not None else None
        trigger = active.definition.get("trigger", {}) if active is not None else {}
        draft = versions.get(row.draft_version_id)
        states.append(
            WorkflowState(
                id=row.id,
                origin=row.origin,
                enabled=bool(row.enabled),
                name=name,
                published=published,
                draft_digest=None if draft is None else draft.digest,
                publications=tuple(p for p, _ in publications[row.id]),
                updated_at=stored_time(row.updated_at),
                event=trigger.get("event"),
                numbers=tuple(trigger.get("to") or ()),
            )
        )
    return states


def published_using(conn: Connection, needle: str) -> list[str]:
    """The workflows whose published version mentions ``needle`` (a prompt's id), by id."""
    rows = conn.execute(
        select(workflows.c.id, workflow_versions.c.definition)
        .select_from(
            workflows.join(workflow_versions, workflows.c.version_id == workflow_versions.c.id)
        )
        .order_by(workflows.c.id)
    ).all()
    return [row.id for row in rows if needle in json.dumps(row.definition)]
