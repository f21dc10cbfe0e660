"""Admin API for workflows: upload, validate, drafts, numbered publications, roll back, export,
enable/disable, delete, and patching one menu's options (see :mod:`workflows.versions`).

A definition is sent as the file would be written: YAML (``application/yaml``) or JSON
(``application/json``), at most 1 MiB. Problems come back as a 422 problem listing each with
its path and line, the schedules a workflow names included. Workflows from the flows folder
(origin ``file``) can be read and exported here; changing them answers 409: their file wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ringflow.admin.endpoints import (
    Api,
    Body,
    Endpoint,
    json_answer,
    json_body,
    query_params,
    read_body,
)
from ringflow.admin.problems import (
    ApiProblem,
    FieldError,
    conflict,
    from_workflow_problems,
    not_found,
)
from ringflow.database import Database
from workflows.catalog import WorkflowCatalog, compile_trigger
from workflows.diagram import DiagramError, diagram, parse_for_diagram, render_svg
from workflows.loader import Workflow, from_data
from workflows.problems import Path, Problem, WorkflowInvalid
from workflows.references import prompt_references
from workflows.source import parse
from workflows.spec import WorkflowSpec
from workflows.versions import (
    ManagedByFile,
    NoDraft,
    NotAMenu,
    UnknownPublication,
    UnknownWorkflow,
    WorkflowState,
    all_states,
    definition_of,
    publish,
    remove,
    roll_back,
    save_draft,
    save_workflow,
    set_enabled,
    state_of,
    with_menu_options,
)

MAX_DEFINITION_BYTES = 1024 * 1024
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
JSON_TYPE = "application/json"
WorkflowIdText = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


@dataclass(frozen=True)
class WorkflowAdmin:
    """What the workflow endpoints need: the database, the catalog, the time."""

    db: Database
    catalog: WorkflowCatalog
    clock: Callable[[], datetime]
    prompts_found: Callable[[Collection[str]], Awaitable[set[str]]] | None = None
    """Which of these prompt ids exist (None: prompts are not checked)."""


WORKFLOW_ADMIN = web.AppKey("workflow_admin", WorkflowAdmin)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublicationOut(Out):
    version: int = Field(description="1, 2, 3... in the order published")
    digest: str
    published_at: datetime
    note: str | None = None


class TriggerOut(Out):
    event: str | None = Field(description="the event runs start on, e.g. call.incoming")
    to: list[str] = Field(description="the numbers it answers; empty: any number")


class WorkflowOut(Out):
    id: str
    name: str | None
    origin: Literal["file", "api"]
    enabled: bool
    trigger: TriggerOut = Field(
        description="what starts it (of the published version; of the draft before that)"
    )
    published_version: int | None = Field(description="the version runs start on")
    has_draft: bool
    draft_digest: str | None
    versions: list[PublicationOut]
    updated_at: datetime

    @classmethod
    def of(cls, state: WorkflowState) -> WorkflowOut:
        return cls(
            id=state.id,
            name=state.name,
            origin="file" if state.origin == "file" else "api",
            enabled=state.enabled,
            trigger=TriggerOut(event=state.event, to=list(state.numbers)),
            published_version=state.published,
            has_draft=state.draft_digest is not None,
            draft_digest=state.draft_digest,
            versions=[
                PublicationOut(
                    version=p.number, digest=p.digest, published_at=p.published_at, note=p.note
                )
                for p in state.publications
            ],
            updated_at=state.updated_at,
        )


class ProblemOut(Out):
    field: str
    message: str
    line: int | None = None


class ValidationOut(Out):
    valid: bool
    id: str | None = None
    problems: list[ProblemOut]


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=1_000_000_000, description="the version to publish again")


class MenuPatchIn(BaseModel):
    """New options for one menu step, written as in a workflow file."""

    model_config = ConfigDict(extra="forbid")
    options: dict[str, Any] = Field(min_length=1, max_length=64)


class CreateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    publish: bool = Field(default=False, description="publish the draft at once")


class VersionQuery(BaseModel):
    """Which version: ``draft``, ``published`` or a version number."""

    model_config = ConfigDict(extra="forbid")
    version: Annotated[str, StringConstraints(pattern=r"^(draft|published|[1-9][0-9]{0,8})$")] = (
        "published"
    )

    def which(self) -> str | int:
        """``draft``, ``published`` or the number."""
        return int(self.version) if self.version.isdigit() else self.version


class ExportQuery(VersionQuery):
    format: Literal["yaml", "json"] = "yaml"


def _admin(request: web.Request) -> WorkflowAdmin:
    return request.config_dict[WORKFLOW_ADMIN]


async def _definition_text(request: web.Request) -> tuple[str, str]:
    """The body as text and its format (``yaml`` or ``json``)."""
    content_type = request.content_type
    if content_type in YAML_TYPES or content_type == "text/plain":
        fmt = "yaml"
    elif content_type == JSON_TYPE:
        fmt = "json"
    else:
        raise ApiProblem(
            415, f"send the workflow as application/yaml or application/json, not {content_type!r}"
        )
    raw = await read_body(request, MAX_DEFINITION_BYTES, "a workflow")
    try:
        return raw.decode("utf-8"), fmt
    except UnicodeDecodeError:
        raise ApiProblem(400, "the body is not UTF-8 text") from None


async def _checked(admin: WorkflowAdmin, text: str, fmt: str) -> Workflow:
    """Parse and validate, schedules and prompts included; a 422 problem listing every
    problem."""
    try:
        document = parse(text, "body", fmt=fmt)
        workflow = from_data(document.data, "body", document)
        compile_trigger(workflow, admin.catalog.schedules.names)
        await _check_prompts(admin, workflow, document.line_of)
    except WorkflowInvalid as invalid:
        raise from_workflow_problems(invalid.problems, "the workflow") from None
    return workflow


async def _check_prompts(
    admin: WorkflowAdmin, workflow: Workflow, line_of: Callable[[Path], int | None]
) -> None:
    """Raise ``WorkflowInvalid`` for every prompt id the workflow plays that does not exist."""
    if admin.prompts_found is None:
        return
    references = list(prompt_references(workflow.definition()))
    if not references:
        return
    found = await admin.prompts_found({prompt_id for _path, prompt_id in references})
    problems = [
        Problem(path, f"unknown prompt {prompt_id!r}", line_of(path))
        for path, prompt_id in references
        if prompt_id not in found
    ]
    if problems:
        raise WorkflowInvalid("body", problems)


async def _state(admin: WorkflowAdmin, workflow_id: str) -> WorkflowOut:
    return WorkflowOut.of(await admin.db.read(lambda conn: state_of(conn, workflow_id)))


async def _change(
    request: web.Request, change: Callable[[Any], object], refresh: bool = True
) -> WorkflowOut:
    """Apply ``change`` in a write; the domain errors as problems; the catalog refreshed."""
    admin = _admin(request)
    workflow_id = request.match_info["workflow_id"]
    try:
        await admin.db.write(change)
    except UnknownWorkflow:
        raise not_found(f"workflow {workflow_id!r}") from None
    except UnknownPublication as error:
        raise ApiProblem(404, str(error)) from None
    except (ManagedByFile, NoDraft) as error:
        raise conflict(str(error)) from None
    if refresh:
        await admin.catalog.refresh()
    return await _state(admin, workflow_id)


# --- handlers --------------------------------------------------------------------------


async def list_workflows(request: web.Request) -> web.Response:
    admin = _admin(request)
    states = await admin.db.read(all_states)
    return json_answer([WorkflowOut.of(state) for state in states])


async def create_workflow(request: web.Request) -> web.Response:
    admin = _admin(request)
    options = query_params(request, CreateQuery)
    text, fmt = await _definition_text(request)
    workflow = await _checked(admin, text, fmt)
    now = admin.clock()

    try:
        await admin.db.write(
            lambda conn: save_workflow(conn, workflow, now, publish_now=options.publish)
        )
    except ManagedByFile as error:
        raise conflict(str(error)) from None
    if options.publish:
        await admin.catalog.refresh()
    return json_answer(await _state(admin, workflow.id), status=201)


async def validate_workflow(request: web.Request) -> web.Response:
    admin = _admin(request)
    text, fmt = await _definition_text(request)
    try:
        workflow = await _checked(admin, text, fmt)
    except ApiProblem as problem:
        found = [ProblemOut(**error.to_json()) for error in problem.errors]
        return json_answer(ValidationOut(valid=False, problems=found))
    return json_answer(ValidationOut(valid=True, id=workflow.id, problems=[]))


async def get_workflow(request: web.Request) -> web.Response:
    admin = _admin(request)
    workflow_id = request.match_info["workflow_id"]
    try:
        return json_answer(await _state(admin, workflow_id))
    except UnknownWorkflow:
        raise not_found(f"workflow {workflow_id!r}") from None


async def replace_draft(request: web.Request) -> web.Response:
    admin = _admin(request)
    workflow_id = request.match_info["workflow_id"]
    text, fmt = await _definition_text(request)
    workflow = await _checked(admin, text, fmt)
    if workflow.id != workflow_id:
        raise ApiProblem(
            422,
            f"the body is workflow {workflow.id!r}, not {workflow_id!r}",
            [FieldError("id", f"must be {workflow_id!r}")],
        )
    now = admin.clock()
    return json_answer(
        await _change(request, lambda conn: _existing_draft(conn, workflow, now), refresh=False)
    )


def _existing_draft(conn: Any, workflow: Workflow, now: datetime) -> None:
    state_of(conn, workflow.id)  # 404 for an unknown id: PUT does not create
    save_draft(conn, workflow, now)


async def publish_workflow(request: web.Request) -> web.Response:
    workflow_id = request.match_info["workflow_id"]
    now = _admin(request).clock()
    return json_answer(await _change(request, lambda conn: publish(conn, workflow_id, now)))


async def roll_back_workflow(request: web.Request) -> web.Response:
    workflow_id = request.match_info["workflow_id"]
    body = await json_body(request, RollbackIn)
    now = _admin(request).clock()
    return json_answer(
        await _change(request, lambda conn: roll_back(conn, workflow_id, body.version, now))
    )


async def enable_workflow(request: web.Request) -> web.Response:
    return await _enabled(request, True)


async def disable_workflow(request: web.Request) -> web.Response:
    return await _enabled(request, False)


async def _enabled(request: web.Request, enabled: bool) -> web.Response:
    workflow_id = request.match_info["workflow_id"]
    now = _admin(request).clock()
    return json_answer(
        await _change(request, lambda conn: set_enabled(conn, workflow_id, enabled, now))
    )


async def delete_workflow(request: web.Request) -> web.Response:
    admin = _admin(request)
    workflow_id = request.match_info["workflow_id"]
    try:
        await admin.db.write(lambda conn: remove(conn, workflow_id))
    except UnknownWorkflow:
        raise not_found(f"workflow {workflow_id!r}") from None
    except ManagedByFile as error:
        raise conflict(str(error)) from None
    await admin.catalog.refresh()
    return web.Response(status=204)


async def export_workflow(request: web.Request) -> web.Response:
    admin = _admin(request)
    workflow_id = request.match_info["workflow_id"]
    options = query_params(request, ExportQuery)
    which = options.which()
    definition = await _read_definition(admin, workflow_id, which)
    if options.format == "json":
        return json_answer(definition)
    text = yaml.safe_dump(definition, sort_keys=False, allow_unicode=True)
    name = f"{workflow_id}.yaml"
    return web.Response(
        text=text,
        content_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def workflow_diagram(request: web.Request) -> web.Response:
    """A version (draft, published or a number) drawn as SVG (:mod:`workflows.diagram`)."""
    admin = _admin(request)
    workflow_id = request.match_info["workflow_id"]
    which = query_params(request, VersionQuery).which()
    definition = await _read_definition(admin, workflow_id, which)
    try:
        spec, problems = parse_for_diagram(definition, workflow_id)
        # dot runs as a child process: off the event loop, so other requests go on.
        svg = await asyncio.to_thread(render_svg, diagram(spec, problems))
    except WorkflowInvalid as invalid:
        # A version stored before a check it fails was added: say what, as an upload would.
        raise from_workflow_problems(invalid.problems, f"version {which}") from None
    except DiagramError as error:
        raise ApiProblem(503, str(error)) from None
    return web.Response(
        body=svg, content_type="image/svg+xml", headers={"Cache-Control": "private, no-cache"}
    )


async def _read_definition(
    admin: WorkflowAdmin, workflow_id: str, which: str | int
) -> dict[str, Any]:
    try:
        return await admin.db.read(lambda conn: definition_of(conn, workflow_id, which))
    except UnknownWorkflow:
        raise not_found(f"workflow {workflow_id!r}") from None
    except (UnknownPublication, NoDraft) as error:
        raise ApiProblem(404, str(error)) from None


async def patch_menu(request: web.Request) -> web.Response:
    """New options for one menu, without sending the whole workflow: a new draft."""
    admin = _admin(request)
    workflow_id = request.match_info["workflow_id"]
    step = request.match_info["step"]
    body = await json_body(request, MenuPatchIn)
    try:
        definition = await admin.db.read(
            lambda conn: with_menu_options(conn, workflow_id, step, body.options)
        )
    except UnknownWorkflow:
        raise not_found(f"workflow {workflow_id!r}") from None
    except (UnknownPublication, NoDraft, NotAMenu) as error:
        raise ApiProblem(404, str(error)) from None
    try:
        workflow = from_data(definition, "body")
        compile_trigger(workflow, admin.catalog.schedules.names)
        await _check_prompts(admin, workflow, lambda _path: None)
    except WorkflowInvalid as invalid:
        raise from_workflow_problems(invalid.problems, "the patched workflow") from None
    now = admin.clock()
    return json_answer(await _change(request, lambda conn: save_draft(conn, workflow, now), False))


# --- the endpoints ---------------------------------------------------------------------

_DEFINITION = Body(
    media={
        "application/yaml": {"type": "string", "description": "the workflow file, as YAML"},
        JSON_TYPE: {"$ref": "#/components/schemas/WorkflowSpec"},
    },
    description="A workflow file (docs/workflow-format.md), YAML or JSON, at most 1 MiB.",
)
_YAML_OR_JSON = {"application/yaml": {"type": "string"}}


def endpoints() -> list[Endpoint]:
    """The workflow endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "workflows"
    one = "/workflows/{workflow_id}"
    return [
        Endpoint(
            "GET", "/workflows", list_workflows, "List workflows", tag, answer=list[WorkflowOut]
        ),
        Endpoint(
            "POST",
            "/workflows",
            create_workflow,
            "Upload a workflow as a draft (or publish it at once with ?publish=true)",
            tag,
            body=_DEFINITION,
            answer=WorkflowOut,
            status=201,
            errors=(400, 409, 422),
            query=CreateQuery,
        ),
        Endpoint(
            "POST",
            "/workflows/validate",
            validate_workflow,
            "Check a workflow without storing it: every problem with its path and line",
            tag,
            body=_DEFINITION,
            answer=ValidationOut,
            errors=(400,),
        ),
        Endpoint(
            "GET",
            one,
            get_workflow,
            "A workflow, its versions and draft",
            tag,
            answer=WorkflowOut,
            errors=(404,),
        ),
        Endpoint(
            "PUT",
            one + "/draft",
            replace_draft,
            "Replace the draft of an existing workflow",
            tag,
            body=_DEFINITION,
            answer=WorkflowOut,
            errors=(400, 404, 409, 422),
        ),
        Endpoint(
            "POST",
            one + "/publish",
            publish_workflow,
            "Publish the draft as the next version",
            tag,
            answer=WorkflowOut,
            errors=(404, 409),
        ),
        Endpoint(
            "POST",
            one + "/rollback",
            roll_back_workflow,
            "Publish an earlier version again (as the next number)",
            tag,
            body=Body(model=RollbackIn),
            answer=WorkflowOut,
            errors=(400, 404, 409, 422),
        ),
        Endpoint(
            "POST",
            one + "/enable",
            enable_workflow,
            "Let the workflow start runs",
            tag,
            answer=WorkflowOut,
            errors=(404, 409),
        ),
        Endpoint(
            "POST",
            one + "/disable",
            disable_workflow,
            "Stop the workflow starting runs (runs in progress go on)",
            tag,
            answer=WorkflowOut,
            errors=(404, 409),
        ),
        Endpoint(
            "DELETE",
            one,
            delete_workflow,
            "Delete an API workflow",
            tag,
            status=204,
            errors=(404, 409),
        ),
        Endpoint(
            "GET",
            one + "/export",
            export_workflow,
            "Export a version (draft, published or a number) as YAML or JSON",
            tag,
            answer_media={
                "application/yaml": {"type": "string"},
                JSON_TYPE: {"type": "object"},
            },
            errors=(404, 422),
            query=ExportQuery,
        ),
        Endpoint(
            "GET",
            one + "/diagram.svg",
            workflow_diagram,
            "A version (draft, published or a number) drawn as an SVG diagram",
            tag,
            answer_media={"image/svg+xml": {"type": "string"}},
            errors=(404, 422, 503),
            query=VersionQuery,
        ),
        Endpoint(
            "PATCH",
            one + "/menus/{step}",
            patch_menu,
            "Replace one menu's options (a new draft)",
            tag,
            body=Body(model=MenuPatchIn),
            answer=WorkflowOut,
            errors=(400, 404, 409, 422),
        ),
    ]


def register(api: Api) -> None:
    """Add the workflow endpoints (and the workflow file's schema) to ``api``."""
    api.add(*endpoints())
    api.schemas["WorkflowSpec"] = WorkflowSpec
