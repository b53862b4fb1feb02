"""HTTP request metrics, rendered after the runtime's own at ``/metrics``.

Each app has its own Prometheus registry, so several apps (tests, benchmarks) never
share series, and nothing is added to the global registry.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from meterhub.api._problems import ApiProblem

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Counters and a latency histogram per method, route template and status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "meterhub_http_requests", "HTTP requests answered",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "meterhub_http_request_duration_seconds", "Time to answer an HTTP request",
            ["method", "route"], registry=self.registry, buckets=_BUCKETS,
        )  # fmt: skip
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            # labels() validates and locks on every call; a route's series are few
            series = self._series[key] = (self.requests.labels(method, route, str(status)),
                                          self.duration.labels(method, route))  # fmt: skip
        series[0].inc()
        series[1].observe(seconds)

    def render(self) -> bytes:
        """The HTTP metrics in Prometheus text format."""
        return generate_latest(self.registry)


def _status_of(exc: Exception) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, ApiProblem):
        return exc.status
    return 500


class MetricsMiddleware(ASGIMiddleware):
    """Time every routed HTTP request (also those refused by auth or rate limit)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, metrics: HttpMetrics) -> None:
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Pass the request on and record its status and duration."""
        if scope["type"] != ScopeType.HTTP:  # pragma: no cover - scopes says HTTP only
            await next_app(scope, receive, send)
            return
        method = scope["method"]
        status = 500
        began = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, sending)
        except Exception as exc:
            status = _status_of(exc)
            raise
        finally:
            route = scope.get("path_template") or "unmatched"
            self.metrics.observe(method, route, status, time.perf_counter() - began)
