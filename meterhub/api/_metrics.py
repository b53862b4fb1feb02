"""HTTP request metrics, rendered after the runtime's own at ``/metrics``.

Each app has its own Prometheus registry, so several apps (tests, benchmarks) never
share series, and nothing is added to the global registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

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
