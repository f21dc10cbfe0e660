"""Errors as RFC 9457 problem details (``application/problem+json``), raised anywhere in a
handler and rendered in one place (:func:`problem_middleware`).

A problem names what failed: ``errors`` lists each bad field with its path (``steps.main.menu``,
``body.name``) and, for YAML, its line. Anything unexpected becomes a 500 problem that says
nothing about the inside and is logged with the request's method and path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from workflows.problems import Problem as WorkflowProblem
from workflows.problems import dotted

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field: where (dotted path), what, and the line for YAML bodies."""

    field: str
    message: str
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.line is not None:
            data["line"] = self.line
        return data


@dataclass
class ApiProblem(Exception):
    """Raise to answer with a problem: ``status``, a ``detail`` for people, bad fields."""

    status: int
    detail: str
    errors: Sequence[FieldError] = field(default_factory=tuple)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"

    def response(self) -> web.Response:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [error.to_json() for error in self.errors]
        return web.Response(
            status=self.status,
            text=json.dumps(body, ensure_ascii=False),
            content_type=PROBLEM_TYPE,
            headers=self.headers,
        )


class ProblemBody(BaseModel):
    """The JSON of every error answer (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, f"{what} does not exist")


def conflict(detail: str) -> ApiProblem:
    return ApiProblem(409, detail)


def from_validation(error: ValidationError, root: str = "body") -> ApiProblem:
    """A 422 naming every field pydantic refused, as ``body.name``, ``body.rate``."""
    errors = []
    for detail in error.errors():
        location = [root, *(str(part) for part in detail["loc"])]
        message = str(detail["msg"]).removeprefix("Value error, ")
        if detail["type"] == "missing":
            message = "required"
        elif detail["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append(FieldError(".".join(location), message))
    names = ", ".join(error.field for error in errors[:3])
    return ApiProblem(422, f"invalid {names}", errors)


def from_workflow_problems(problems: Sequence[WorkflowProblem], what: str) -> ApiProblem:
    """A 422 listing a definition's problems with their paths and lines."""
    errors = [FieldError(dotted(p.path) or "(file)", p.message, p.line) for p in problems]
    first = errors[0] if errors else None
    where = f" ({first.field}: {first.message})" if first else ""
    return ApiProblem(422, f"{what} has {len(errors)} problem(s){where}", errors)


@web.middleware
async def problem_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Render problems; turn aiohttp's HTTP errors and anything unexpected into problems."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiProblem as problem:
        return problem.response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        detail = error.text or error.reason
        if error.status == 413:
            detail = "the body is larger than this endpoint accepts"
        return ApiProblem(error.status, detail, headers=_kept_headers(error)).response()
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return ApiProblem(500, "something went wrong; the error is in the server's log").response()


def _kept_headers(error: web.HTTPException) -> dict[str, str]:
    keep = ("Allow", "Retry-After", "WWW-Authenticate")
    return {name: error.headers[name] for name in keep if name in error.headers}
