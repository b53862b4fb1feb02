"""``create_app``: the Litestar app of a site, built once with every route."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Response, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.status_codes import HTTP_404_NOT_FOUND

from meterhub import __version__
from meterhub.api._alerts import alerts_router
from meterhub.api._auth import (
    AccessGate,
    RateLimiter,
    access,
    check_routes,
    route_handlers,
)
from meterhub.api._device_ops import device_ops_router
from meterhub.api._devices import devices_router
from meterhub.api._docs import SECURITY_SCHEME, SwaggerPage, document_errors, prepare_handlers
from meterhub.api._history import history_router
from meterhub.api._live import live_router
from meterhub.api._metrics import HttpMetrics
from meterhub.api._middleware import ApiMiddleware
from meterhub.api._ops import ops_router
from meterhub.api._problems import EXCEPTION_HANDLERS, problem_response
from meterhub.api._registry import registry_router
from meterhub.api._request_rules import RequestRules
from meterhub.api._view import SiteView  # noqa: TC001 (Litestar resolves it at runtime)
from meterhub.platform import ConfigError
from meterhub.settings import is_loopback

if TYPE_CHECKING:
    from collections.abc import Sequence

    from meterhub.api._keys import KeyStore
    from meterhub.settings import ApiSettings

STATE_KEY = "meterhub_api"
_log = logging.getLogger(__name__)
_DESCRIPTION = """The HTTP API of one meterhub site.

Send `Authorization: Bearer KEY` (keys: `meterhub keys create --role viewer|operator|admin`).
Roles: `viewer` reads everything and watches the live feed, `operator` also acknowledges
and resolves alerts, `admin` also manages devices, device types and applications. With
`[api] auth = "open-on-loopback"` (the demo) a caller without a key acts as admin.
Request bodies are `application/json`; writes from web pages of origins not in
`[api] cors_origins` are refused. Errors are RFC 9457 problem details
(`application/problem+json`).
"""


@dataclass(frozen=True, kw_only=True)
class ServeInfo:
    """What ``serve`` needs to know about an app ``create_app`` built."""

    keys: KeyStore
    open_api: bool
    shutdown_timeout: float


def refuse_open(host: str, *, open_api: bool) -> None:
    """Refuse to serve an API that needs no key on an address other machines reach.

    Raises:
        ConfigError: the API would be open to the network.
    """
    if open_api and not is_loopback(host):
        raise ConfigError("api.auth", "",
                          f"'open-on-loopback' needs a loopback address, not {host}: set "
                          '[api] auth = "keys" and create a key with `meterhub keys '
                          "create --role admin`")  # fmt: skip


def create_app(
    view: SiteView,
    settings: ApiSettings,
    keys: KeyStore,
    plugin_routers: Sequence[Router] = (),
) -> Litestar:
    """The site's HTTP API (serve it with :func:`meterhub.api.serve`).

    Args:
        view: the running site, as the API may see it.
        settings: the ``[api]`` settings.
        keys: the site's API keys (re-read when the file changes).
        plugin_routers: route plugins' routers (``/api/v1/plugins/<name>``), each
            handler with its declared access level; in the OpenAPI document like the rest.

    Raises:
        ConfigError: the API is open (``auth = "open-on-loopback"``) on an address that
            is not loopback.
    """
    open_api = settings.auth == "open-on-loopback"
    refuse_open(settings.host, open_api=open_api)
    if not open_api and keys.is_empty():
        _log.warning(
            "no API key exists: every route but /health, /ready and /schema "
            "answers 401; create one with `meterhub keys create --role admin`"
        )
    metrics = HttpMetrics()
    gate = AccessGate(keys, open_api=open_api,
                      limiter=RateLimiter(settings.rate_limit_per_minute))  # fmt: skip
    rules = RequestRules(check_host=open_api or bool(settings.allowed_hosts),
                         allowed_hosts=settings.allowed_hosts,
                         cors_origins=settings.cors_origins)  # fmt: skip
    routers = [devices_router(view), registry_router(), history_router(), alerts_router(),
               device_ops_router()]  # fmt: skip
    api = Router(path="/api/v1", route_handlers=routers)
    # the live feed is built elsewhere: it is for viewers and up, whatever it declares
    live = Router(path="/", route_handlers=[live_router(view)], opt=access("viewer"))

    def provide_view() -> SiteView:
        return view

    def provide_metrics() -> HttpMetrics:
        return metrics

    app = Litestar(
        route_handlers=[api, ops_router(), live, *plugin_routers],
        dependencies={
            "view": Provide(provide_view, sync_to_thread=False, use_cache=True),
            "http_metrics": Provide(provide_metrics, sync_to_thread=False, use_cache=True),
        },
        middleware=[ApiMiddleware(rules, gate, metrics)],
        exception_handlers=EXCEPTION_HANDLERS,
        cors_config=_cors(settings),
        openapi_config=_openapi(),
        request_max_body_size=settings.max_body_bytes,
        # logging is configured once, by the entry point; Litestar's default would
        # replace meterhub's handler and format
        logging_config=None,
        state=State({STATE_KEY: ServeInfo(keys=keys, open_api=open_api,
                                          shutdown_timeout=settings.shutdown_timeout)}),
    )  # fmt: skip
    check_routes(route_handlers(app))
    prepare_handlers(app)
    document_errors(app)
    return app


def _cors(settings: ApiSettings) -> CORSConfig | None:
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["X-Next-Cursor", "Retry-After"],
        max_age=600,
    )


def _docs_not_found(response: Response[Any]) -> Response[Any]:
    """Litestar answers an unknown ``/schema/...`` page with HTML: make it a problem."""
    if response.status_code == HTTP_404_NOT_FOUND:
        return problem_response(404, "no such documentation page; see /schema")
    return response


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="meterhub",
        version=__version__,
        description=_DESCRIPTION,
        # served from the package, not a CDN: the pages work with no internet access
        render_plugins=[SwaggerPage()],
        openapi_router=Router(
            path="/schema",
            route_handlers=[],
            opt=access("public"),
            include_in_schema=False,
            after_request=_docs_not_found,
        ),
        components=Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="an API key from `meterhub keys create`",
                ),
            }
        ),
        # no document-wide security: document_errors sets it per operation
    )
