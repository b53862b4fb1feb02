"""The API's documentation: an offline Swagger UI page and the errors in the OpenAPI.

``/schema`` and ``/schema/swagger`` serve a page of our own that loads Swagger UI from
files shipped in the package (``static/swagger-ui``, see its README), so the page works
on a site with no internet access; no served page names a CDN.

:func:`document_errors` completes the generated OpenAPI document in one place, from
each route's access level and shape rather than by hand in every handler: the problem
responses (RFC 9457) an operation can answer with, and its security requirement.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar.datastructures import CacheControlHeader
from litestar.openapi import ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from meterhub.api._auth import required_access
from meterhub.api._problems import PROBLEM_JSON, Problem

if TYPE_CHECKING:
    from litestar import Litestar, Request, Router
    from litestar.openapi.spec import OpenAPI, Operation

SWAGGER_UI_VERSION: Final = "5.35.0"
SECURITY_SCHEME: Final = "apiKey"
_ASSETS_DIR = Path(__file__).with_name("static") / "swagger-ui"
_ASSETS_ROUTE = "meterhub-swagger-ui"
# what each status means on this API; the problem's detail says what exactly was wrong
_MEANING: Final = {
    400: "Invalid request: `invalid_params` names each offending parameter",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role is not enough for this operation",
    404: "No such resource",
    413: "The request body is larger than `api.max_body_bytes`",
    415: "The request body is not `application/json`",
    429: "Over the per-key rate limit; `Retry-After` says when to retry",
    500: "The server failed; its log has the details",
}
_GUARDED: Final = (401, 403, 429)
_WITH_BODY: Final = (400, 413, 415)
_WITH_PATH: Final = (400, 404)
_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
<style>body {{ margin: 0 }}</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{js}"></script>
<script>
SwaggerUIBundle({{url: {spec}, dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null}});
</script>
</body>
</html>
"""


class SwaggerPage(OpenAPIRenderPlugin):
    """Swagger UI at ``/schema`` and ``/schema/swagger``, from the package's own files.

    ``validatorUrl: null``: Swagger UI would otherwise send the document to
    validator.swagger.io.
    """

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page, pointing at the JSON document and the vendored assets."""

        def asset(name: str) -> str:
            path = request.app.route_reverse(_ASSETS_ROUTE, file_path=name)
            return html.escape(f"{path}?v={SWAGGER_UI_VERSION}")

        return _PAGE.format(
            title=html.escape(f"{openapi_schema['info']['title']} API"),
            css=asset("swagger-ui.css"),
            js=asset("swagger-ui-bundle.js"),
            spec=msgspec.json.encode(self.get_openapi_json_route(request)).decode(),
        ).encode()

    def receive_router(self, router: Router) -> None:
        """Serve the assets under the schema router (public, like the pages)."""
        router.register(create_static_files_router(
            path="/static/swagger-ui", directories=[_ASSETS_DIR], name=_ASSETS_ROUTE,
            include_in_schema=False,
            # the version in the query string changes with every upgrade
            cache_control=CacheControlHeader(max_age=86400),
        ))  # fmt: skip


def _problem_spec(status: int) -> ResponseSpec:
    return ResponseSpec(data_container=Problem, description=_MEANING[status],
                        media_type=PROBLEM_JSON, generate_examples=False)  # fmt: skip


def prepare_handlers(app: Litestar) -> None:
    """Before the document is generated: every operation may fail with a 500 problem.

    Also turns off Litestar's generated examples (random strings) for every declared
    response: ``ResponseSpec`` generates them unless told not to.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            declared = {status: dataclasses.replace(spec, generate_examples=False)
                        for status, spec in (handler.responses or {}).items()}  # fmt: skip
            handler.responses = {500: _problem_spec(500), **declared}


def document_errors(app: Litestar) -> None:
    """Complete the app's OpenAPI document: problem responses and security per operation.

    Call after :func:`prepare_handlers` and before the document is first served.
    Non-public operations answer 401, 403 and 429 and need the bearer key; operations
    with a body also 400, 413 and 415; operations with path parameters 400 and 404.
    """
    openapi = app.openapi_schema
    problem = _problem_schema(openapi)
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in (openapi.paths or {}):
            continue
        item = (openapi.paths or {})[route.path_format]
        for handler in route.route_handlers:
            public = required_access(handler) == "public"
            for method in handler.http_methods:
                operation: Operation | None = getattr(item, method.lower(), None)
                if operation is not None:
                    _complete(operation, problem, public=public)


def _problem_schema(openapi: OpenAPI) -> Schema | Reference:
    """The ``Problem`` schema Litestar generated for the 500 every operation declares."""
    for operation in _operations(openapi):
        response = (operation.responses or {}).get("500")
        if isinstance(response, OpenAPIResponse) and response.content:
            schema = response.content[PROBLEM_JSON].schema
            if schema is not None:
                return schema
    raise TypeError("no operation documents a 500 problem: call prepare_handlers first")


def _operations(openapi: OpenAPI) -> list[Operation]:
    return [operation for item in (openapi.paths or {}).values() for method in _METHODS
            if (operation := getattr(item, method, None)) is not None]  # fmt: skip


def _complete(operation: Operation, problem: Schema | Reference, *, public: bool) -> None:
    statuses: set[int] = set()
    if not public:
        statuses.update(_GUARDED)
    if operation.request_body is not None:
        statuses.update(_WITH_BODY)
    if any(getattr(p, "param_in", None) == "path" for p in operation.parameters or []):
        statuses.update(_WITH_PATH)
    if operation.parameters:  # any parameter may be invalid
        statuses.add(400)
    responses = operation.responses = dict(operation.responses or {})
    for status in sorted(statuses):
        current = responses.get(str(status))
        # keep what a handler declared itself, replace Litestar's own error shape
        if not (isinstance(current, OpenAPIResponse) and PROBLEM_JSON in (current.content or {})):
            responses[str(status)] = OpenAPIResponse(
                description=_MEANING[status],
                content={PROBLEM_JSON: OpenAPIMediaType(schema=problem)},
            )
    operation.responses = dict(sorted(responses.items()))
    operation.security = [] if public else [{SECURITY_SCHEME: []}]
