"""Properties of the load model: monotonic exact counters, physics, PV, determinism."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from statistics import mean

from hypothesis import given, settings
from hypothesis import strategies as st

from meterhub.adapters.simulator import COMMERCIAL, HOUSEHOLD, LoadModel, MeterState

START = datetime(2024, 3, 1, tzinfo=UTC)
SUMMER_MONDAY = datetime(2024, 6, 17, tzinfo=UTC)
WINTER_MONDAY = datetime(2024, 1, 8, tzinfo=UTC)

seeds = st.integers(min_value=-(2**63), max_value=2**64)
# Gaps from a tenth of a second to three hours, a day's worth at most.
gaps = st.lists(st.integers(min_value=100_000, max_value=3 * 3600 * 10**6), min_size=1, max_size=12)
starts = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2030, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
COUNTERS = (
    "energy_import_wh",
    "energy_export_wh",
    "reactive_energy_import_varh",
    "reactive_energy_export_varh",
    "gas_l",
)
PROPS = settings(max_examples=40, deadline=None)


def walk(model: LoadModel, start: datetime, steps: list[int]) -> list[MeterState]:
    ts, out = start, [model.state_at(start)]
    for us in steps:
        ts += timedelta(microseconds=us)
        out.append(model.state_at(ts))
    return out


@PROPS
@given(seed=seeds, start=starts, steps=gaps, pv=st.booleans())
def test_counters_never_decrease(seed: int, start: datetime, steps: list[int], pv: bool) -> None:
    states = walk(LoadModel(seed, start=start, pv=pv), start, steps)
    for before, after in itertools.pairwise(states):
        for name in COUNTERS:
            assert getattr(after, name) >= getattr(before, name), name
        for i in range(2):
            assert after.energy_import_tariff_wh[i] >= before.energy_import_tariff_wh[i]
            assert after.energy_export_tariff_wh[i] >= before.energy_export_tariff_wh[i]


@PROPS
@given(seed=seeds, start=starts, steps=gaps)
def test_without_pv_nothing_is_exported(seed: int, start: datetime, steps: list[int]) -> None:
    states = walk(LoadModel(seed, start=start, pv=False), start, steps)
    assert {s.energy_export_wh for s in states} == {0}
    assert all(s.power_export_w == 0 and s.power_import_w > 0 for s in states)
    assert all(min(s.phase_power_w) > 0 for s in states)


@PROPS
@given(seed=seeds, start=starts, steps=gaps, pv=st.booleans(), commercial=st.booleans())
def test_values_stay_in_physical_ranges(
    seed: int, start: datetime, steps: list[int], pv: bool, commercial: bool
) -> None:
    shape = COMMERCIAL if commercial else HOUSEHOLD
    for s in walk(LoadModel(seed, start=start, pv=pv, shape=shape), start, steps):
        assert all(2200 <= u <= 2450 for u in s.voltage_dv)  # 230 V within a few percent
        assert 900 <= s.power_factor_milli <= 999
        assert s.power_import_w == 0 or s.power_export_w == 0
        assert s.power_import_w - s.power_export_w == sum(s.phase_power_w)
        assert s.power_import_w < 60_000
        assert s.power_export_w <= 10_000  # at most 10 kWp
        for p, u, i in zip(s.phase_power_w, s.voltage_dv, s.current_ca, strict=True):
            # I = |P| / (U * PF), rounded to 0.01 A
            assert abs(i / 100 - abs(p) / (u / 10 * s.power_factor_milli / 1000)) <= 0.005 + 1e-9
        assert s.tariff in {1, 2}


@PROPS
@given(seed=seeds, start=starts, steps=gaps, pv=st.booleans())
def test_same_seed_same_answers_in_any_order(
    seed: int, start: datetime, steps: list[int], pv: bool
) -> None:
    forward = walk(LoadModel(seed, start=start, pv=pv), start, steps)
    backward_model = LoadModel(seed, start=start, pv=pv)
    backward = [backward_model.state_at(s.ts) for s in reversed(forward)]
    assert backward[::-1] == forward
    fresh = LoadModel(seed, start=start, pv=pv).state_at(forward[-1].ts)
    assert fresh == forward[-1]


@PROPS
@given(
    seed=seeds,
    offset_s=st.integers(0, 86_400 * 3),
    dt_us=st.integers(1, 59 * 10**6),
    pv=st.booleans(),
)
def test_energy_is_power_integrated_exactly(seed: int, offset_s: int, dt_us: int, pv: bool) -> None:
    model = LoadModel(seed, start=START, pv=pv)
    t0 = START + timedelta(seconds=offset_s - offset_s % 60)  # a slot start: power is constant
    a, b = model.state_at(t0), model.state_at(t0 + timedelta(microseconds=dt_us))
    imported_uwh = a.power_import_w * dt_us  # W·µs
    exported_uwh = a.power_export_w * dt_us
    assert b.power_import_w == a.power_import_w
    # Counters show whole Wh rounded down, so the difference is the integral +/- 1 Wh.
    assert abs((b.energy_import_wh - a.energy_import_wh) - imported_uwh / 3.6e9) < 1
    assert abs((b.energy_export_wh - a.energy_export_wh) - exported_uwh / 3.6e9) < 1


def test_different_seeds_are_different_sites() -> None:
    ts = START + timedelta(hours=30)
    states = {LoadModel(seed, start=START).state_at(ts) for seed in range(20)}
    assert len({s.energy_import_wh for s in states}) == 20
    assert len({s.voltage_dv for s in states}) == 20


def _hourly_import(model: LoadModel, day: datetime, hours: range) -> float:
    return mean(
        model.state_at(day + timedelta(hours=h, minutes=m)).power_import_w
        for h in hours
        for m in range(0, 60, 5)
    )


def test_daily_pattern_has_a_night_base_and_an_evening_peak() -> None:
    for seed in range(5):
        model = LoadModel(seed, start=WINTER_MONDAY)
        for day in range(5):
            monday = WINTER_MONDAY + timedelta(days=day)
            night = _hourly_import(model, monday, range(1, 4))  # 02-05 local
            evening = _hourly_import(model, monday, range(17, 20))  # 18-21 local
            assert evening > 1.5 * night


def test_weekends_differ_from_weekdays() -> None:
    model = LoadModel(3, start=WINTER_MONDAY)
    weekday_mornings = [
        _hourly_import(model, WINTER_MONDAY + timedelta(days=d), range(8, 11)) for d in range(5)
    ]
    weekend_mornings = [
        _hourly_import(model, WINTER_MONDAY + timedelta(days=d), range(8, 11)) for d in (5, 6)
    ]
    assert min(weekend_mornings) > max(weekday_mornings)  # 09-12 local: at home at weekends
    office = LoadModel(3, start=WINTER_MONDAY, shape=COMMERCIAL)
    assert _hourly_import(office, WINTER_MONDAY, range(9, 15)) > 3 * _hourly_import(
        office, WINTER_MONDAY + timedelta(days=6), range(9, 15)
    )


def test_pv_site_exports_at_midday_and_its_export_counter_grows() -> None:
    for seed in range(5):
        model = LoadModel(seed, start=SUMMER_MONDAY, pv=True)
        dawn = model.state_at(SUMMER_MONDAY)
        noon = [
            model.state_at(SUMMER_MONDAY + timedelta(hours=10, minutes=m))
            for m in range(0, 120, 10)
        ]
        midnight = model.state_at(SUMMER_MONDAY + timedelta(hours=22))
        assert any(s.power_export_w > 0 and s.power_import_w == 0 for s in noon)
        assert midnight.energy_export_wh > dawn.energy_export_wh
        assert midnight.power_export_w == 0  # no sun at midnight
        assert any(p < 0 for s in noon for p in s.phase_power_w)


def test_going_back_in_time_after_days_matches_a_fresh_model() -> None:
    start = datetime(2024, 2, 27, 17, 3, 11, tzinfo=UTC)
    model = LoadModel(9, start=start, pv=True)
    late = start + timedelta(days=4, hours=3)
    model.state_at(late)
    probes = [start + timedelta(days=d, minutes=17 * d) for d in (3, 1, 2, 0)]
    for ts in [*probes, late, start + timedelta(days=2)]:
        assert model.state_at(ts) == LoadModel(9, start=start, pv=True).state_at(ts)
