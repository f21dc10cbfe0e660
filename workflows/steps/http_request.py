"""``http_request``: call another system's HTTP API (a CRM lookup, an order's status), put
fields of its JSON answer into variables, and go on; ``on_error`` when it fails.

::

    lookup:
      http_request:
        method: POST
        url: "https://api.crm.example/lookup"
        headers: {Authorization: "Bearer {{vars.crm_key}}"}
        json: {phone: "{{call.from}}", cart: "{{event.data.cart_url}}"}
        timeout: 5
        save: {tier: customer.tier, first_order: orders.0.id}
      next: greet
      on_error: fallback

The URL, the headers' values and every string in ``json`` are templates. ``save`` maps a
variable to a dotted path into the answer's JSON (a number picks a list's item); a path the
answer lacks leaves the variable unset. The request is made as a durable job, outside the
turn (a slow API holds no transaction and no webhook), through the outbound guard
(:mod:`ringflow.outbound`): only to hosts in ``RINGFLOW_HTTP_REQUEST_HOSTS``, only to public
addresses (unless ``RINGFLOW_OUTBOUND_ALLOWED_NETWORKS`` allows), redirects not followed.
``on_error`` (else ``next``) is taken on a refusal, a timeout, no connection, an answer that
is not 2xx, or one that is not JSON while ``save`` needs it; ``vars.http_status`` holds the
status (0: no answer).

Text and chat only: on a call the caller would hear silence while the request runs, so the
validator refuses the step in a voice workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from workflows.events import HttpAnswered, Reply
from workflows.instructions import FetchUrl
from workflows.names import VarName
from workflows.steps.base import (
    CHAT,
    SMS,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
    UnexpectedReply,
    Wait,
)
from workflows.steps.conversation import TEMPLATE_ROOTS
from workflows.templates import Template, TemplateError

JsonPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,9}$")
]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")]
STATUS_VAR = "http_status"
MAX_BODY_STRINGS = 200


@lru_cache(maxsize=1024)
def _template(text: str) -> Template:
    return Template.parse(text, roots=TEMPLATE_ROOTS)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _render(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return _template(value).render(values)
    if isinstance(value, Mapping):
        return {key: _render(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, values) for item in value]
    return value


class HttpRequestParams(StepParams):
    """``http_request: {method, url, headers, json, timeout, save}``."""

    shorthand = "url"
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: Annotated[str, StringConstraints(min_length=8, max_length=2048)] = Field(
        description="http(s) URL, a template"
    )
    headers: dict[HeaderName, Annotated[str, StringConstraints(max_length=2048)]] = Field(
        default_factory=dict, max_length=20, description="header values are templates"
    )
    json_body: Any = Field(
        default=None,
        alias="json",
        description="the JSON body sent; its strings are templates",
    )
    timeout: float = Field(default=10, gt=0, le=30, description="seconds")
    save: dict[VarName, JsonPath] = Field(
        default_factory=dict,
        max_length=20,
        description="variable: dotted path into the JSON answer (customer.tier, items.0.id)",
    )

    @model_validator(mode="after")
    def _check_templates(self) -> Self:
        if not self.url.lower().startswith(("http://", "https://", "{{")):
            raise ValueError("url: must be an http:// or https:// URL")
        strings = _strings(self.json_body)
        if len(strings) > MAX_BODY_STRINGS:
            raise ValueError(f"json: at most {MAX_BODY_STRINGS} strings")
        named = [("url", self.url), *((f"headers.{k}", v) for k, v in self.headers.items())]
        for where, text in [*named, *(("json", text) for text in strings)]:
            try:
                _template(text)
            except TemplateError as error:
                raise ValueError(f"{where}: {error}") from None
        if STATUS_VAR in self.save:
            raise ValueError(f"save: {STATUS_VAR} is set by the step itself")
        return self


def pick(document: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``document`` (a number indexes a list), or None."""
    value = document
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


class HttpRequestKind(StepKind[HttpRequestParams]):
    name = "http_request"
    params = HttpRequestParams
    channels = frozenset({SMS, CHAT})
    outcomes = ("error",)
    waits = True
    summary = (
        "Call an HTTP API (a template URL, headers and JSON body), save fields of its JSON"
        " answer into variables, then continue; `on_error` when it fails. Text and chat only."
    )

    def enter(self, params: HttpRequestParams, ctx: RunContext) -> StepResult:
        values = ctx.values()
        ctx.emit(
            FetchUrl(
                method=params.method,
                url=_template(params.url).render(values),
                headers={k: _template(v).render(values) for k, v in params.headers.items()},
                body=_render(params.json_body, values),
                timeout=params.timeout,
            )
        )
        return Wait()

    def resume(self, params: HttpRequestParams, ctx: RunContext, reply: Reply) -> StepResult:
        if not isinstance(reply, HttpAnswered):
            raise UnexpectedReply(f"http_request got {type(reply).__name__}")
        ctx.vars[STATUS_VAR] = reply.status or 0
        failed = (
            reply.error is not None
            or reply.status is None
            or not 200 <= reply.status < 300
            or (bool(params.save) and reply.bad_json)
        )
        if failed:
            return Next(outcome="error")
        for variable, path in params.save.items():
            value = pick(reply.json, path)
            if value is not None:
                ctx.vars[variable] = value
        return Next()


KIND = HttpRequestKind()
