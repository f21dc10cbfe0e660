"""Which workflows exist and which version of each is active, backed by the database.

Versions are immutable and identified by the digest of their definition; a run keeps the id of
the version it started on, so a workflow changed mid-call never changes that call. Workflows
from a ``--flows`` folder are installed at start with origin ``file``; a file that disappears
disables its workflow.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from ringflow.changes import WORKFLOWS, announce
from ringflow.clock import Clock
from ringflow.database import Database
from workflows.conditions import Check, FilterContext, FilterInvalid, compile_filter
from workflows.db import workflow_versions, workflows
from workflows.loader import Workflow, from_data
from workflows.problems import Problem, WorkflowInvalid
from workflows.references import prompt_references
from workflows.schedules import ManualOverride, Schedule, ScheduleBook
from workflows.spec import Trigger
from workflows.steps.branch import BranchParams
from workflows.steps.say import SayParams
from workflows.versions import record_publication
from workflows.versions import version_id as stored_version_id

log = logging.getLogger(__name__)


_READS_CONTACT = re.compile(r'"contact"\s*:|\bcontact\.')


@dataclass(frozen=True, slots=True)
class ActiveWorkflow:
    """An enabled workflow, the version id runs should record, and its compiled filter."""

    version_id: int
    workflow: Workflow
    check: Check | None = None

    @property
    def trigger(self) -> Trigger:
        """The workflow's trigger."""
        return self.workflow.spec.trigger

    def accepts(self, ctx: FilterContext | None) -> bool:
        """Whether the trigger's ``when`` lets the event (described by ``ctx``) start a run."""
        return self.check is None or (ctx is not None and self.check(ctx))


def reads_contact(workflow: Workflow) -> bool:
    """Whether a workflow looks at its contact (a ``contact`` filter, ``contact.*`` values),
    so that the channel reads the contact before running it."""
    return bool(_READS_CONTACT.search(json.dumps(workflow.definition())))


def uses_media(workflow: Workflow) -> bool:
    """Whether ``workflow`` plays a prompt (``pr_...``) or has the server speak a ``say``
    (``render: server``), read from its parsed steps."""
    for step in workflow.spec.steps.values():
        params = step.params
        if isinstance(params, SayParams) and params.render == "server":
            return True
        if next(prompt_references(params.model_dump(mode="json", by_alias=True)), None):
            return True
    return False


def compile_trigger(workflow: Workflow, schedule_names: Collection[str]) -> Check | None:
    """The workflow's ``when`` compiled, its schedules (and ``hours``, and those its
    ``branch`` filters name) checked by name.

    Raises ``WorkflowInvalid`` naming each unknown schedule with its path.
    """
    spec = workflow.spec
    problems = []
    if spec.hours is not None and spec.hours not in schedule_names:
        problems.append(Problem(("hours",), f"unknown schedule {spec.hours!r}"))
    check = None
    if spec.trigger.when is not None:
        try:
            check = compile_filter(spec.trigger.when, schedule_names, path=("trigger", "when"))
        except FilterInvalid as error:
            problems.extend(error.problems)
    for name, step in spec.steps.items():
        params = step.params
        choices = params.choices if isinstance(params, BranchParams) else ()
        for index, choice in enumerate(choices):
            path = ("steps", name, "branch", "choices", index, "when")
            try:
                compile_filter(choice.when, schedule_names, path=path)
            except FilterInvalid as error:
                problems.extend(error.problems)
    if problems:
        raise WorkflowInvalid(workflow.source, problems)
    return check


class UnknownVersion(LookupError):
    """A run names a workflow version that is not in the database."""


def _install_files(conn: Connection, loaded: Sequence[Workflow], now: datetime) -> list[int]:
    """Make each file's definition the published version of its id (a new numbered
    publication when it changed). Files win: an API workflow with a file's id becomes that
    file's (logged by the caller)."""
    version_ids = []
    for workflow in loaded:
        version = stored_version_id(conn, workflow, now)
        version_ids.append(version)
        row = conn.execute(
            select(workflows.c.version_id, workflows.c.origin).where(workflows.c.id == workflow.id)
        ).first()
        values = {"version_id": version, "enabled": True, "updated_at": now, "origin": "file"}
        if row is None:
            conn.execute(workflows.insert().values(id=workflow.id, **values))
        else:
            if row.origin != "file":
                log.warning(
                    "workflow %s: the file in the flows folder replaces the API's", workflow.id
                )
            conn.execute(update(workflows).where(workflows.c.id == workflow.id).values(**values))
        if row is None or row.version_id != version:
            record_publication(conn, workflow.id, version, now, note="from its file")
    conn.execute(
        update(workflows)
        .where(workflows.c.origin == "file")
        .where(workflows.c.id.not_in([w.id for w in loaded]))
        .values(enabled=False, updated_at=now)
    )
    announce(conn, WORKFLOWS)
    return version_ids


