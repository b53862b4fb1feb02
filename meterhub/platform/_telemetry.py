"""OpenTelemetry metrics for every actor, readable in Prometheus text format.

Actors count in plain integers on the hot path; observable instruments read those
counters only when metrics are collected, so a message costs no OpenTelemetry call at
all (STACK.md §5: ``counter.add`` alone costs 2.5-8 µs).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics import ObservableCounter as SdkObservableCounter
from opentelemetry.sdk.metrics import ObservableGauge as SdkObservableGauge
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from meterhub.platform._status import ActorStatus
    from meterhub.platform._system import ActorSystem

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# the SDK's default of 2,000 series per instrument would fold a large site's meters
# into one overflow series
_SERIES_LIMIT = 1_000_000


class Telemetry:
    """A meter provider whose metrics are rendered as Prometheus text.

    Args:
        service: the ``service.name`` resource attribute.
        registry: where the Prometheus reader registers; a fresh one by default, so
            several systems (tests, benchmarks) never share series.
    """

    def __init__(
        self, service: str = "meterhub", registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._reader = PrometheusMetricReader(
            registry=self.registry,
            cardinality_limits={
                SdkObservableCounter: _SERIES_LIMIT,
                SdkObservableGauge: _SERIES_LIMIT,
            },
        )
        self.provider = MeterProvider(
            metric_readers=[self._reader],
            resource=Resource.create({"service.name": service}),
        )
        self.meter = self.provider.get_meter("meterhub")

    def render(self) -> bytes:
        """Every metric in Prometheus text exposition format."""
        return bytes(generate_latest(self.registry))

    def shutdown(self) -> None:
        """Stop collecting; the reader unregisters from its registry."""
        self.provider.shutdown()


class ActorMetrics:
    """Observable instruments over an actor system's status snapshot."""

    def __init__(self, system: ActorSystem, telemetry: Telemetry) -> None:
        self._system = system
        self._snapshot: list[ActorStatus] = []
        self._taken = 0.0
        meter = telemetry.meter
        counters: list[tuple[str, str, str, Callable[[ActorStatus], float]]] = [
            ("meterhub.actor.processed", "{message}", "messages handled", lambda s: s.processed),
            ("meterhub.actor.failed", "{message}", "messages whose handler raised",
             lambda s: s.failed),
            ("meterhub.actor.dropped", "{message}", "messages dropped by drop_oldest mailboxes",
             lambda s: s.dropped),
            ("meterhub.actor.restarts", "{restart}", "restarts by the supervisor",
             lambda s: s.restarts),
            ("meterhub.actor.handling", "s", "time spent in message handlers",
             lambda s: s.handling_seconds),
        ]  # fmt: skip
        for name, unit, description, read in counters:
            meter.create_observable_counter(
                name, callbacks=[self._callback(read)], unit=unit, description=description
            )
        meter.create_observable_gauge(
            "meterhub.actor.mailbox.depth",
            callbacks=[self._callback(lambda s: s.mailbox_depth, actors_only=True)],
            unit="{message}",
            description="messages waiting in the mailbox",
        )
        meter.create_observable_gauge(
            "meterhub.component.ready",
            callbacks=[self._readiness],
            description="1 while the site is ready, 0 when a component failed",
        )

    def _statuses(self) -> list[ActorStatus]:
        # all instruments are read in one collection: take one snapshot for all of them
        now = time.monotonic()
        if now - self._taken > 0.5:  # noqa: PLR2004 (half a second: one scrape)
            self._snapshot = self._system.status()
            self._taken = now
        return self._snapshot

    def _callback(
        self, read: Callable[[ActorStatus], float], *, actors_only: bool = False
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(read(s), {"actor": s.name, "kind": s.kind})
                for s in self._statuses()
                if not actors_only or s.kind == "actor"
            ]

        return observe

    def _readiness(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1 if self._system.readiness().ready else 0)]
