"""Admin API for business hours: every named schedule open or closed now, until when, its next
opening; schedules made, replaced and deleted over the API; the admins' "open now" / "closed
now" overrides.

Schedules come from files (the ``schedules`` folder beside the workflow files, see
``docs/schedules.md``) or from this API (stored, :mod:`workflows.schedules.stored`). A file's
schedule wins and cannot be changed here (409). A schedule an enabled workflow names cannot
be deleted (409). Changes and overrides are stored (every instance picks them up at once on
PostgreSQL through LISTEN/NOTIFY, within seconds on SQLite, see :mod:`workflows.following`)
and applied to this instance's catalog at once; an
override holds until the schedule's next natural boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ringflow.admin.auth import TOKEN_OWNER
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import ApiProblem, FieldError, conflict, not_found
from ringflow.database import Database
from workflows.catalog import WorkflowCatalog, workflows_needing
from workflows.following import reload_catalog, reload_overrides
from workflows.schedules.book import ScheduleBook
from workflows.schedules.files import NAME_RULE, SCHEDULE_NAME
from workflows.schedules.overrides import clear_override, set_override
from workflows.schedules.report import describe_status
from workflows.schedules.spec import ScheduleSpec
from workflows.schedules.stored import delete_schedule, save_schedule


@dataclass(frozen=True)
class ScheduleAdmin:
    """What the schedule endpoints need: the database, the catalog, the time."""

    db: Database
    catalog: WorkflowCatalog
    clock: Callable[[], datetime]


SCHEDULE_ADMIN = web.AppKey("schedule_admin", ScheduleAdmin)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OverrideOut(Out):
    open: bool = Field(description="true: open now; false: closed now")
    set_at: datetime


class ScheduleOut(Out):
    name: str
    origin: Literal["file", "api"] = Field(description="a file in the flows folder, or this API")
    definition: dict[str, Any] = Field(description="the schedule as written (its format)")
    timezone: str
    open: bool = Field(description="open now, override applied")
    until: datetime | None = Field(
        description="when that changes (the schedule's time zone); null: not within a year"
    )
    next_open: datetime | None = Field(
        description="now if open, else the next opening; null: not within a year"
    )
    overridden: bool = Field(description="whether an override decides it now")
    override: OverrideOut | None = Field(
        description="the stored override, if any (it stops applying at the next boundary)"
    )
    summary: str = Field(description="the same in words")

    @classmethod
    def of(
        cls, book: ScheduleBook, name: str, now: datetime, files: frozenset[str] = frozenset()
    ) -> ScheduleOut:
        schedule = book.get(name)
        status = book.status(name, now)
        assert schedule is not None
        assert status is not None
        stored = book.overrides.get(name)
        override = None if stored is None else OverrideOut(open=stored.open, set_at=stored.set_at)
        return cls(
            name=name,
            origin="file" if name in files else "api",
            definition=schedule.spec.model_dump(mode="json"),
            timezone=schedule.spec.timezone,
            open=status.open,
            until=status.until,
            next_open=status.next_open,
            overridden=status.overridden,
            override=override,
            summary=describe_status(book, name, now),
        )


class OverrideIn(BaseModel):
    """Open now (``true``) or closed now (``false``), until the schedule's next boundary."""

    model_config = ConfigDict(extra="forbid")
    open: StrictBool


def _admin(request: web.Request) -> ScheduleAdmin:
    return request.config_dict[SCHEDULE_ADMIN]


def _known(admin: ScheduleAdmin, request: web.Request) -> str:
    name = request.match_info["name"]
    if name not in admin.catalog.schedules.names:
        raise not_found(f"schedule {name[:64]!r}")
    return name


def _out(admin: ScheduleAdmin, name: str, now: datetime) -> ScheduleOut:
    catalog = admin.catalog
    return ScheduleOut.of(catalog.schedules, name, now, catalog.file_schedule_names)


def _now(admin: ScheduleAdmin) -> datetime:
    return admin.clock().astimezone(UTC)


async def _reload_overrides(admin: ScheduleAdmin) -> None:
    """Apply the stored overrides to this instance's catalog now."""
    await reload_overrides(admin.db, admin.catalog)


# --- handlers --------------------------------------------------------------------------


async def list_schedules(request: web.Request) -> web.Response:
    admin = _admin(request)
    book = admin.catalog.schedules
    now = _now(admin)
    return json_answer(
        [
            ScheduleOut.of(book, name, now, admin.catalog.file_schedule_names)
            for name in sorted(book.names)
        ]
    )


async def get_schedule(request: web.Request) -> web.Response:
    admin = _admin(request)
    name = _known(admin, request)
    return json_answer(
        ScheduleOut.of(
            admin.catalog.schedules, name, _now(admin), admin.catalog.file_schedule_names
        )
    )