def _enabled_version_ids(conn: Connection) -> list[int]:
    query = (
        select(workflows.c.version_id)
        .where(workflows.c.enabled.is_(True), workflows.c.version_id.is_not(None))
        .order_by(workflows.c.id)
    )
    return [int(v) for v in conn.execute(query).scalars()]


class WorkflowCatalog:
    """Installs workflow versions and answers which workflow handles an event."""

    def __init__(
        self, db: Database, schedules: ScheduleBook | None = None, *, clock: Clock
    ) -> None:
        self._db = db
        self._clock = clock
        self._schedules = schedules or ScheduleBook({})
        self._file_schedules: dict[str, Schedule] = {
            name: schedule
            for name in self._schedules.names
            if (schedule := self._schedules.get(name)) is not None
        }
        self._versions: dict[int, Workflow] = {}
        self._active: list[ActiveWorkflow] = []
        self._reads_contact: dict[str, bool] = {}
        self._loaded: tuple[tuple[int, ...], frozenset[str]] | None = None
        """What the active list was made from: skip the work when that is unchanged."""
        self._uses_media: dict[str, bool] = {}
        self._candidates: dict[tuple[str, str | None], list[ActiveWorkflow]] = {}
        self._listeners: list[Callable[[Sequence[ActiveWorkflow]], None]] = []
        self.reloading = asyncio.Lock()
        """Held while what the catalog caches is read from the database and applied
        (:mod:`workflows.following`): two reloads at once could apply the older read last."""
        self._refreshing = asyncio.Lock()
        """Held by :meth:`refresh` from its read to its apply, for the same reason: the admin
        API refreshes after its own change while the change feed may be reloading."""

    @property
    def active(self) -> Sequence[ActiveWorkflow]:
        """The enabled workflows, as last loaded."""
        return tuple(self._active)

    @property
    def schedules(self) -> ScheduleBook:
        """The named schedules (business hours) workflows and filters refer to."""
        return self._schedules

    @property
    def file_schedule_names(self) -> frozenset[str]:
        """The schedules that come from files (the API cannot change these)."""
        return frozenset(self._file_schedules)

    def use_overrides(self, overrides: Mapping[str, ManualOverride]) -> None:
        """Apply the manual overrides (open now / closed now) as last read."""
        self._schedules = self._schedules.with_overrides(overrides)

    def use_stored_schedules(self, stored: Mapping[str, Schedule]) -> None:
        """The schedules made over the API, as last read, beside the files' (a file's wins).
        Call :meth:`refresh` afterwards so that triggers are compiled against them."""
        combined = {**stored, **self._file_schedules}
        self._schedules = ScheduleBook(combined, self._schedules.overrides)

    def on_change(self, listener: Callable[[Sequence[ActiveWorkflow]], None]) -> None:
        """Call ``listener`` with the enabled workflows each time they change (files
        installed, a workflow published, enabled or rolled back, here or on another instance
        as :meth:`refresh` sees it). It must return quickly: it runs inside ``refresh``."""
        self._listeners.append(listener)

    def reads_contact(self, active: ActiveWorkflow) -> bool:
        """Whether ``active`` looks at its contact (see :func:`reads_contact`; cached by
        digest)."""
        known = self._reads_contact.get(active.workflow.digest)
        if known is None:
            known = self._reads_contact[active.workflow.digest] = reads_contact(active.workflow)
        return known

    def uses_media(self, workflow: Workflow) -> bool:
        """Whether ``workflow`` plays prompts (``pr_...``) or has the server speak a ``say``:
        the voice channel then resolves audio URLs for its turns (cached by digest)."""
        known = self._uses_media.get(workflow.digest)
        if known is None:
            known = uses_media(workflow)
            self._uses_media[workflow.digest] = known
        return known

    async def install_files(self, loaded: Sequence[Workflow]) -> None:
        """Make ``loaded`` the active file workflows; disable file workflows no longer there.

        Raises ``WorkflowInvalid`` before installing anything when one names a schedule that
        does not exist.
        """
        for workflow in loaded:
            compile_trigger(workflow, self._schedules.names)
        now = self._clock()
        version_ids = await self._db.write(lambda conn: _install_files(conn, loaded, now))
        # Just validated: no need to read these versions back and validate them again.
        self._versions.update(zip(version_ids, loaded, strict=True))
        await self.refresh()

    async def refresh(self) -> None:
        """Reload the enabled workflows from the database; nothing is recompiled when neither
        they nor the schedules' names changed (instances call this every few seconds).
        Refreshes take turns, so the last to read is the last to apply."""
        async with self._refreshing:
            await self._refresh()

    async def _refresh(self) -> None:
        version_ids = await self._db.read(_enabled_version_ids)
        loaded = (tuple(version_ids), self._schedules.names)
        if loaded == self._loaded:
            return
        active = []
        for version_id in version_ids:
            workflow = await self.version(version_id)
            try:
                check = compile_trigger(workflow, self._schedules.names)
            except WorkflowInvalid as error:
                # Enabled earlier, but a schedule it names is gone: it cannot start runs.
                log.error("workflow %s disabled for now: %s", workflow.id, error)
                continue
            active.append(ActiveWorkflow(version_id, workflow, check))
        self._active = active
        self._candidates = {}  # after the list: see candidates()
        self._loaded = loaded
        for listener in self._listeners:
            try:
                listener(tuple(active))
            except Exception:
                log.exception("a listener to workflow changes failed")

    async def version(self, version_id: int) -> Workflow:
        """The workflow version ``version_id`` (cached: versions never change)."""
        cached = self._versions.get(version_id)
        if cached is not None:
            return cached
        return await self._db.read(lambda conn: self.version_in(conn, version_id))

    def version_in(self, conn: Connection, version_id: int) -> Workflow:
        """:meth:`version`, read with ``conn`` (for work inside a transaction)."""
        cached = self._versions.get(version_id)
        if cached is not None:
            return cached
        query = select(workflow_versions.c.definition, workflow_versions.c.source)
        row = conn.execute(query.where(workflow_versions.c.id == version_id)).first()
        if row is None:
            raise UnknownVersion(f"workflow version {version_id} does not exist")
        workflow = from_data(row.definition, row.source)
        self._versions[version_id] = workflow
        return workflow

    def candidates(self, event: str, called: str | None = None) -> list[ActiveWorkflow]:
        """The workflows ``event`` may start, in the order they are tried: those naming the
        called number first, then the catch-alls; among equals by workflow id, so the choice
        is the same on every instance."""
        # Post-call starts run on SQLite's writer thread while the loop may refresh: take the
        # cache before the active list. refresh() replaces the list first and the cache last,
        # so candidates found in an old list can only be kept in the old, discarded cache.
        cache = self._candidates
        cached = cache.get((event, called))
        if cached is not None:
            return cached
        found = self._find_candidates(event, called)
        if len(cache) < 10_000:  # one entry per event and number called
            cache[(event, called)] = found
        return found

    def listening(self, event: str) -> list[ActiveWorkflow]:
        """Every active workflow whose trigger is ``event``, whatever numbers it names, by
        workflow id."""
        found = [active for active in self._active if active.trigger.event == event]
        return sorted(found, key=lambda active: active.workflow.id)

    def _find_candidates(self, event: str, called: str | None) -> list[ActiveWorkflow]:
        named: list[ActiveWorkflow] = []
        catch_all: list[ActiveWorkflow] = []
        for active in self._active:
            trigger = active.trigger
            if trigger.event != event:
                continue
            if not trigger.to:
                catch_all.append(active)
            elif called in trigger.to:
                named.append(active)
        return named + catch_all

    def match(
        self, event: str, called: str | None = None, ctx: FilterContext | None = None
    ) -> ActiveWorkflow | None:
        """The one workflow an event starts: the first candidate whose ``when`` accepts
        ``ctx`` (a workflow with a ``when`` never matches without a context)."""
        for active in self.candidates(event, called):
            if active.accepts(ctx):
                return active
        return None


def workflows_needing(
    active: Sequence[ActiveWorkflow], schedule: str, schedules: Collection[str]
) -> list[str]:
    """The ids of the ``active`` workflows that could not run without ``schedule``, out of
    the known ``schedules``: those a schedule may not be removed from under."""
    others = set(schedules) - {schedule}
    needing = []
    for each in active:
        try:
            compile_trigger(each.workflow, others)
        except WorkflowInvalid:
            needing.append(each.workflow.id)
    return needing
