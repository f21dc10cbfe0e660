"""The OpenAPI 3.1 document of the admin API, made from its :class:`~ringflow.admin.endpoints.Api`
(the same pydantic models that validate requests), and a readable page of it.

Every operation, ``GET /api/openapi.json`` and ``GET /api/docs`` included, declares the bearer
token (``security``) and answers errors as RFC 9457 problems (``application/problem+json``).
"""

from __future__ import annotations

import html
import json
from typing import Any

from ringflow.admin.endpoints import COMMON_ERRORS, Api, Endpoint, path_parameters, schema_of
from ringflow.admin.problems import PROBLEM_TYPE, ProblemBody

REF = "#/components/schemas/{model}"
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No content",
    400: "The body cannot be read (not JSON, not YAML)",
    401: "No token, or not a valid one",
    403: "The token may not do this (an agent token outside conversations)",
    404: "No such resource",
    409: "The resource's state does not allow it",
    413: "The body is too large",
    415: "A body of a media type this operation does not take",
    422: "The body or a parameter is invalid; `errors` names each field",
    429: "Too many requests with a wrong token",
    502: "A service the server relies on (Twilio) refused or could not be reached",
}


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
    }
    description = endpoint.description
    if endpoint.agents:
        description = (description + " " if description else "") + "Agent tokens may call this."
    for scope in endpoint.scopes:
        description = (description + " " if description else "") + (
            f"Tokens scoped `{scope}` may call this."
        )
    if description:
        operation["description"] = description
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_parameters(endpoint.path)
    ]
    if endpoint.query is not None:
        query_schema, definitions = schema_of(endpoint.query, REF, "validation")
        schemas.update(definitions)
        for name, prop in query_schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in query_schema.get("required", []),
                    "schema": prop,
                }
            )
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        content: dict[str, Any] = {}
        if endpoint.body.model is not None:
            body_schema, definitions = schema_of(endpoint.body.model, REF, "validation")
            schemas.update(definitions)
            content["application/json"] = {"schema": body_schema}
        for media, media_schema in endpoint.body.media.items():
            content[media] = {"schema": media_schema}
        operation["requestBody"] = {"required": True, "content": content}
        if endpoint.body.description:
            operation["requestBody"]["description"] = endpoint.body.description
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": _REASONS.get(endpoint.status, "OK")}
    answer_content: dict[str, Any] = {}
    if endpoint.answer is not None:
        answer_schema, definitions = schema_of(endpoint.answer, REF)
        schemas.update(definitions)
        answer_content["application/json"] = {"schema": answer_schema}
    for media, media_schema in endpoint.answer_media.items():
        answer_content[media] = {"schema": media_schema}
    if answer_content:
        success["content"] = answer_content
    responses[str(endpoint.status)] = success
    for status in endpoint.also:
        responses[str(status)] = {**success, "description": _REASONS.get(status, "OK")}
    errors = sorted(set(endpoint.errors) | set(COMMON_ERRORS))
    if endpoint.body is not None:
        errors = sorted(set(errors) | {413, 415})
    for status in errors:
        responses[str(status)] = {
            "description": _REASONS.get(status, "Error"),
            "content": {PROBLEM_TYPE: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
    operation["responses"] = responses
    return operation


def openapi_document(api: Api, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``api``."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in api.endpoints:
        path = "/api" + _openapi_path(endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    for name, kind in api.schemas.items():
        named, definitions = schema_of(kind, REF, "validation")
        schemas.update(definitions)
        schemas[name] = named
    problem_schema = ProblemBody.model_json_schema(ref_template=REF)
    problem_schema["title"] = "Problem"
    schemas["Problem"] = problem_schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Ringflow admin API",
            "version": version,
            "description": (
                "Manage workflows, prompts, schedules, contacts, recipes, agents, teams and"
                " conversations. Every operation needs `Authorization: Bearer <token>`"
                " (`ringflow token create NAME`); an agent's token (`ringflow agents token NAME`)"
                " may call only the operations that say so, and gets 403 elsewhere. Errors are"
                " RFC 9457 problem details naming the failing field."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
    }


def _openapi_path(path: str) -> str:
    parts = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            part = "{" + part[1:-1].split(":", 1)[0] + "}"
        parts.append(part)
    return "/".join(parts)


def docs_page(document: dict[str, Any]) -> str:
    """A self-contained HTML page of the document: every operation, its parameters, bodies,
    answers and errors (no scripts, nothing fetched from elsewhere)."""
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{html.escape(document['info']['title'])}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}code,pre{font:13px ui-monospace,monospace}pre{background:#f6f6f6;"
        "padding:.6rem;overflow:auto}h2{border-top:1px solid #ddd;padding-top:1rem}"
        ".m{font-weight:bold;display:inline-block;width:4.5rem}</style></head><body>",
        f"<h1>{html.escape(document['info']['title'])}</h1>",
        f"<p>{html.escape(document['info']['description'])}</p>",
        '<p>Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</p>',
    ]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            out.append(
                f"<h2 id={html.escape(operation['operationId'])}><span class=m>"
                f"{method.upper()}</span><code>{html.escape(path)}</code></h2>"
            )
            out.append(f"<p>{html.escape(operation['summary'])}</p>")
            if "description" in operation:
                out.append(f"<p>{html.escape(operation['description'])}</p>")
            for parameter in operation.get("parameters", []):
                out.append(
                    f"<p>{parameter['in']} parameter <code>{html.escape(parameter['name'])}"
                    f"</code>{' (required)' if parameter.get('required') else ''}</p>"
                )
            body = operation.get("requestBody")
            if body:
                out.append("<p>Body:</p>")
                for media, content in body["content"].items():
                    out.append(f"<p><code>{html.escape(media)}</code></p>")
                    out.append(f"<pre>{html.escape(_pretty(content['schema']))}</pre>")
            out.append("<p>Answers: ")
            out.append(
                ", ".join(
                    f"<b>{status}</b> {html.escape(answer['description'])}"
                    for status, answer in operation["responses"].items()
                )
            )
            out.append("</p>")
    out.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        out.append(f"<h3 id=schema-{html.escape(name)}>{html.escape(name)}</h3>")
        out.append(f"<pre>{html.escape(_pretty(schema))}</pre>")
    out.append("</body></html>")
    return "\n".join(out)


def _pretty(schema: Any) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False)
