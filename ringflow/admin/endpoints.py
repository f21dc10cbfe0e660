"""The admin API's endpoints, declared once: the route, the models that validate the request
and shape the answer, and the OpenAPI document (:mod:`ringflow.admin.openapi`) made from them.

An :class:`Endpoint` names its handler, a :class:`Body` (a pydantic model for JSON, or raw
media types such as YAML or an audio upload), its answer's type and the problem statuses it
can answer with. Handlers read a validated body with :func:`json_body` and answer with
:func:`json_answer`; a body that is not JSON is a 400, one that does not validate a 422
naming the fields, one nested more than :data:`ringflow.nesting.MAX_DEPTH` levels a 422 too,
one of a type the endpoint does not take a 415.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from ringflow.admin.problems import ApiProblem, FieldError, from_validation
from ringflow.nesting import MAX_DEPTH, deeper_than

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
JSON_TYPES = ("application/json",)
MAX_JSON_BYTES = 64 * 1024
"""The largest JSON body an endpoint takes unless it says otherwise: the admin application's
``client_max_size`` is sized for prompt uploads, far more than any JSON request needs."""
READ_CHUNK_BYTES = 64 * 1024
COMMON_ERRORS = (401, 403, 429)
"""Every endpoint can answer these (no or a wrong token; a token that may not do this, such as
an agent token outside conversations; too many wrong tokens)."""


@dataclass(frozen=True, slots=True)
class Body:
    """What an endpoint takes: a JSON ``model``, or raw ``media`` types with their schemas."""

    model: type[BaseModel] | None = None
    media: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One API operation (see the module docstring)."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: Body | None = None
    answer: Any = None
    """A pydantic model class or a type such as ``list[Model]``; None: no JSON body."""
    status: int = 200
    also: tuple[int, ...] = ()
    """Other success statuses with the same answer (201 when a PUT created the resource)."""
    answer_media: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """Non-JSON answers (an export as YAML, audio) by media type, with their schemas."""
    errors: tuple[int, ...] = ()
    query: type[BaseModel] | None = None
    description: str = ""
    agents: bool = False
    """Agent tokens may call it too (conversations, an agent's own status); else admins only."""

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


@dataclass
class Api:
    """The endpoints of the admin API, in the order they are documented."""

    endpoints: list[Endpoint] = field(default_factory=list)
    schemas: dict[str, Any] = field(default_factory=dict)
    """Types media schemas refer to by name (``#/components/schemas/<name>``)."""

    def add(self, *endpoints: Endpoint) -> None:
        self.endpoints.extend(endpoints)

    def agent_handlers(self) -> frozenset[Handler]:
        """The handlers agent tokens may reach."""
        return frozenset(e.handler for e in self.endpoints if e.agents)

    def routes(self) -> list[web.RouteDef]:
        """aiohttp routes (paths relative to the ``/api`` application)."""
        return [web.route(e.method, e.path, e.handler) for e in self.endpoints]


async def read_body(request: web.Request, max_bytes: int, what: str = "the body") -> bytes:
    """The request's body, refused with a 413 naming ``what`` as soon as it is known to be
    larger than ``max_bytes`` (from Content-Length, else while reading: a chunked body is
    never held in memory beyond the limit)."""

    def too_large() -> ApiProblem:
        return ApiProblem(
            413, f"{what} is at most {max_bytes} bytes", [FieldError("body", "too large")]
        )

    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: web.Request, model: type[M], *, max_bytes: int = MAX_JSON_BYTES) -> M:
    """The request's JSON body validated by ``model`` (400/413/415/422 problems otherwise)."""
    if request.content_type not in JSON_TYPES:
        raise ApiProblem(
            415, f"send JSON (Content-Type: application/json), not {request.content_type!r}"
        )
    raw = await read_body(request, max_bytes)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise too_deep() from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = (
            f" (line {error.lineno}, column {error.colno})"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise ApiProblem(400, f"the body is not valid JSON{where}") from None
    if deeper_than(data):
        raise too_deep()
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise from_validation(error) from None


def too_deep() -> ApiProblem:
    """The 422 problem of a body nested more than :data:`MAX_DEPTH` levels."""
    return ApiProblem(
        422,
        f"the body is nested more than {MAX_DEPTH} levels deep",
        [FieldError("body", f"nested more than {MAX_DEPTH} levels")],
    )


def query_params(request: web.Request, model: type[M]) -> M:
    """The query string validated by ``model`` (422 naming the parameter otherwise)."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as error:
        raise from_validation(error, root="query") from None


def json_answer(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``value`` (a model, or a list/dict of models and plain data) as a JSON answer."""
    return web.Response(
        status=status,
        text=json.dumps(_plain(value), ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def schema_of(
    kind: Any, ref_template: str, mode: Literal["validation", "serialization"] = "serialization"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON Schema of ``kind`` (for answers; ``mode="validation"`` for what is sent), and
    the definitions it refers to."""
    schema = TypeAdapter(kind).json_schema(mode=mode, ref_template=ref_template)
    definitions = schema.pop("$defs", {})
    return schema, definitions


def path_parameters(path: str) -> Sequence[str]:
    """The ``{name}`` parts of an aiohttp path (a ``{name:regex}`` counts as ``name``)."""
    names = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1].split(":", 1)[0])
    return names
