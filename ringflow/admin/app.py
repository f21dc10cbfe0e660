"""The ``/api`` application: its middlewares (problems, then tokens), its endpoints and its
own description (``/api/openapi.json``, ``/api/docs``)."""

from __future__ import annotations

from aiohttp import web

from ringflow.admin.auth import Gatekeeper, auth_middleware
from ringflow.admin.endpoints import Api, Endpoint, json_answer
from ringflow.admin.openapi import docs_page, openapi_document
from ringflow.admin.problems import problem_middleware
from ringflow.admin.tokens import SCOPES
from ringflow.version import version

API_DESCRIPTION = web.AppKey("api_description", dict)
GATEKEEPER = web.AppKey("gatekeeper", Gatekeeper)
API_APP = web.AppKey("api_app", web.Application)
"""The ``/api`` sub-application, in the main application (its state is set at start)."""


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
            scopes=SCOPES,
        ),
        Endpoint(
            "GET",
            "/docs",
            api_docs,
            "This API's documentation, as a page",
            "meta",
            answer_media={"text/html": {"type": "string"}},
            agents=True,
            scopes=SCOPES,
        ),
    )
    for_agents = api.agent_handlers()
    scoped = api.scoped_handlers()
    app = web.Application(
        client_max_size=client_max_size,
        middlewares=[
            problem_middleware,
            auth_middleware(
                lambda request: request.app[GATEKEEPER],
                lambda request: request.match_info.handler in for_agents,
                lambda request: scoped.get(request.match_info.handler, frozenset()),
            ),
        ],
    )
    app[API_DESCRIPTION] = openapi_document(api, version())
    app.router.add_routes(api.routes())
    return app
