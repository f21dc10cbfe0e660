"""The ``/api`` application: its middlewares (problems, then tokens), its endpoints and its
own description (``/api/openapi.json``, ``/api/docs``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from aiohttp import web

from ringflow.api.auth import Gatekeeper, auth_middleware
from ringflow.api.endpoints import Api, Endpoint, json_answer
from ringflow.api.openapi import docs_page, openapi_document
from ringflow.api.problems import problem_middleware

API_DESCRIPTION = web.AppKey("api_description", dict)
GATEKEEPER = web.AppKey("gatekeeper", Gatekeeper)


def _version() -> str:
    try:
        return package_version("ringflow")
    except PackageNotFoundError:
        return "0"


async def openapi_json(request: web.Request) -> web.Response:
    """``GET /api/openapi.json``: this API's OpenAPI 3.1 document."""
    return json_answer(request.app[API_DESCRIPTION])


async def api_docs(request: web.Request) -> web.Response:
    """``GET /api/docs``: the same document as a readable page."""
    return web.Response(text=docs_page(request.app[API_DESCRIPTION]), content_type="text/html")


def api_application(api: Api, *, client_max_size: int) -> web.Application:
    """The ``/api`` sub-application for ``api`` (its Gatekeeper set by the caller in
    ``app[GATEKEEPER]`` once the database is open)."""
    api.add(
        Endpoint(
            "GET",
            "/openapi.json",
            openapi_json,
            "This API's OpenAPI 3.1 document",
            "meta",
            answer_media={"application/json": {"type": "object"}},
            agents=True,
        ),
        Endpoint(
            "GET",
            "/docs",
            api_docs,
            "This API's documentation, as a page",
            "meta",
            answer_media={"text/html": {"type": "string"}},
            agents=True,
        ),
    )
    for_agents = api.agent_handlers()
    app = web.Application(
        client_max_size=client_max_size,
        middlewares=[
            problem_middleware,
            auth_middleware(
                lambda request: request.app[GATEKEEPER],
                lambda request: request.match_info.handler in for_agents,
            ),
        ],
    )
    app[API_DESCRIPTION] = openapi_document(api, _version())
    app.router.add_routes(api.routes())
    return app
