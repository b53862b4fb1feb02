"""Operations: ``/api/v1/status``, ``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

from litestar import Response, Router, get

from meterhub.api._auth import access
from meterhub.api._deps import Metrics, View  # noqa: TC001 (Litestar resolves them at runtime)
from meterhub.api._problems import ApiProblem, problem_specs
from meterhub.api._schemas import Health, MeterHealth, StatusOut
from meterhub.platform import Readiness  # noqa: TC001 (Litestar resolves it at runtime)
from meterhub.plugins import PluginReport  # noqa: TC001 (Litestar resolves it at runtime)

_TAGS = ["operations"]
# Litestar adds the charset itself
_PROMETHEUS = "text/plain; version=0.0.4"


def _meter_health(view: View, meter_id: str) -> MeterHealth:
    entry = view.board.get(meter_id)
    if entry is None:
        return MeterHealth(meter_id=meter_id, state=None, readings=0, decode_errors=0,
                           errors={}, last_error=None)  # fmt: skip
    status = entry.status
    return MeterHealth(
        meter_id=meter_id, state=str(status.state), readings=status.readings,
        decode_errors=sum(status.errors.values()), errors=dict(status.errors),
        last_error=status.last_error,
    )  # fmt: skip


@get("/api/v1/status", opt=access("viewer"), summary="Actors and meters", tags=_TAGS)
async def status(view: View) -> StatusOut:
    """Every actor's state, mailbox depth, restarts and last error; each meter's decode errors."""
    meters = sorted(set(view.meter_ids()) | set(view.board.meters()))
    return StatusOut(actors=view.actor_status(),
                     meters=[_meter_health(view, m) for m in meters],
                     plugins=view.plugin_reports())  # fmt: skip


@get("/api/v1/plugins", opt=access("viewer"), summary="Plugins", tags=["plugins"])
async def plugins(view: View) -> list[PluginReport]:
    """Every installed plugin: its interfaces, version, state and last error.

    ``available``: installed, not configured; ``off``: ``enabled = false``; ``refused``:
    it failed to import, targets another plugin API or its settings are invalid;
    ``running``; ``restarting`` after a crash; ``disabled``: it kept crashing and is
    tried again later.
    """
    return view.plugin_reports()


@get("/health", opt=access("public"), summary="Liveness", tags=_TAGS, security=[{}])
async def health() -> Health:
    """The process is alive and serving HTTP."""
    return Health()


@get("/ready", opt=access("public"), summary="Readiness", tags=_TAGS, security=[{}],
     responses=problem_specs(503))  # fmt: skip
async def ready(view: View) -> Readiness:
    """Ready, or 503 naming the components that failed and why."""
    readiness = view.readiness()
    if not readiness.ready:
        failed = readiness.failed
        detail = (f"not ready: {', '.join(failed)} failed" if failed
                  else f"not ready: {readiness.state}")  # fmt: skip
        raise ApiProblem(503, detail, slug="not-ready", failed=list(failed),
                         reasons=dict(readiness.reasons))  # fmt: skip
    return readiness


@get("/metrics", opt=access("viewer"), summary="Prometheus metrics", tags=_TAGS,
     media_type=_PROMETHEUS)  # fmt: skip
async def metrics(view: View, http_metrics: Metrics) -> Response[bytes]:
    """The runtime's OpenTelemetry metrics and the API's request metrics, Prometheus text."""
    body = view.metrics_text().rstrip(b"\n") + b"\n" + http_metrics.render()
    return Response(body, media_type=_PROMETHEUS)


def ops_router() -> Router:
    """The operations routes."""
    return Router(path="/", route_handlers=[status, plugins, health, ready, metrics])
