"""``create_app``: the Litestar app of a site, built once with every route."""

from __future__ import annotations

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
    is_loopback,
    route_handlers,
)
from meterhub.api._devices import devices_router
from meterhub.api._docs import SECURITY_SCHEME, SwaggerPage, document_errors, prepare_handlers
from meterhub.api._history import history_router
from meterhub.api._live import live_router
from meterhub.api._media import require_json
from meterhub.api._metrics import HttpMetrics
from meterhub.api._middleware import ApiMiddleware
from meterhub.api._ops import ops_router
from meterhub.api._problems import EXCEPTION_HANDLERS, problem_response
from meterhub.api._registry import registry_router
from meterhub.api._view import SiteView  # noqa: TC001 (Litestar resolves it at runtime)
from meterhub.platform import ConfigError

if TYPE_CHECKING:
    from meterhub.api._keys import KeyStore
    from meterhub.settings import ApiSettings

STATE_KEY = "meterhub_api"
CREATE_KEY_HINT = (
    "create one with `meterhub keys create --role admin` (with the same -c/--data-dir as "
    "`run`), or listen on a loopback address such as 127.0.0.1"
)
_DESCRIPTION = """The HTTP API of one meterhub site.

Send `Authorization: Bearer KEY` (keys: `meterhub keys create --role viewer|operator|admin`).
Roles: `viewer` reads everything and watches the live feed, `operator` also acknowledges
and resolves alerts, `admin` also manages devices, device types and applications. On a
loopback address with no key created the API is open. Errors are RFC 9457 problem
details (`application/problem+json`).
"""


@dataclass(frozen=True, kw_only=True)
class ServeInfo:
    """What ``serve`` needs to know about an app ``create_app`` built."""

    keys: KeyStore
    shutdown_timeout: float


def refuse_open(host: str, keys: KeyStore) -> None:
    """Refuse a non-loopback address while no API key exists.

    Raises:
        ConfigError: the API would be open to the network.
    """
    if not is_loopback(host) and keys.is_empty():
        raise ConfigError("api.listen", "",
                          f"{host} is reachable from other machines and no API key exists: "
                          + CREATE_KEY_HINT)  # fmt: skip


def create_app(view: SiteView, settings: ApiSettings, keys: KeyStore) -> Litestar:
    """The site's HTTP API (serve it with :func:`meterhub.api.serve`).

    Args:
        view: the running site, as the API may see it.
        settings: the ``[api]`` settings.
        keys: the site's API keys (re-read when the file changes).

    Raises:
        ConfigError: ``settings.listen`` is not a loopback address and no key exists.
    """
    refuse_open(settings.host, keys)
    metrics = HttpMetrics()
    gate = AccessGate(
        keys, loopback=is_loopback(settings.host),
        limiter=RateLimiter(settings.rate_limit_per_minute),
    )  # fmt: skip
    api = Router(
        path="/api/v1",
        route_handlers=[devices_router(view), registry_router(), history_router(), alerts_router()],
    )
    # the live feed is built elsewhere: it is for viewers and up, whatever it declares
    live = Router(path="/", route_handlers=[live_router(view)], opt=access("viewer"))

    def provide_view() -> SiteView:
        return view

    def provide_metrics() -> HttpMetrics:
        return metrics

    app = Litestar(
        route_handlers=[api, ops_router(), live],
        dependencies={
            "view": Provide(provide_view, sync_to_thread=False, use_cache=True),
            "http_metrics": Provide(provide_metrics, sync_to_thread=False, use_cache=True),
        },
        middleware=[ApiMiddleware(gate, metrics)],
        before_request=require_json,
        exception_handlers=EXCEPTION_HANDLERS,
        cors_config=_cors(settings),
        openapi_config=_openapi(),
        request_max_body_size=settings.max_body_bytes,
        # logging is configured once, by the entry point; Litestar's default would
        # replace meterhub's handler and format
        logging_config=None,
        state=State({STATE_KEY: ServeInfo(keys=keys,
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
