"""The anomaly plugin's pure detector: robust spikes and a rising night base load.

Expected numbers come from `statistics` on the samples the test itself chose, not from
the detector's own helpers.
"""

from __future__ import annotations

import random
import re
import statistics
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.plugins.anomaly import AnomalyDetector, AnomalySettings, Finding
from meterhub.plugins.anomaly._detector import _Window

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
STEP = timedelta(seconds=10)
POWER = "power_import_w"
MINUTE = timedelta(minutes=1)


def settings(**table: object) -> AnomalySettings:
    """As the plugin loader decodes its TOML table."""
    return msgspec.convert(table, AnomalySettings, strict=False)


def spikes_only(**table: object) -> AnomalyDetector:
    return AnomalyDetector(settings(base_load_metric=None, **table))


class Feed:
    """One meter's metric, a sample every 10 s."""

    def __init__(self, detector: AnomalyDetector, meter: str = "m1", metric: str = POWER) -> None:
        self.detector, self.meter, self.metric, self.count = detector, meter, metric, 0

    def send(self, value: float) -> list[Finding]:
        ts = T0 + self.count * STEP
        self.count += 1
        return self.detector.observe(self.meter, ts, {self.metric: value})

    def send_all(self, values: Iterable[float]) -> list[Finding]:
        return [finding for value in values for finding in self.send(value)]


def noise(count: int, seed: int = 7, level: float = 400.0, sd: float = 20.0) -> list[float]:
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    return [level + rng.gauss(0, sd) for _ in range(count)]


def robust(window: list[float], value: float) -> tuple[float, float, float]:
    """Median, MAD and modified z-score (Iglewicz and Hoaglin) of ``value``."""
    median = statistics.median(window)
    mad = statistics.median([abs(sample - median) for sample in window])
    return median, mad, 0.6745 * (value - median) / mad


# -- spikes -------------------------------------------------------------------------


def test_no_verdict_before_min_samples() -> None:
    early = Feed(spikes_only())  # min_samples 60
    assert early.send_all(noise(55)) == []
    assert early.send_all([5000.0] * 4) == []  # the window holds 55..58 samples

    # the same step after a full warm-up fires: the silence above was min_samples
    ready = Feed(spikes_only())
    assert ready.send_all(noise(60)) == []
    assert len(ready.send_all([5000.0] * 3)) == 1


def test_short_spikes_do_not_fire_three_in_a_row_do() -> None:
    normal = noise(120)
    feed = Feed(spikes_only())
    assert feed.send_all(normal[:100]) == []
    assert feed.send_all([5000.0]) == []
    assert feed.send_all(normal[100:110]) == []
    assert feed.send_all([5000.0, 5100.0]) == []
    assert feed.send_all(normal[110:120]) == []

    findings = feed.send_all([5000.0, 5200.0, 5400.0])

    assert len(findings) == 1
    (finding,) = findings
    assert (finding.kind, finding.meter_id, finding.metric) == ("spike", "m1", POWER)
    assert finding.firing
    assert finding.value == 5400.0
    assert finding.ts == T0 + 125 * STEP
    # the short spikes never entered the window: it holds only the 120 normal samples
    median, mad, z = robust(normal, 5400.0)
    assert finding.evidence["median"] == median
    assert finding.evidence["mad"] == mad
    assert finding.evidence["z"] == pytest.approx(z)
    assert finding.evidence["samples"] == 120
    assert finding.evidence["window"] == 240
    assert finding.evidence["threshold"] == 6.0
    assert finding.message.startswith(f"{POWER} 5400 is {z:.1f} robust SDs above the median ")
    assert "of the last 120 samples" in finding.message


