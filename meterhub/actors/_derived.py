"""Actors that derive from readings: trends and consumption, and alerts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import anyio
import msgspec

from meterhub.actors._meter_status import MeterStatus
from meterhub.model import Alert, Quality, Reading
from meterhub.platform import Actor, Reply

if TYPE_CHECKING:
    from meterhub.actors._alert_rules import AlertEngine
    from meterhub.actors._consumption import ConsumptionTracker
    from meterhub.actors._trends import TrendTracker

# cumulative registers: consumption is computed from their differences
COUNTER_PREFIXES = ("energy_", "reactive_energy_", "mbus_")


class AggregatorActor(Actor[Reading]):
    """Folds readings into trends and consumption.

    Closed trend windows go out on ``trends/<meter>``, closed consumption intervals on
    ``consumption/<meter>``.
    """

    def __init__(self, trends: TrendTracker, consumption: ConsumptionTracker) -> None:
        self._trends = trends
        self._consumption = consumption
        self._is_counter: dict[str, bool] = {}  # metric name -> a cumulative register?

    async def on_start(self) -> None:
        """Subscribe to the validated readings."""
        self.context.bus.subscribe("readings/#", self.context.ref)

    async def handle_batch(self, messages: list[Reading]) -> None:
        """Fold readings into the open windows, in order; publish what closed."""
        publish, is_counter = self.context.bus.publish, self._is_counter
        for message in messages:
            if message.quality is Quality.INVALID:
                continue  # an impossible value would poison averages and consumption
            meter_id, ts = message.meter_id, message.ts
            for trend in self._trends.add(meter_id, ts, message.values):
                await publish(f"trends/{meter_id}", trend)
            for metric, value in message.values.items():
                counter = is_counter.get(metric)
                if counter is None:
                    counter = is_counter[metric] = metric.startswith(COUNTER_PREFIXES)
                if counter:
                    for row in self._consumption.add(
                        meter_id, metric, ts, value, message.meter_number
                    ):
                        await publish(f"consumption/{meter_id}", row)

    async def handle(self, message: Reading) -> None:
        """One reading (the runtime prefers ``handle_batch``)."""
        await self.handle_batch([message])

    async def on_stop(self) -> None:
        """Publish the windows still open, so a clean stop loses no partial statistics."""
        bus = self.context.bus
        for trend in self._trends.flush():
            await bus.publish(f"trends/{trend.meter_id}", trend)
        for row in self._consumption.flush():
            await bus.publish(f"consumption/{row.meter_id}", row)


@dataclasses.dataclass(frozen=True, slots=True)
class AlertCommand:
    """An operator acknowledges or resolves an alert (the API sends these).

    The reply carries the changed alert, or None when it was unknown or not in a state
    that allows the action.
    """

    alert_id: str
    action: Literal["acknowledge", "resolve"]
    reply: Reply[Alert | None] | None = None


class AlertTick(msgspec.Struct, frozen=True):
    """Time to look for silent meters."""


class AlertQuery:
    """Asks for the alerts that are not resolved."""

    def __init__(self, reply: Reply[list[Alert]]) -> None:
        self.reply = reply


AlerterMessage = Reading | MeterStatus | AlertCommand | AlertTick | AlertQuery


class AlerterActor(Actor[AlerterMessage]):
    """Evaluates alert rules; publishes every alert change on ``alerts/<meter>``."""

    def __init__(self, engine: AlertEngine, meters: list[str], tick_s: float = 10.0) -> None:
        self._engine = engine
        self._meters = meters
        self._tick_s = tick_s

    async def on_start(self) -> None:
        """Subscribe to readings and meter status; start the clock."""
        bus, ref = self.context.bus, self.context.ref
        bus.subscribe("readings/#", ref)
        bus.subscribe("status/#", ref)
        self.context.start_background(self._tick, "tick")

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(self._tick_s)
            await self.context.ref.send(AlertTick())

    async def handle(self, message: AlerterMessage) -> None:
        """Apply one event to the rules and publish the alerts it changed."""
        now = datetime.now(UTC)
        changes: list[Alert] = []
        if isinstance(message, Reading):
            changes = self._engine.on_reading(message)
        elif isinstance(message, AlertTick):
            changes = self._engine.on_tick(now, self._meters)
        elif isinstance(message, AlertCommand):
            engine = self._engine
            act = engine.acknowledge if message.action == "acknowledge" else engine.resolve
            changed = act(message.alert_id, now)
            changes = [changed] if changed is not None else []
            if message.reply is not None:
                message.reply.send(changed)
        elif isinstance(message, AlertQuery):
            message.reply.send(self._engine.active)
        for alert in changes:
            await self.context.bus.publish(f"alerts/{alert.meter_id}", alert)
