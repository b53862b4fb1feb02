"""Actors that derive from readings: trends and consumption, and alerts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import msgspec

from meterhub.model import Alert, MeterStatus, Quality, Reading
from meterhub.platform import Actor, BatchActor, Reply
from meterhub.topics import ALERTS, CONSUMPTION, METER_STATUS, READINGS, TRENDS

if TYPE_CHECKING:
    from meterhub.actors._alert_rules import AlertEngine
    from meterhub.actors._consumption import ConsumptionTracker
    from meterhub.actors._counters import Counters
    from meterhub.actors._trends import TrendTracker


class AggregatorActor(BatchActor[Reading]):
    """Folds readings into trends and, for the declared counters, consumption."""

    def __init__(
        self, trends: TrendTracker, consumption: ConsumptionTracker, counters: Counters
    ) -> None:
        self._trends = trends
        self._consumption = consumption
        self._counters = counters

    async def on_start(self) -> None:
        """Subscribe to the validated readings."""
        READINGS.subscribe(self.context.bus, self.context.ref)

    async def handle_batch(self, messages: list[Reading]) -> None:
        """Fold readings into the open windows, in order; publish what closed."""
        bus, counters = self.context.bus, self._counters
        for message in messages:
            if message.quality is Quality.INVALID:
                continue  # an impossible value would poison averages and consumption
            meter_id, ts = message.meter_id, message.ts
            for trend in self._trends.add(meter_id, ts, message.values):
                await TRENDS.publish(bus, meter_id, trend)
            for metric, value in message.values.items():
                if metric in counters:
                    for row in self._consumption.add(
                        meter_id, metric, ts, value, message.meter_number
                    ):
                        await CONSUMPTION.publish(bus, meter_id, row)

    async def on_stop(self) -> None:
        """Publish the windows still open, so a clean stop loses no partial statistics."""
        bus = self.context.bus
        for trend in self._trends.flush():
            await TRENDS.publish(bus, trend.meter_id, trend)
        for row in self._consumption.flush():
            await CONSUMPTION.publish(bus, row.meter_id, row)


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
        READINGS.subscribe(bus, ref)
        METER_STATUS.subscribe(bus, ref)
        self.context.every(self._tick_s, AlertTick, "tick")

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
            await ALERTS.publish(self.context.bus, alert.meter_id, alert)
