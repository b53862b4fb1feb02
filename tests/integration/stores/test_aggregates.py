"""Trends and consumption: upserts and calendar periods (months in Europe/Vienna)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meterhub.adapters.stores import ConsumptionRow, Store, StoreError, TrendRow

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def trend(meter: str, start: datetime, avg: float, window_s: int = 900) -> TrendRow:
    return TrendRow(
        meter_id=meter,
        metric="power_import_w",
        window_s=window_s,
        window_start=start,
        avg=avg,
        min=avg - 1,
        max=avg + 1,
        last=avg,
        count=9,
    )


async def test_trends_upsert_and_query(store: Store) -> None:
    rows = [trend("m1", T0 + i * timedelta(minutes=15), float(i)) for i in range(8)]
    await store.write_trends(rows)
    await store.write_trends(rows)  # replay: no duplicates
    await store.write_trends([trend("m1", T0, 100.0)])  # a recomputed window replaces the old
    await store.write_trends([trend("m2", T0, 5.0), trend("m1", T0, 1.0, window_s=3600)])
    got = await store.query_trends(
        meters=["m1"], metrics=None, window_s=900, start=T0, end=T0 + timedelta(hours=1)
    )
    assert [t.avg for t in got] == [100.0, 1.0, 2.0, 3.0]
    assert got[1] == rows[1]
    every = await store.query_trends(
        meters=None,
        metrics=["power_import_w"],
        window_s=900,
        start=T0,
        end=T0 + timedelta(minutes=1),
    )
    assert [(t.meter_id, t.avg) for t in every] == [("m1", 100.0), ("m2", 5.0)]


def quarter_hours(start: datetime, end: datetime, wh: float = 10.0) -> list[ConsumptionRow]:
    rows = []
    t = start
    while t < end:
        rows.append(
            ConsumptionRow(
                meter_id="m1", metric="energy_import_wh", interval_start=t, interval_s=900, wh=wh
            )
        )
        t += timedelta(minutes=15)
    return rows


async def test_consumption_months_in_vienna(store: Store) -> None:
    # 2026-03-31 22:00 UTC is April 1st 00:00 in Vienna (CEST, +02:00); the last
    # Sunday of March (29th) is 23 hours long there.
    start = datetime(2026, 3, 27, tzinfo=UTC)
    end = datetime(2026, 4, 3, tzinfo=UTC)
    rows = quarter_hours(start, end)
    await store.write_consumption(rows)
    months = await store.query_consumption(
        "m1", "energy_import_wh", start=start, end=end, period="month", tz="Europe/Vienna"
    )
    march_start_vienna = datetime(2026, 2, 28, 23, tzinfo=UTC)  # 1 March 00:00 CET
    april_start_vienna = datetime(2026, 3, 31, 22, tzinfo=UTC)  # 1 April 00:00 CEST
    assert [m.period_start for m in months] == [march_start_vienna, april_start_vienna]
    in_march = sum(1 for r in rows if r.interval_start < april_start_vienna)
    assert months[0].wh == pytest.approx(10.0 * in_march)
    assert months[1].wh == pytest.approx(10.0 * (len(rows) - in_march))
    assert months[0].measured_s == in_march * 900
    days = await store.query_consumption(
        "m1", "energy_import_wh", start=start, end=end, period="day", tz="Europe/Vienna"
    )
    by_day = {d.period_start: d.wh for d in days}
    assert by_day[datetime(2026, 3, 28, 23, tzinfo=UTC)] == pytest.approx(
        23 * 4 * 10.0
    )  # 29 March: 23 h
    assert by_day[datetime(2026, 3, 29, 22, tzinfo=UTC)] == pytest.approx(24 * 4 * 10.0)
    utc_months = await store.query_consumption(
        "m1", "energy_import_wh", start=start, end=end, period="month"
    )
    assert [m.period_start for m in utc_months] == [
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    ]


async def test_consumption_flags_and_hours(store: Store) -> None:
    start = datetime(2026, 10, 24, 22, tzinfo=UTC)
    rows = quarter_hours(start, start + timedelta(hours=2))
    rows[1] = ConsumptionRow(
        meter_id="m1",
        metric="energy_import_wh",
        interval_start=rows[1].interval_start,
        interval_s=900,
        wh=5.0,
        flag="interpolated",
    )
    rows[2] = ConsumptionRow(
        meter_id="m1",
        metric="energy_import_wh",
        interval_start=rows[2].interval_start,
        interval_s=900,
        wh=0.0,
        flag="missing",
    )
    await store.write_consumption(rows)
    await store.write_consumption(rows[:1])  # replay
    hours = await store.query_consumption(
        "m1",
        "energy_import_wh",
        start=start,
        end=start + timedelta(hours=2),
        period="hour",
        tz="Europe/Vienna",
    )
    assert [h.wh for h in hours] == [pytest.approx(25.0), pytest.approx(40.0)]
    assert (hours[0].measured_s, hours[0].interpolated_s, hours[0].missing_s) == (1800, 900, 900)
    assert (
        await store.query_consumption(
            "m2", "energy_import_wh", start=start, end=start + timedelta(hours=2), period="hour"
        )
        == []
    )


async def test_unknown_time_zone_is_bad_input(store: Store) -> None:
    await store.write_consumption(quarter_hours(T0, T0 + timedelta(hours=1)))
    with pytest.raises(StoreError, match="time zone"):
        await store.query_consumption(
            "m1",
            "energy_import_wh",
            start=T0,
            end=T0 + timedelta(hours=1),
            period="day",
            tz="Mars/Olympus",
        )