def test_resolves_after_consecutive_normal_samples() -> None:
    normal = noise(110)
    feed = Feed(spikes_only())
    feed.send_all(normal[:100])
    assert [f.firing for f in feed.send_all([5000.0] * 3)] == [True]

    assert feed.send_all(normal[100:102]) == []
    assert feed.send_all([5000.0]) == []  # still anomalous: the run of normal ones restarts
    assert feed.send_all(normal[102:104]) == []
    findings = feed.send(normal[104])

    assert len(findings) == 1
    (finding,) = findings
    assert not finding.firing
    assert finding.value == normal[104]
    # once the alert is open every sample goes into the window, the held ones too
    window = [*normal[:100], 5000.0, 5000.0, 5000.0, *normal[100:102], 5000.0, *normal[102:104]]
    median, mad, _ = robust(window, normal[104])
    assert finding.evidence["median"] == median
    assert finding.evidence["mad"] == mad
    assert finding.evidence["samples"] == len(window)
    assert "back to normal" in finding.message
    assert feed.send_all(normal[105:110]) == []


def test_a_lasting_step_becomes_the_new_normal_and_resolves() -> None:
    feed = Feed(spikes_only(window=60, min_samples=30))
    feed.send_all(noise(60))
    verdicts: list[tuple[int, bool]] = []
    for index, value in enumerate(noise(200, seed=8, level=2400.0)):
        verdicts += [(index, finding.firing) for finding in feed.send(value)]

    assert [firing for _, firing in verdicts] == [True, False]
    (opened, _), (resolved, _) = verdicts
    assert opened == 2
    # not at once: only when the step holds most of the window is it the median
    assert 30 <= resolved < 60


def test_flat_signal_small_jump_stays_quiet() -> None:
    feed = Feed(spikes_only(min_samples=20))  # min_deviation 50
    feed.send_all([400.0] * 30)
    # MAD and mean absolute deviation are 0: z is infinite, but 30 W is below min_deviation
    assert feed.send_all([430.0] * 5) == []


@pytest.mark.parametrize(("jump", "z", "side"), [(460.0, "inf", "above"), (340.0, "-inf", "below")])
def test_flat_signal_with_a_jump_fires(jump: float, z: str, side: str) -> None:
    feed = Feed(spikes_only(min_samples=20))
    feed.send_all([400.0] * 30)

    (finding,) = feed.send_all([jump] * 3)

    assert finding.firing
    assert finding.evidence["median"] == 400.0
    assert finding.evidence["mad"] == 0.0
    assert finding.evidence["sigma"] == 0.0
    assert finding.evidence["z"] == z
    assert finding.message == (
        f"{POWER} {jump:g} is 60 {side} the median 400 of the last 30 samples, "
        "which do not vary (MAD 0)"
    )


def test_mostly_flat_signal_uses_the_mean_absolute_deviation() -> None:
    feed = Feed(spikes_only(min_samples=20))
    window = [400.0] * 30 + [430.0] * 5
    feed.send_all(window)

    (finding,) = feed.send_all([460.0] * 3)

    assert statistics.median([abs(v - 400.0) for v in window]) == 0  # MAD 0: the fallback
    mean_ad = statistics.fmean([abs(v - 400.0) for v in window])
    assert finding.evidence["mad"] == 0.0
    assert finding.evidence["z"] == pytest.approx(60.0 / (1.2533 * mean_ad))


def test_meters_and_metrics_are_independent() -> None:
    detector = spikes_only(metrics=[POWER, "voltage_l1_v"], min_deviation=20)
    a_power, b_power = noise(100, seed=1), noise(100, seed=3, level=1000.0, sd=50.0)
    a_volts, b_volts = noise(100, 2, 230.0, 1.0), noise(100, 4, 231.0, 1.0)
    ts = iter(T0 + i * STEP for i in range(1000))
    for sample in zip(a_power, a_volts, b_power, b_volts, strict=True):
        assert detector.observe("a", next(ts), {POWER: sample[0], "voltage_l1_v": sample[1]}) == []
        assert detector.observe("b", next(ts), {POWER: sample[2], "voltage_l1_v": sample[3]}) == []

    a_findings = []
    b_findings = []
    for _ in range(3):
        a_findings += detector.observe("a", next(ts), {POWER: 400.0, "voltage_l1_v": 150.0})
        b_findings += detector.observe("b", next(ts), {POWER: 3000.0, "voltage_l1_v": 231.0})

    assert [(f.meter_id, f.metric) for f in a_findings] == [("a", "voltage_l1_v")]
    assert [(f.meter_id, f.metric) for f in b_findings] == [("b", POWER)]
    assert a_findings[0].evidence["median"] == statistics.median(a_volts)
    assert " robust SDs below the median " in a_findings[0].message
    assert b_findings[0].evidence["median"] == statistics.median(b_power)