async def put_override(request: web.Request) -> web.Response:
    admin = _admin(request)
    name = _known(admin, request)
    body = await json_body(request, OverrideIn)
    now = _now(admin)
    by = request.get(TOKEN_OWNER)
    await admin.db.write(lambda conn: set_override(conn, name, body.open, now, by))
    await _reload_overrides(admin)
    return json_answer(_out(admin, name, now))


async def delete_override(request: web.Request) -> web.Response:
    admin = _admin(request)
    name = _known(admin, request)
    had = await admin.db.write(lambda conn: clear_override(conn, name))
    await _reload_overrides(admin)
    if not had:
        raise not_found(f"an override of schedule {name!r}")
    return json_answer(
        ScheduleOut.of(
            admin.catalog.schedules, name, _now(admin), admin.catalog.file_schedule_names
        )
    )


async def _reload_schedules(admin: ScheduleAdmin) -> None:
    """Apply the stored schedules to this instance's catalog now (triggers recompiled)."""
    await reload_catalog(admin.db, admin.catalog)


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not SCHEDULE_NAME.fullmatch(name):
        raise ApiProblem(
            422, f"bad schedule name: {NAME_RULE}", [FieldError("path.name", NAME_RULE)]
        )
    return name


async def put_schedule(request: web.Request) -> web.Response:
    admin = _admin(request)
    name = _name(request)
    if name in admin.catalog.file_schedule_names:
        raise conflict(f"schedule {name!r} comes from a file in the flows folder: change the file")
    spec = await json_body(request, ScheduleSpec)
    now = _now(admin)
    created = await admin.db.write(lambda conn: save_schedule(conn, name, spec, now))
    await _reload_schedules(admin)
    out = _out(admin, name, now)
    return json_answer(out, status=201 if created else 200)


async def delete_schedule_endpoint(request: web.Request) -> web.Response:
    admin = _admin(request)
    name = _known(admin, request)
    if name in admin.catalog.file_schedule_names:
        raise conflict(f"schedule {name!r} comes from a file in the flows folder: remove the file")
    users = workflows_needing(admin.catalog.active, name, admin.catalog.schedules.names)
    if users:
        raise conflict(f"schedule {name!r} is used by enabled workflows: {', '.join(users)}")
    await admin.db.write(lambda conn: delete_schedule(conn, name))  # and its override
    await _reload_schedules(admin)
    return web.Response(status=204)


# --- the endpoints ---------------------------------------------------------------------

_FILES = (
    "Schedules come from files (the schedules folder beside the workflow files), which this"
    " API reads but does not change, or from this API (PUT /schedules/{name})."
)


def endpoints() -> list[Endpoint]:
    """The schedule endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "schedules"
    one = "/schedules/{name}"
    return [
        Endpoint(
            "GET",
            "/schedules",
            list_schedules,
            "Every schedule: open now or not, until when, next opening, overridden",
            tag,
            answer=list[ScheduleOut],
            description=_FILES,
        ),
        Endpoint(
            "GET",
            one,
            get_schedule,
            "A schedule: open now or not, until when, next opening, overridden",
            tag,
            answer=ScheduleOut,
            errors=(404,),
            description=_FILES,
        ),
        Endpoint(
            "PUT",
            one,
            put_schedule,
            "Create or replace a schedule (its format: timezone, weekly, holidays, dates,"
            " quiet_hours)",
            tag,
            body=Body(model=ScheduleSpec, description="A schedule (docs/schedules.md)."),
            answer=ScheduleOut,
            also=(201,),
            errors=(400, 409, 422),
            description="201 when created, 200 when replaced; 409 for a file's schedule.",
        ),
        Endpoint(
            "DELETE",
            one,
            delete_schedule_endpoint,
            "Delete a schedule made over the API",
            tag,
            status=204,
            errors=(404, 409),
            description="409 for a file's schedule, or one an enabled workflow names.",
        ),
        Endpoint(
            "PUT",
            one + "/override",
            put_override,
            "Open now or closed now, until the schedule's next boundary",
            tag,
            body=Body(model=OverrideIn, description="64 KiB at most."),
            answer=ScheduleOut,
            errors=(400, 404, 422),
            description=(
                "Replaces any override the schedule had; applies on this instance at once and"
                " on the others at once (PostgreSQL; within seconds on SQLite). " + _FILES
            ),
        ),
        Endpoint(
            "DELETE",
            one + "/override",
            delete_override,
            "Remove the override: the schedule follows its hours again",
            tag,
            answer=ScheduleOut,
            errors=(404,),
            description="404 when the schedule has no override. " + _FILES,
        ),
    ]


def register(api: Api) -> None:
    """Add the schedule endpoints to ``api``."""
    api.add(*endpoints())
