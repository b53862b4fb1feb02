"""The anomaly plugin around its detector: alerts raised and cleared, state kept across restarts.

The context is a fake of the plugin API's ``ProcessorContext`` that records what the
plugin does; its ``state`` is a dict. Expected statistics come from `statistics` on the
samples the test chose.
"""

from __future__ import annotations

import logging
import random
import statistics
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import pytest

from meterhub.model import Reading, Severity
from meterhub.plugins.anomaly import AnomalyProcessor, AnomalySettings

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from meterhub.plugins import Sample

POWER = "power_import_w"
METER = "m1"
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
STEP = timedelta(seconds=10)
STATE_KEY = "base_load"
LOGGER = "meterhub.plugin.anomaly"


class MemoryState:
    """``PluginState`` in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.values.get(key)

    async def put(self, key: str, value: bytes) -> None:
        self.values[key] = bytes(value)

    async def delete(self, key: str) -> bool:
        return self.values.pop(key, None) is not None

    async def items(self) -> dict[str, bytes]:
        return dict(self.values)


class NoHistory:
    """``SiteData`` the anomaly plugin must not need: every call is recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def meters(self) -> list[str]:
        self.calls.append("meters")
        return []

    async def readings(self, meter_id: str, **kwargs: Any) -> list[Sample]:
        self.calls.append(f"readings {meter_id} {kwargs}")
        return []

    async def consumption(self, meter_id: str, metric: str, **kwargs: Any) -> list[Any]:
        self.calls.append(f"consumption {meter_id} {metric} {kwargs}")
        return []

    async def latest(self, meter_id: str) -> Sample | None:
        self.calls.append(f"latest {meter_id}")
        return None


class Call(NamedTuple):
    action: str
    key: str
    meter_id: str
    value: float | None
    severity: Severity | None = None
    message: str | None = None
    evidence: dict[str, float | int | str] | None = None


class FakeContext:
    """A ``ProcessorContext`` that records alerts raised and cleared."""

    def __init__(self, state: MemoryState | None = None) -> None:
        self.name = "anomaly"
        self.logger = logging.getLogger(LOGGER)
        self.data = NoHistory()
        self.state = state if state is not None else MemoryState()
        self.calls: list[Call] = []
        self.unexpected: list[tuple[str, tuple[object, ...], dict[str, object]]] = []
        """Calls the anomaly plugin should never make (readings, events)."""

    def quiet_otherwise(self) -> bool:
        """It published nothing but alerts and read no history."""
        return not self.unexpected and not self.data.calls

    async def raise_alert(
        self,
        key: str,
        meter_id: str,
        *,
        message: str,
        severity: Severity = Severity.WARNING,
        value: float | None = None,
        evidence: Mapping[str, float | int | str] | None = None,
    ) -> None:
        self.calls.append(Call("raise", key, meter_id, value, severity, message,
                               dict(evidence or {})))  # fmt: skip

    async def clear_alert(self, key: str, meter_id: str, *, value: float | None = None) -> None:
        self.calls.append(Call("clear", key, meter_id, value))

    async def publish_reading(self, *args: object, **kwargs: object) -> None:
        self.unexpected.append(("publish_reading", args, kwargs))

    async def publish_event(self, *args: object, **kwargs: object) -> None:
        self.unexpected.append(("publish_event", args, kwargs))


def settings(**table: object) -> AnomalySettings:
    """As the plugin loader decodes its TOML table."""
    return msgspec.convert(table, AnomalySettings, strict=False)


async def started(plugin_settings: AnomalySettings,
                  context: FakeContext) -> AnomalyProcessor:  # fmt: skip
    plugin = AnomalyProcessor(plugin_settings)
    await plugin.start(context)
    return plugin


async def feed(plugin: AnomalyProcessor, context: FakeContext, readings: Iterable[Reading]) -> None:
    for reading in readings:
        await plugin.handle(reading, context)


def stream(values: Iterable[float], first: int = 0, origin: str | None = None) -> list[Reading]:
    """One reading of ``METER`` every 10 s from ``T0 + first * 10 s``."""
    return [Reading(meter_id=METER, ts=T0 + (first + index) * STEP, values={POWER: value},
                    origin=origin)
            for index, value in enumerate(values)]  # fmt: skip


def noise(count: int, seed: int = 7) -> list[float]:
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    return [400.0 + rng.gauss(0, 20) for _ in range(count)]


SPIKES = settings(base_load_metric=None)  # window 240, min_samples 60, 3 in a row, z > 6


# -- spikes -------------------------------------------------------------------------


async def test_a_spike_raises_one_alert_and_normal_readings_clear_it() -> None:
    context = FakeContext()
    plugin = await started(SPIKES, context)
    normal = noise(100)
    await feed(plugin, context, stream(normal))
    assert context.calls == []

    await feed(plugin, context, stream([5000.0] * 5, first=100))
    (alert,) = context.calls  # one alert for five anomalous samples in a row
    assert alert.action == "raise"
    assert alert.key == "spike:power_import_w"
    assert alert.meter_id == METER
    assert alert.severity is Severity.WARNING
    assert alert.value == 5000.0
    assert alert.message is not None
    assert POWER in alert.message
    # judged against the 100 normal samples: the ones building the alert were held out
    median = statistics.median(normal)
    mad = statistics.median([abs(value - median) for value in normal])
    evidence = alert.evidence
    assert evidence is not None
    assert evidence["median"] == pytest.approx(median)
    assert evidence["mad"] == pytest.approx(mad)
    assert evidence["z"] == pytest.approx(0.6745 * (5000.0 - median) / mad)
    assert evidence["samples"] == 100

    back = noise(3, seed=8)
    await feed(plugin, context, stream(back[:2], first=105))
    assert len(context.calls) == 1  # two normal samples are not yet "back to normal"
    await feed(plugin, context, stream(back[2:], first=107))
    assert context.calls[1:] == [Call("clear", "spike:power_import_w", METER, back[2])]
    assert context.quiet_otherwise()


