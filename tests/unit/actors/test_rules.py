"""The pipeline's pure rules: validation, trends, consumption, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.actors._alert_rules import AlertEngine, AlertRule
from meterhub.actors._consumption import ConsumptionTracker
from meterhub.actors._trends import TrendTracker
from meterhub.actors._validation import Validator
from meterhub.model import AlertState, ConsumptionFlag, Quality, Reading

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def reading(values: dict[str, float], at: datetime = T0, **kw: object) -> Reading:
    return Reading(meter_id=str(kw.pop("meter", "m1")), ts=at, values=values,
                   received_at=kw.pop("received_at", at), **kw)  # type: ignore[arg-type] # fmt: skip


# -- validation ---------------------------------------------------------------------


def test_plausible_reading_stays_good() -> None:
    checked = Validator().check(reading({"voltage_l1_v": 231.2, "power_import_w": 500}))
    assert checked.quality is Quality.GOOD
    assert checked.quality_rules == []


@pytest.mark.parametrize(
    ("values", "quality", "rule"),
    [
        ({"voltage_l1_v": 140.0}, Quality.SUSPECT, "range:voltage_*_v:voltage_l1_v"),
        ({"voltage_l2_v": 900.0}, Quality.INVALID, "range:voltage_*_v:voltage_l2_v"),
        ({"power_import_w": -5.0}, Quality.INVALID, "range:power_*_w:power_import_w"),
        ({"power_factor": 1.7}, Quality.INVALID, "range:power_factor:power_factor"),
        ({"energy_import_wh": -1}, Quality.INVALID, "range:energy_*:energy_import_wh"),
    ],
)
def test_range_rules_set_quality_and_name_the_rule(values: dict[str, float], quality: Quality,
                                                   rule: str) -> None:  # fmt: skip
    checked = Validator().check(reading(values))
    assert checked.quality is quality
    assert rule in checked.quality_rules
    assert checked.values == values  # never dropped or changed


def test_meter_clock_far_from_receive_time_is_suspect() -> None:
    late = reading({"power_import_w": 1.0}, received_at=T0 + timedelta(hours=2))
    assert Validator().check(late).quality_rules == ["clock_skew"]


def test_sudden_counter_jump_is_suspect_but_a_decrease_is_not() -> None:
    validator = Validator()
    validator.check(reading({"energy_import_wh": 1000}))
    # 5 MWh in one minute is 300 MW
    jump = validator.check(reading({"energy_import_wh": 5_001_000}, T0 + timedelta(minutes=1)))
    assert "jump:energy_import_wh" in jump.quality_rules
    reset = validator.check(reading({"energy_import_wh": 3}, T0 + timedelta(minutes=2)))
    assert reset.quality is Quality.GOOD


# -- trends -------------------------------------------------------------------------


def test_trend_windows_close_with_avg_min_max_last_count() -> None:
    tracker = TrendTracker(windows_s=(60,))
    for second, value in [(0, 10.0), (20, 30.0), (40, 20.0)]:
        assert tracker.add("m1", T0 + timedelta(seconds=second), {"p": value}) == []
    (trend,) = tracker.add("m1", T0 + timedelta(seconds=61), {"p": 99.0})
    assert (trend.window_start, trend.window_s) == (T0, 60)
    assert (trend.avg, trend.min, trend.max, trend.last, trend.count) == (20.0, 10.0, 30.0, 20.0, 3)
    (last,) = tracker.flush()
    assert last.count == 1
    assert last.last == 99.0


def test_trends_keep_metrics_and_windows_apart_and_ignore_late_values() -> None:
    tracker = TrendTracker(windows_s=(60, 900))
    tracker.add("m1", T0, {"p": 1.0, "v": 230.0})
    tracker.add("m2", T0, {"p": 50.0})
    tracker.add("m1", T0 + timedelta(seconds=30), {"p": 3.0})  # v missing in this telegram
    closed = tracker.add("m1", T0 + timedelta(seconds=90), {"p": 5.0, "v": 240.0})
    by_metric = {(t.metric, t.window_s): t for t in closed}
    assert set(by_metric) == {("p", 60), ("v", 60)}  # the 15-minute window stays open
    assert (by_metric["p", 60].avg, by_metric["p", 60].count) == (2.0, 2)
    assert (by_metric["v", 60].min, by_metric["v", 60].max, by_metric["v", 60].count) == (
        230.0,
        230.0,
        1,
    )
    # late for its closed minute, but its quarter hour is still open
    assert tracker.add("m1", T0 + timedelta(seconds=10), {"p": 1000.0}) == []
    rest = {(t.meter_id, t.metric, t.window_s): t for t in tracker.flush()}
    assert rest["m1", "p", 60].count == 1  # the minute that was open got no late value
    assert (rest["m1", "p", 900].count, rest["m1", "p", 900].max) == (4, 1000.0)
    assert rest["m2", "p", 60].avg == 50.0
    assert rest["m1", "p", 60].window_start == T0 + timedelta(seconds=60)


_telegrams = st.lists(
    st.tuples(
        st.sampled_from(["m1", "m2"]),
        st.integers(0, 400),  # seconds after the meter's previous telegram
        st.dictionaries(st.sampled_from(["p", "v", "e"]),
                        st.integers(-1000, 1000).map(float), min_size=1),
    ),
    max_size=60,
)  # fmt: skip


@given(_telegrams)
def test_trends_built_from_shorter_windows_equal_trends_of_every_value(
    telegrams: list[tuple[str, int, dict[str, float]]],
) -> None:
    # 900 and 3600 are built from closed minutes, 90 takes every value itself; all must
    # equal the statistics of the values that fell in each window
    windows = (60, 900, 90, 3600)
    tracker = TrendTracker(windows_s=windows)
    clock = {"m1": T0, "m2": T0}
    expected: dict[tuple[str, str, int, datetime], list[float]] = {}
    got = []
    for meter, gap, values in telegrams:
        ts = clock[meter] = clock[meter] + timedelta(seconds=gap)
        got += tracker.add(meter, ts, values)
        for window_s in windows:
            start = T0 + timedelta(seconds=(ts - T0).total_seconds() // window_s * window_s)
            for metric, value in values.items():
                expected.setdefault((meter, metric, window_s, start), []).append(value)
    got += tracker.flush()
    by_key = {(t.meter_id, t.metric, t.window_s, t.window_start): t for t in got}
    assert len(by_key) == len(got)  # no window emitted twice
    assert set(by_key) == set(expected)
    for key, values in expected.items():
        trend = by_key[key]
        assert (trend.min, trend.max, trend.last, trend.count) == (
            min(values),
            max(values),
            values[-1],
            len(values),
        )
        assert trend.avg == pytest.approx(sum(values) / len(values))


# -- consumption --------------------------------------------------------------------


def feed(tracker: ConsumptionTracker, points: list[tuple[int, float]], number: str = "A") -> list:
    out = []
    for minute, value in points:
        out += tracker.add("m1", "energy_import_wh", T0 + timedelta(minutes=minute), value, number)
    return out + tracker.flush()


def test_regular_readings_give_measured_intervals() -> None:
    rows = feed(ConsumptionTracker(900), [(m, 100 + 2 * m) for m in range(61)])
    assert [r.wh for r in rows] == [30.0, 30.0, 30.0, 30.0]
    assert {r.flag for r in rows} == {ConsumptionFlag.MEASURED}


def test_an_outage_is_spread_not_a_spike() -> None:
    # readings stop for 2 hours; the counter kept counting
    rows = feed(ConsumptionTracker(900), [(0, 0), (15, 30), (135, 270), (150, 300)])
    assert sum(r.wh for r in rows) == pytest.approx(300)
    gap = [
        r
        for r in rows
        if T0 + timedelta(minutes=15) <= r.interval_start < T0 + timedelta(minutes=135)
    ]
    assert len(gap) == 8
    assert all(r.flag is ConsumptionFlag.INTERPOLATED for r in gap)
    assert all(r.wh == pytest.approx(30) for r in gap)
    assert max(r.wh for r in rows) == pytest.approx(30)  # no spike


def test_counter_reset_or_replacement_is_missing_never_negative() -> None:
    rows = feed(ConsumptionTracker(900), [(0, 5000), (15, 5030), (30, 12), (45, 42)])
    assert all(r.wh >= 0 for r in rows)
    flags = {r.interval_start: r.flag for r in rows}
    assert flags[T0 + timedelta(minutes=15)] is ConsumptionFlag.MISSING
    assert rows[-1].wh == pytest.approx(30)  # counting goes on from the new value


def test_meter_number_change_is_a_replacement() -> None:
    tracker = ConsumptionTracker(900)
    tracker.add("m1", "energy_import_wh", T0, 100, "OLD")
    rows = tracker.add("m1", "energy_import_wh", T0 + timedelta(minutes=16), 900_000, "NEW")
    assert [(r.wh, r.flag) for r in rows] == [(0.0, ConsumptionFlag.MISSING)]


def test_rollover_of_a_six_digit_kwh_register_is_recovered() -> None:
    rows = feed(ConsumptionTracker(900), [(0, 999_990.0), (10, 15.0)])
    assert sum(r.wh for r in rows) == pytest.approx(25)
    assert all(r.flag is ConsumptionFlag.MEASURED for r in rows)


@given(st.lists(st.tuples(st.integers(1, 300), st.integers(0, 5000)), min_size=2, max_size=60))
def test_energy_is_conserved_over_monotonic_counters(steps: list[tuple[int, int]]) -> None:
    tracker = ConsumptionTracker(900)
    minute, value, points = 0, 1000.0, [(0, 1000.0)]
    for gap, delta in steps:
        minute, value = minute + gap, value + delta
        points.append((minute, value))
    rows = feed(tracker, points)
    assert sum(r.wh for r in rows) == pytest.approx(value - 1000.0, abs=1e-3)
    assert all(r.wh >= 0 for r in rows)
    starts = [r.interval_start for r in rows]
    assert starts == sorted(set(starts))


# -- alerts -------------------------------------------------------------------------


def test_voltage_band_alert_opens_once_and_resolves() -> None:
    engine = AlertEngine((AlertRule("band", "outside", "voltage_*_v", low=207, high=253),))
    (opened,) = engine.on_reading(reading({"voltage_l1_v": 260.0}))
    assert opened.state is AlertState.OPEN
    assert "outside 207..253" in opened.message
    assert engine.on_reading(reading({"voltage_l1_v": 265.0}, T0 + timedelta(seconds=5))) == []
    (resolved,) = engine.on_reading(reading({"voltage_l1_v": 231.0}, T0 + timedelta(seconds=10)))
    assert resolved.id == opened.id
    assert resolved.state is AlertState.RESOLVED
    assert engine.active == []


def test_acknowledge_then_resolve_by_hand() -> None:
    engine = AlertEngine((AlertRule("hot", "above", "power_import_w", high=1000),))
    (opened,) = engine.on_reading(reading({"power_import_w": 5000.0}))
    acked = engine.acknowledge(opened.id, T0)
    assert acked is not None
    assert acked.state is AlertState.ACKNOWLEDGED
    assert engine.acknowledge(opened.id, T0) is None  # only open alerts can be acknowledged
    resolved = engine.resolve(opened.id, T0)
    assert resolved is not None
    assert resolved.state is AlertState.RESOLVED
    assert engine.resolve(opened.id, T0) is None
    assert engine.acknowledge("nope", T0) is None


def test_rate_of_change_rule() -> None:
    engine = AlertEngine((AlertRule("ramp", "rate", "power_import_w", limit=100.0),))
    assert engine.on_reading(reading({"power_import_w": 0.0})) == []
    (alert,) = engine.on_reading(reading({"power_import_w": 5000.0}, T0 + timedelta(seconds=1)))
    assert alert.rule == "ramp"


def test_silent_meter_alert_and_recovery() -> None:
    engine = AlertEngine((AlertRule("silent", "silent", minutes=5),))
    engine.on_reading(reading({"power_import_w": 1.0}))
    assert engine.on_tick(T0 + timedelta(minutes=4), ["m1"]) == []
    (alert,) = engine.on_tick(T0 + timedelta(minutes=6), ["m1"])
    assert alert.state is AlertState.OPEN
    assert engine.on_tick(T0 + timedelta(minutes=7), ["m1"]) == []
    (back,) = engine.on_reading(reading({"power_import_w": 1.0}, T0 + timedelta(minutes=8)))
    assert back.state is AlertState.RESOLVED


def test_a_meter_with_a_wrong_clock_is_not_silent_while_it_reports() -> None:
    engine = AlertEngine((AlertRule("silent", "silent", minutes=5),))
    months_behind = T0 - timedelta(days=120)
    engine.on_reading(reading({"power_import_w": 1.0}, months_behind, received_at=T0))
    assert engine.on_tick(T0 + timedelta(minutes=1), ["m1"]) == []


def test_invalid_readings_do_not_alert() -> None:
    engine = AlertEngine((AlertRule("band", "outside", "voltage_*_v", low=207, high=253),))
    bad = Validator().check(reading({"voltage_l1_v": 900.0}))
    assert engine.on_reading(bad) == []