def test_meters_filter() -> None:
    detector = spikes_only(meters=["a"])
    watched, ignored = Feed(detector, "a"), Feed(detector, "b")
    ignored.send_all(noise(100))
    watched.send_all(noise(100))

    assert ignored.send_all([5000.0] * 3) == []
    assert len(watched.send_all([5000.0] * 3)) == 1


def test_missing_and_non_finite_values_are_skipped() -> None:
    normal = noise(100)
    feed = Feed(spikes_only())
    for index, value in enumerate(normal):
        feed.send(value)
        feed.send([float("nan"), float("inf"), float("-inf")][index % 3])
        feed.detector.observe("m1", T0, {"energy_import_wh": 1.0})

    (finding,) = feed.send_all([5000.0] * 3)

    assert finding.evidence["samples"] == 100
    assert finding.evidence["median"] == statistics.median(normal)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        spikes_only().observe("m1", datetime(2026, 3, 1), {POWER: 1.0})  # noqa: DTZ001


@given(
    size=st.integers(1, 40),
    values=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0.0, 1.0, 2.0]),
        min_size=1,
        max_size=100,
    ),
)
def test_window_median_and_mad_match_statistics(size: int, values: list[float]) -> None:
    window = _Window(size)
    for index, value in enumerate(values):
        window.add(value)
        kept = values[max(0, index + 1 - size) : index + 1]
        median = statistics.median(kept)
        assert window.median() == median
        assert window.mad(median) == statistics.median([abs(v - median) for v in kept])


# -- base load ----------------------------------------------------------------------


def simulate(
    detector: AnomalyDetector,
    zone: ZoneInfo,
    first: datetime,
    last: datetime,
    value_at: Callable[[datetime], float],
) -> list[Finding]:
    """A sample a minute from ``first`` to before ``last`` (UTC); ``value_at`` sees local time."""
    findings: list[Finding] = []
    ts = first.astimezone(UTC)  # aware arithmetic in one zone would step the wall clock
    while ts < last:
        value = value_at(ts.astimezone(zone))
        findings += detector.observe("m1", ts, {POWER: value})
        ts += MINUTE
    return findings


def fridge_night(base_of: Mapping[date, float]) -> Callable[[datetime], float]:
    """01:00-05:00 a fridge on its base (compressor on 10 min in 30), busier by day."""

    def value_at(local: datetime) -> float:
        if 1 <= local.hour < 5:
            return base_of[local.date()] + (60.0 if local.minute % 30 < 10 else 0.0)
        return 600.0 + 200.0 * (local.minute % 7)

    return value_at


WEEK = {date(2026, 3, day): 80.0 + day % 3 for day in range(1, 8)}
WEEK |= {date(2026, 3, 8): 400.0, date(2026, 3, 9): 400.0, date(2026, 3, 10): 81.0}
WEEK_START, WEEK_END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)


def base_loads(**table: object) -> AnomalyDetector:
    return AnomalyDetector(settings(metrics=[], **table))


def test_base_load_rising_fires_once_and_resolves() -> None:
    detector = base_loads()
    findings = simulate(detector, ZoneInfo("UTC"), WEEK_START, WEEK_END, fridge_night(WEEK))

    assert [(f.firing, f.ts) for f in findings] == [
        (True, datetime(2026, 3, 8, 5, tzinfo=UTC)),  # the first sample after the night
        (False, datetime(2026, 3, 10, 5, tzinfo=UTC)),
    ]
    fired, resolved = findings
    previous = [WEEK[date(2026, 3, day)] for day in range(1, 8)]
    assert (fired.kind, fired.metric, fired.value) == ("base_load", POWER, 400.0)
    assert fired.evidence == {
        "tonight": 400.0,
        "baseline_median": statistics.median(previous),
        "previous_nights": ",".join(f"{load:g}" for load in previous),
        "night": "2026-03-08",
        "samples": 240,
        "lowest_at": datetime(2026, 3, 8, 1, 10, tzinfo=UTC).isoformat(),
        "base_load_rise": 0.5,
        "base_load_min_rise_w": 100.0,
    }
    assert fired.message == (
        f"the base load of the night of 2026-03-08 is 400 W, "
        f"{400 - statistics.median(previous):g} W above the median "
        f"{statistics.median(previous):g} W of the previous 7 nights"
    )
    # the second 400 W night was compared with nights that include the first one
    resolved_previous = [WEEK[date(2026, 3, day)] for day in range(3, 10)]
    assert resolved.value == 81.0
    assert resolved.evidence["baseline_median"] == statistics.median(resolved_previous)
    assert resolved.evidence["night"] == "2026-03-10"