async def test_derived_readings_are_ignored() -> None:
    values = [*noise(100), *[5000.0] * 3]
    derived_context = FakeContext()
    derived = await started(SPIKES, derived_context)
    await feed(derived, derived_context, stream(values, origin="costs"))
    assert derived_context.calls == []
    # and leave no trace: the window is still empty, so a real spike finds no verdict yet
    await feed(derived, derived_context, stream([5000.0] * 3, first=200))
    assert derived_context.calls == []

    # the same readings from the meter itself do raise
    meter_context = FakeContext()
    meter = await started(SPIKES, meter_context)
    await feed(meter, meter_context, stream(values))
    assert [c.action for c in meter_context.calls] == ["raise"]


async def test_other_meters_are_not_watched_when_meters_are_listed() -> None:
    context = FakeContext()
    plugin = await started(settings(base_load_metric=None, meters=["m2"]), context)
    await feed(plugin, context, stream([*noise(100), *[5000.0] * 3]))
    assert context.calls == []


# -- base load across restarts ------------------------------------------------------------

BASE = settings(metrics=["power_export_w"], timezone="UTC")  # base load only: 01:00-05:00
FIRST_NIGHT = date(2026, 3, 2)


def night(day: date, base: float) -> list[Reading]:
    """A sample every 5 minutes of the night, the lowest ``base``; one at 05:00 closes it."""
    start = datetime.combine(day, time(1), tzinfo=UTC)
    readings = [Reading(meter_id=METER, ts=start + index * timedelta(minutes=5),
                        values={POWER: base + (index % 6) * 15.0})
                for index in range(48)]  # fmt: skip
    readings.append(Reading(meter_id=METER, ts=start + timedelta(hours=4),
                            values={POWER: base + 900.0}))  # fmt: skip
    return readings


def nights(bases: Sequence[float], first: int = 0) -> list[Reading]:
    return [reading for index, base in enumerate(bases)
            for reading in night(FIRST_NIGHT + timedelta(days=first + index), base)]  # fmt: skip


def stored(context: FakeContext) -> object:
    raw = context.state.values.get(STATE_KEY)
    return None if raw is None else msgspec.json.decode(raw)


async def uninterrupted(bases: Sequence[float]) -> FakeContext:
    context = FakeContext()
    plugin = await started(BASE, context)
    await feed(plugin, context, nights(bases))
    return context


async def test_a_rising_base_load_fires_once_and_saves_the_history() -> None:
    context = await uninterrupted([100, 100, 100, 100, 400])
    (alert,) = context.calls
    assert alert.action == "raise"
    assert alert.key == "base_load:power_import_w"
    assert alert.value == 400.0
    assert alert.evidence is not None
    assert alert.evidence["baseline_median"] == 100.0
    assert alert.evidence["night"] == "2026-03-06"
    # saved when the verdict changed, without waiting for a clean stop
    assert stored(context) == {METER: [100.0, 100.0, 100.0, 100.0, 400.0]}


async def test_the_history_is_saved_when_a_night_finishes() -> None:
    context = FakeContext()
    plugin = await started(BASE, context)
    await feed(plugin, context, nights([100, 120]))
    # no stop(): a crash now must not lose the nights measured so far
    assert stored(context) == {METER: [100.0, 120.0]}


async def test_a_restarted_plugin_fires_like_an_uninterrupted_one() -> None:
    reference = await uninterrupted([100, 100, 100, 100, 400])

    before = FakeContext()
    first = await started(BASE, before)
    await feed(first, before, nights([100, 100, 100, 100]))
    await first.stop(before)
    assert before.calls == []
    assert stored(before) == {METER: [100.0, 100.0, 100.0, 100.0]}

    after = FakeContext(before.state)  # the same store, a new instance
    second = await started(BASE, after)
    await feed(second, after, nights([400], first=4))
    assert after.calls == reference.calls
    assert len(after.calls) == 1
    assert after.quiet_otherwise()

    # without the saved history the same night says nothing
    fresh = FakeContext()
    await feed(await started(BASE, fresh), fresh, nights([400], first=4))
    assert fresh.calls == []


async def test_a_restarted_plugin_clears_an_alert_raised_before() -> None:
    reference = await uninterrupted([100, 100, 100, 100, 400, 100])
    assert [c.action for c in reference.calls] == ["raise", "clear"]

    before = await uninterrupted([100, 100, 100, 100, 400])  # fired and saved, no stop()
    after = FakeContext(before.state)
    second = await started(BASE, after)
    await feed(second, after, nights([100], first=5))
    assert after.calls == reference.calls[1:]


@pytest.mark.parametrize("garbage", [b"not json", b'{"m1": "high"}', b"[1, 2, 3]"])
async def test_an_unreadable_state_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    context = FakeContext()
    context.state.values[STATE_KEY] = garbage
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        plugin = await started(BASE, context)
    warnings = [r for r in caplog.records if r.name == LOGGER]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "unreadable" in warnings[0].getMessage()

    # and it works as if it had started afresh, replacing the garbage on its first save
    reference = await uninterrupted([100, 100, 100, 100, 400])
    await feed(plugin, context, nights([100, 100, 100, 100, 400]))
    assert context.calls == reference.calls
    assert context.quiet_otherwise()
    assert stored(context) == {METER: [100.0, 100.0, 100.0, 100.0, 400.0]}
