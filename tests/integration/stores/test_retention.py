"""Rollups, pruning and tier selection: old ranges are served from rollups, exactly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from meterhub.adapters.stores import AlertRow, ConsumptionRow, ReadingRow, Store, TrendRow
from tests.integration.stores._data import (
    assert_buckets_equal,
    expected_buckets,
    reading,
    series,
    today,
)

DAY = timedelta(days=1)
AGGS = ["avg", "min", "max", "sum", "last"]


async def _fill(store: Store) -> tuple[list[ReadingRow], list[ReadingRow]]:
    old_day = today() - 10 * DAY
    old = series("m1", old_day, timedelta(seconds=50), 2 * 86_400 // 50) + series(
        "m2", old_day, timedelta(minutes=4), 720, "energy_import_wh"
    )
    recent = series("m1", today() - DAY, timedelta(minutes=1), 600)
    await store.write_readings(old)
    await store.write_readings(recent)
    return old, recent


async def test_rollup_is_idempotent_and_picks_up_late_rows(store: Store) -> None:
    old, _ = await _fill(store)
    now = today() + timedelta(hours=1, minutes=7)
    assert await store.rollup(now) > 0
    assert await store.rollup(now) == 0  # closed days are done; only today is left dirty
    old_day = today() - 10 * DAY
    late = reading("m1", old_day + timedelta(hours=3, seconds=1), value=1000.0)
    await store.write_readings([late])
    assert await store.rollup(now) > 0
    await store.prune(now, raw_days=5, rollup_15m_days=30, rollup_1d_days=365)
    got = await store.query_buckets(
        meters=["m1"],
        metrics=None,
        start=old_day,
        end=old_day + DAY,
        bucket=timedelta(hours=1),
        agg="max",
    )
    want = expected_buckets([*old, late], timedelta(hours=1), "max", old_day, old_day + DAY)
    assert_buckets_equal(got, [b for b in want if b.meter_id == "m1"])


@pytest.mark.parametrize("agg", AGGS)
async def test_old_ranges_come_from_rollups_with_the_same_values(store: Store, agg: str) -> None:
    old, recent = await _fill(store)
    old_day = today() - 10 * DAY
    now = today() + timedelta(hours=2)
    ranges = [
        (old_day, old_day + 2 * DAY, timedelta(minutes=15)),
        (old_day, old_day + 2 * DAY, timedelta(hours=1)),
        (old_day, old_day + 2 * DAY, DAY),
        # Straddles the raw horizon: the old part from rollups, the recent part raw.
        (old_day, today() + DAY, timedelta(hours=1)),
    ]
    before = [
        await store.query_buckets(meters=None, metrics=None, start=s, end=e, bucket=w, agg=agg)
        for s, e, w in ranges
    ]  # type: ignore[arg-type]
    for (s, e, w), got in zip(ranges, before, strict=True):
        assert_buckets_equal(got, expected_buckets(old + recent, w, agg, s, e))

    await store.rollup(now)
    deleted = await store.prune(now, raw_days=5, rollup_15m_days=30, rollup_1d_days=365)
    assert deleted["raw"] == len(old)
    assert deleted["15m"] == 0
    still_raw = await store.query_readings(
        meters=None, metrics=None, start=old_day, end=today() + DAY, limit=100_000
    )
    assert still_raw == sorted(recent, key=lambda r: (r.ts, r.meter_id, r.metric))

    after = [
        await store.query_buckets(meters=None, metrics=None, start=s, end=e, bucket=w, agg=agg)
        for s, e, w in ranges
    ]  # type: ignore[arg-type]
    for want, got in zip(before, after, strict=True):
        assert_buckets_equal(got, want)

    # Once the 15-minute tier is pruned too, daily buckets still come from the daily tier,
    # while hourly buckets for that old range are gone.
    deleted = await store.prune(now, raw_days=5, rollup_15m_days=5, rollup_1d_days=365)
    assert deleted["15m"] > 0
    daily = await store.query_buckets(
        meters=None, metrics=None, start=old_day, end=old_day + 2 * DAY, bucket=DAY, agg=agg
    )  # type: ignore[arg-type]
    assert_buckets_equal(daily, before[2])
    hourly = await store.query_buckets(
        meters=None,
        metrics=None,
        start=old_day,
        end=old_day + 2 * DAY,
        bucket=timedelta(hours=1),
        agg=agg,
    )  # type: ignore[arg-type]
    assert hourly == []


async def test_prune_keeps_raw_rows_that_are_not_rolled_up(store: Store) -> None:
    old, _ = await _fill(store)
    now = today() + timedelta(hours=2)
    deleted = await store.prune(now, raw_days=5, rollup_15m_days=30, rollup_1d_days=365)
    assert deleted["raw"] == 0
    await store.rollup(now)
    deleted = await store.prune(now, raw_days=5, rollup_15m_days=30, rollup_1d_days=365)
    assert deleted["raw"] == len(old)
    deleted = await store.prune(now, raw_days=5, rollup_15m_days=30, rollup_1d_days=365)
    assert deleted == {"raw": 0, "15m": 0, "1d": 0, "trends_short": 0, "trends_long": 0,
                       "consumption": 0, "alerts": 0, "dead_letters": 0, "device_events": 0,
                       "commands": 0, "ota": 0}  # fmt: skip


async def test_prune_keeps_trends_and_consumption_as_long_as_their_tier(store: Store) -> None:
    now = today() + timedelta(hours=1)

    def trend(window_s: int, days_ago: int) -> TrendRow:
        return TrendRow(meter_id="m1", metric="power_import_w", window_s=window_s,
                        window_start=today() - days_ago * DAY, avg=1.0, min=1.0, max=1.0,
                        last=1.0, count=1)  # fmt: skip

    def usage(days_ago: int) -> ConsumptionRow:
        return ConsumptionRow(meter_id="m1", metric="energy_import_wh",
                              interval_start=today() - days_ago * DAY, interval_s=900,
                              wh=5.0, flag="measured")  # fmt: skip

    # minute trends go with raw (5 days), quarter hours with the 15m tier (30 days),
    # consumption with the daily tier (365 days)
    await store.write_trends([trend(60, 3), trend(60, 8), trend(900, 8), trend(900, 40)])
    await store.write_consumption([usage(40), usage(400)])
    deleted = await store.prune(now, raw_days=5, rollup_15m_days=30, rollup_1d_days=365)
    assert (deleted["trends_short"], deleted["trends_long"], deleted["consumption"]) == (1, 1, 1)

    async def kept(window_s: int) -> list[int]:
        rows = await store.query_trends(meters=None, metrics=None, window_s=window_s,
                                        start=today() - 500 * DAY, end=now)  # fmt: skip
        return sorted((today() - r.window_start).days for r in rows)

    assert await kept(60) == [3]
    assert await kept(900) == [8]
    periods = await store.query_consumption("m1", "energy_import_wh", start=today() - 500 * DAY,
                                            end=now, period="day")  # fmt: skip
    assert [(today() - p.period_start).days for p in periods] == [40]


async def test_prune_drops_only_alerts_resolved_before_the_daily_tier(store: Store) -> None:
    now = today() + timedelta(hours=1)

    def alert(alert_id: str, state: str, days_ago: int) -> AlertRow:
        at = today() - days_ago * DAY
        return AlertRow(id=alert_id, rule="overvoltage", meter_id="m1", severity="warning",
                        state=state, message="voltage above 253 V", value=254.0,  # type: ignore[arg-type]
                        opened_at=at, updated_at=at,
                        resolved_at=at if state == "resolved" else None)  # fmt: skip

    await store.upsert_alert(alert("old-resolved", "resolved", 400))
    await store.upsert_alert(alert("recent-resolved", "resolved", 40))
    # someone still has to act on these, however old they are
    await store.upsert_alert(alert("old-open", "open", 400))
    await store.upsert_alert(alert("old-acknowledged", "acknowledged", 400))
    deleted = await store.prune(now, raw_days=5, rollup_15m_days=30, rollup_1d_days=365)
    assert deleted["alerts"] == 1
    left = sorted(a.id for a in await store.list_alerts(limit=10))
    assert left == ["old-acknowledged", "old-open", "recent-resolved"]