@pytest.mark.parametrize(
    ("base", "tonight", "fires"),
    [
        (80.0, 150.0, False),  # +87 %, but only 70 W more
        (300.0, 420.0, False),  # 120 W more, but only +40 %
        (300.0, 460.0, True),
        (80.0, 400.0, True),
    ],
)
def test_base_load_needs_both_the_ratio_and_the_watts(
    base: float, tonight: float, fires: bool
) -> None:
    loads = {date(2026, 3, day): base for day in range(1, 4)} | {date(2026, 3, 4): tonight}
    findings = simulate(
        base_loads(),
        ZoneInfo("UTC"),
        WEEK_START,
        datetime(2026, 3, 4, 12, tzinfo=UTC),
        fridge_night(loads),
    )

    assert [f.firing for f in findings] == ([True] if fires else [])


def test_nights_with_too_few_samples_are_not_counted() -> None:
    detector = base_loads()
    ts = WEEK_START
    while ts < WEEK_END:
        if ts.hour in {1, 2, 3, 4} and ts.minute % 30 == 0:  # 8 samples a night
            detector.observe("m1", ts, {POWER: 400.0})
        elif ts.hour not in {1, 2, 3, 4}:
            detector.observe("m1", ts, {POWER: 900.0})
        ts += MINUTE

    assert detector.export_state() == {}


def test_late_samples_of_other_nights_are_ignored() -> None:
    detector, utc, value_at = base_loads(), ZoneInfo("UTC"), fridge_night(WEEK)
    simulate(detector, utc, WEEK_START, datetime(2026, 3, 2, tzinfo=UTC), value_at)
    # offline through the night of 03-02, back in the middle of the night of 03-03
    simulate(
        detector,
        utc,
        datetime(2026, 3, 3, tzinfo=UTC),
        datetime(2026, 3, 3, 3, tzinfo=UTC),
        value_at,
    )

    late = {POWER: 1.0}
    assert detector.observe("m1", datetime(2026, 3, 2, 2, tzinfo=UTC), late) == []  # never measured
    assert detector.observe("m1", datetime(2026, 3, 1, 2, tzinfo=UTC), late) == []  # finished
    simulate(
        detector,
        utc,
        datetime(2026, 3, 3, 3, tzinfo=UTC),
        datetime(2026, 3, 3, 6, tzinfo=UTC),
        value_at,
    )
    assert detector.observe("m1", datetime(2026, 3, 3, 4, 30, tzinfo=UTC), late) == []  # finished

    assert detector.export_state() == {"m1": [WEEK[date(2026, 3, 1)], WEEK[date(2026, 3, 3)]]}


def test_nights_wrapping_midnight() -> None:
    loads = {date(2026, 3, day): 80.0 for day in range(1, 6)} | {date(2026, 3, 6): 400.0}

    def value_at(local: datetime) -> float:
        if local.hour == 23:
            return loads[local.date()]  # the night's lowest hour is before midnight
        if local.hour < 4:
            return loads[local.date() - timedelta(days=1)] + 50.0
        if local.hour in {4, 22}:
            return 10.0  # just outside the night: must not count
        return 900.0

    detector = base_loads(night_start="23:00", night_end="04:00")
    findings = simulate(
        detector, ZoneInfo("UTC"), T0, datetime(2026, 3, 7, 12, tzinfo=UTC), value_at
    )

    (fired,) = findings
    assert fired.firing
    assert fired.ts == datetime(2026, 3, 7, 4, tzinfo=UTC)
    assert fired.evidence["night"] == "2026-03-06"
    assert fired.evidence["tonight"] == 400.0
    assert fired.evidence["baseline_median"] == 80.0
    assert fired.evidence["samples"] == 300  # 23:00-04:00
    assert detector.export_state() == {"m1": [80.0] * 5 + [400.0]}


