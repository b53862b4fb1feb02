"""Actors that derive from readings: trends and consumption, and alerts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import msgspec

from meterhub.actors._alert_rules import PluginFinding
from meterhub.actors._rebuild import lookback, newest_per_meter, stored_readings
from meterhub.model import Alert, MeterStatus, Quality, Reading
from meterhub.platform import Actor, BatchActor, Reply
from meterhub.topics import ALERTS, CONSUMPTION, METER_STATUS, READINGS, TRENDS

if TYPE_CHECKING:
    from meterhub.actors._alert_rules import AlertEngine
    from meterhub.actors._consumption import ConsumptionTracker
    from meterhub.actors._counters import Counters
    from meterhub.actors._trends import TrendTracker
    from meterhub.adapters.stores import Store

TARIFF_TOTALS: dict[str, tuple[str, ...]] = {
    "energy_import_wh": ("energy_import_t1_wh", "energy_import_t2_wh"),
    "energy_export_wh": ("energy_export_t1_wh", "energy_export_t2_wh"),
}
"""Totals a meter may send only as tariff registers (DSMR 5.0.2 §6.12: OBIS 1-0:1.8.1
and 1-0:1.8.2, no 1-0:1.8.0): the total is their sum, a counter like its parts."""


def with_totals(values: dict[str, float]) -> dict[str, float]:
    """``values`` and each total of ``TARIFF_TOTALS`` it lacks but has all parts of."""
    out: dict[str, float] | None = None
    for total, parts in TARIFF_TOTALS.items():
        if total in values or parts[0] not in values:
            continue  # the usual telegram: a total of its own, or no tariffs
        if all(part in values for part in parts):
            out = dict(values) if out is None else out  # the reading's own stays unchanged
            out[total] = sum(values[part] for part in parts)
    return values if out is None else out


class AggregatorActor(BatchActor[Reading]):
    """Folds readings into trends and, for the declared counters, consumption.

    Given a store, it first rebuilds the windows open at the last stop from the stored
    readings (see ``meterhub.actors._rebuild``), so a restart neither loses nor counts
    twice a reading of a window.
    """

    def __init__(
        self,
        trends: TrendTracker,
        consumption: ConsumptionTracker,
        counters: Counters,
        store: Store | None = None,
    ) -> None:
        self._trends = trends
        self._consumption = consumption
        self._counters = counters
        self._store = store
        # meter -> its newest rebuilt reading: a live copy of one is not folded again
        self._rebuilt: dict[str, datetime] = {}

    async def on_start(self) -> None:
        """Subscribe to the validated readings, then rebuild the open windows."""
        READINGS.subscribe(self.context.bus, self.context.ref)
        if self._store is not None:
            await self._rebuild(self._store)

    async def _rebuild(self, store: Store) -> None:
        trends, consumption = self._trends, self._consumption
        for meter_id, last in (await newest_per_meter(store)).items():
            start, open_interval = lookback(last, trends.windows_s, consumption.interval_s)
            for ts, values, invalid in await stored_readings(store, meter_id, start, last):
                if invalid:
                    continue
                totals = with_totals(values)
                trends.add(meter_id, ts, totals)
                for metric, value in totals.items():
                    if self._is_counter(metric):
                        consumption.restore(meter_id, metric, ts, value, open_interval)
            trends.discard_before(meter_id, start)
            self._rebuilt[meter_id] = last

    def _is_counter(self, metric: str) -> bool:
        return metric in self._counters or metric in TARIFF_TOTALS

    async def handle_batch(self, messages: list[Reading]) -> None:
        """Fold readings into the open windows, in order; publish what closed."""
        bus, rebuilt = self.context.bus, self._rebuilt
        for message in messages:
            if message.quality is Quality.INVALID:
                continue  # an impossible value would poison averages and consumption
            meter_id, ts = message.meter_id, message.ts
            if rebuilt and meter_id in rebuilt:
                if ts <= rebuilt[meter_id]:
                    continue  # stored before the rebuild read it back: folded already
                del rebuilt[meter_id]
            values = with_totals(message.values)
            for trend in self._trends.add(meter_id, ts, values):
                await TRENDS.publish(bus, meter_id, trend)
            for metric, value in values.items():
                if self._is_counter(metric):
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


AlerterMessage = Reading | MeterStatus | AlertCommand | AlertTick | AlertQuery | PluginFinding


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
        elif isinstance(message, PluginFinding):
            changes = self._engine.on_plugin(message, now)
        for alert in changes:
            await ALERTS.publish(self.context.bus, alert.meter_id, alert)