@pytest.mark.parametrize(
    ("night", "minutes"),
    [
        (date(2026, 3, 29), 180),  # 02:00-02:59 does not exist: clocks go to 03:00
        (date(2026, 10, 25), 300),  # 02:00-02:59 happens twice: clocks go back to 02:00
    ],
)
def test_a_dst_night_still_works(night: date, minutes: int) -> None:
    vienna = ZoneInfo("Europe/Vienna")
    week = [night - timedelta(days=days) for days in range(7, 0, -1)]
    loads = dict.fromkeys(week, 80.0) | {night: 400.0}
    first = datetime.combine(week[0], datetime.min.time(), vienna)
    last = datetime.combine(night, datetime.min.time(), vienna) + timedelta(hours=12)

    findings = simulate(
        base_loads(timezone="Europe/Vienna"), vienna, first, last, fridge_night(loads)
    )

    (fired,) = findings
    assert fired.firing
    assert fired.ts == datetime.combine(night, datetime.min.time(), vienna).replace(hour=5)
    assert fired.evidence["night"] == night.isoformat()
    assert fired.evidence["samples"] == minutes
    assert fired.evidence["tonight"] == 400.0


@pytest.mark.parametrize(
    "split",
    [
        datetime(2026, 3, 6, 12, tzinfo=UTC),  # before the alert: the restored run opens it
        datetime(2026, 3, 9, 12, tzinfo=UTC),  # while it is open: the restored run closes it
    ],
)
def test_export_and_restore_give_the_same_verdicts(split: datetime) -> None:
    utc, value_at = ZoneInfo("UTC"), fridge_night(WEEK)
    whole = simulate(base_loads(), utc, WEEK_START, WEEK_END, value_at)
    expected = [finding for finding in whole if finding.ts >= split]

    before = base_loads()
    simulate(before, utc, WEEK_START, split, value_at)
    state = msgspec.json.decode(msgspec.json.encode(before.export_state()))
    after = base_loads()
    after.restore_state(state)

    assert expected
    assert simulate(after, utc, split, WEEK_END, value_at) == expected
    assert all(len(loads) <= 7 + 1 for loads in state.values())
    # without the state the same samples give another answer
    assert simulate(base_loads(), utc, split, WEEK_END, value_at) != expected


# -- settings -----------------------------------------------------------------------


def test_defaults_are_valid() -> None:
    assert settings() == AnomalySettings()
    AnomalySettings().check()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"night_start": "1am"}, "night_start: expected HH:MM, got '1am'"),
        ({"night_end": "24:00"}, "night_end: expected HH:MM, got '24:00'"),
        ({"min_samples": 300}, "min_samples: must not exceed window"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone: unknown time zone 'Mars/Olympus_Mons'"),
        ({"night_start": "02:00", "night_end": "02:00"}, "night_end: must differ"),
        ({"metrics": [POWER, POWER]}, "metrics: a metric is listed twice"),
    ],
)
def test_check_names_the_key(table: dict[str, object], message: str) -> None:
    loaded = settings(**table)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        loaded.check()
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        AnomalyDetector(loaded)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"window": 5}, "Expected `int` >= 10 - at `$.window`"),
        ({"min_samples": 4}, "Expected `int` >= 5 - at `$.min_samples`"),
        ({"threshold": 0}, "Expected `float` > 0.0 - at `$.threshold`"),
        ({"nights": 2}, "Expected `int` >= 3 - at `$.nights`"),
        ({"metrics": [""]}, "- at `$.metrics[0]`"),
        ({"bogus": 1}, "Object contains unknown field `bogus`"),
    ],
)
def test_decoding_names_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(message)):
        settings(**table)


def test_check_covers_the_annotations_of_hand_built_settings() -> None:
    with pytest.raises(ValueError, match=re.escape("window: expected `int` >= 10")):
        AnomalySettings(window=5).check()
