"""Readings, cursors and the queries the API needs: the same behaviour on every backend."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterhub.adapters.stores import (
    ReadingRow,
    Store,
    StoreError,
    StoreUnavailableError,
    rows_from_reading,
)
from meterhub.model import Quality, Reading
from tests.integration.stores._data import (
    assert_buckets_equal,
    expected_buckets,
    reading,
    series,
    today,
)

DAY = timedelta(days=1)


async def test_migrate_is_idempotent(store: Store) -> None:
    assert await store.migrate() == 5
    assert await store.migrate() == 5


async def test_replaying_a_batch_inserts_nothing(store: Store) -> None:
    rows = series("m1", today() - DAY, timedelta(minutes=1), 500)
    assert await store.write_readings(rows) == 500
    assert await store.write_readings(rows) == 0
    more = series("m1", today() - DAY + timedelta(minutes=500), timedelta(minutes=1), 10)
    assert await store.write_readings(rows[-5:] + more) == 10
    got = await store.query_readings(
        meters=None, metrics=None, start=today() - 2 * DAY, end=today() + DAY, limit=10_000
    )
    assert len(got) == 510
    assert len({(r.meter_id, r.metric, r.ts) for r in got}) == 510


async def test_ingest_stores_exactly_the_rows_of_its_readings(store: Store) -> None:
    start = today() - DAY
    readings = [
        Reading(meter_id=f"m{i % 3}", ts=start + timedelta(seconds=10 * i),
                values={"power_import_w": i + 0.5, "energy_import_wh": 1000 + i}
                # a metric only some (older) readings carry: its latest is not in the
                # meter's newest reading
                | ({"gas_m3": i / 10} if i % 5 == 0 and i < 20 else {}),
                journal_seq=i + 1, ts_source="received" if i == 4 else "meter",
                quality=Quality.SUSPECT if i == 7 else Quality.GOOD,
                quality_rules=["clock_skew", "jump:energy_import_wh"] if i == 7 else [])
        for i in range(30)
    ]  # fmt: skip
    random.Random(4).shuffle(readings)  # noqa: S311 (meters overtake each other)
    assert await store.ingest(readings, cursor=("store", 30)) == 64
    assert await store.ingest(readings[:10], cursor=("store", 10)) == 0  # a replay
    assert await store.read_cursor("store") == 30
    got = await store.query_readings(
        meters=None, metrics=None, start=start - DAY, end=today() + DAY, limit=1000
    )
    want = [row for r in readings for row in rows_from_reading(r, r.journal_seq)]
    key = lambda r: (r.meter_id, r.metric, r.ts)  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)
    newest = {(r.meter_id, r.metric): r for r in sorted(want, key=lambda r: r.ts)}
    assert newest["m1", "gas_m3"].ts == start + timedelta(seconds=100)
    assert sorted(await store.latest(), key=key) == sorted(newest.values(), key=key)
    # a day written by ingest is marked for its rollups
    assert await store.rollup(today() + timedelta(hours=1)) > 0


async def test_overwrite_replaces_stored_values_and_nothing_else(store: Store) -> None:
    rows = series("m1", today() - DAY, timedelta(minutes=1), 50)
    await store.write_readings(rows, cursor=("store", 7))
    fixed = [msgspec.structs.replace(r, value=r.value + 1000, quality="suspect",
                                     quality_rule="repaired") for r in rows[:10]]  # fmt: skip
    assert await store.write_readings(fixed) == 0  # without overwrite a replay keeps rows
    assert await store.write_readings(fixed, overwrite=True) == 10
    got = await store.query_readings(
        meters=["m1"], metrics=None, start=today() - 2 * DAY, end=today() + DAY, limit=1000
    )
    assert len(got) == 50
    by_ts = {r.ts: r for r in got}
    for old, new in zip(rows[:10], fixed, strict=True):
        assert by_ts[old.ts].value == new.value
        assert by_ts[old.ts].quality_rule == "repaired"
    assert [by_ts[r.ts].value for r in rows[10:]] == [r.value for r in rows[10:]]
    assert await store.read_cursor("store") == 7  # a replay never moves a sink's cursor


async def test_rows_round_trip_with_all_fields(store: Store) -> None:
    ts = today() - DAY + timedelta(hours=3, microseconds=123_456)
    row = ReadingRow(
        meter_id="m1",
        ts=ts,
        metric="voltage_l1_v",
        value=231.5,
        quality="suspect",
        quality_rule="jump",
        journal_seq=42,
        ts_source="received",
        decode_status="partial",
    )
    await store.write_readings([row])
    [got] = await store.query_readings(meters=["m1"], metrics=None, start=ts, end=ts + DAY, limit=5)
    assert got == row
    assert got.ts.tzinfo is not None
    assert got.ts.utcoffset() == timedelta(0)


async def test_cursor_commits_with_rows(store: Store) -> None:
    assert await store.read_cursor("store") == 0
    await store.write_readings(
        series("m1", today(), timedelta(seconds=10), 5), cursor=("store", 17)
    )
    assert await store.read_cursor("store") == 17
    assert await store.read_cursor("bridge") == 0
    # A replay of an older span does not move the cursor back.
    await store.write_readings(series("m1", today(), timedelta(seconds=10), 5), cursor=("store", 3))
    assert await store.read_cursor("store") == 17


async def test_failed_batch_leaves_neither_rows_nor_cursor(store: Store) -> None:
    await store.write_readings([reading("m0", today())], cursor=("store", 5))
    good = series("m1", today(), timedelta(seconds=10), 100)
    bad = reading("m1", today() + timedelta(hours=1), quality="bogus")  # violates a CHECK
    with pytest.raises(StoreError) as info:
        await store.write_readings([*good[:50], bad, *good[50:]], cursor=("store", 99))
    assert not isinstance(info.value, StoreUnavailableError)
    assert isinstance(info.value.__cause__, Exception)
    assert await store.read_cursor("store") == 5
    got = await store.query_readings(
        meters=["m1"], metrics=None, start=today() - DAY, end=today() + DAY, limit=1000
    )
    assert got == []
    assert [r.meter_id for r in await store.latest()] == ["m0"]


async def test_naive_timestamps_are_refused(store: Store) -> None:
    naive = datetime(2026, 1, 1, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StoreError, match="timezone-aware"):
        await store.write_readings([reading("m1", naive)])


async def test_keyset_paging_has_no_gaps_or_duplicates(store: Store) -> None:
    start = today() - DAY
    rows: list[ReadingRow] = []
    for meter in ("a", "b", "c"):
        for metric in ("energy_import_wh", "power_import_w"):
            rows += series(meter, start, timedelta(minutes=7), 40, metric)
    rows += [
        reading("a", start + timedelta(minutes=7 * i), "current_l1_a") for i in range(0, 40, 3)
    ]
    await store.write_readings(rows)
    want = sorted(rows, key=lambda r: (r.ts, r.meter_id, r.metric))
    pages: list[ReadingRow] = []
    after = None
    while True:
        page = await store.query_readings(
            meters=None, metrics=None, start=start, end=start + DAY, limit=17, after=after
        )
        pages += page
        if len(page) < 17:
            break
        last = page[-1]
        after = (last.ts, last.meter_id, last.metric)
    assert pages == want
    filtered = await store.query_readings(
        meters=["b", "c"], metrics=["power_import_w"], start=start, end=start + DAY, limit=1000
    )
    assert filtered == [
        r for r in want if r.meter_id in {"b", "c"} and r.metric == "power_import_w"
    ]
    window = await store.query_readings(
        meters=None,
        metrics=None,
        start=start + timedelta(minutes=70),
        end=start + timedelta(minutes=140),
        limit=1000,
    )
    assert window == [
        r for r in want if start + timedelta(minutes=70) <= r.ts < start + timedelta(minutes=140)
    ]


async def test_latest_per_meter_and_metric(store: Store) -> None:
    t0 = today() - DAY
    await store.write_readings(
        [
            reading("m1", t0, "power_import_w", 1.0),
            reading("m1", t0 + timedelta(seconds=10), "power_import_w", 2.0),
            reading("m1", t0 + timedelta(seconds=5), "voltage_l1_v", 230.0),
            reading("m2", t0 + timedelta(seconds=20), "power_import_w", 7.0),
        ]
    )
    # An older row arriving late does not replace the latest one.
    await store.write_readings([reading("m1", t0 - timedelta(hours=1), "power_import_w", 99.0)])
    # A replay of the latest ts with another value does not replace the stored one.
    await store.write_readings([reading("m1", t0 + timedelta(seconds=10), "power_import_w", 55.0)])
    got = {(r.meter_id, r.metric): r.value for r in await store.latest()}
    assert got == {
        ("m1", "power_import_w"): 2.0,
        ("m1", "voltage_l1_v"): 230.0,
        ("m2", "power_import_w"): 7.0,
    }
    only = await store.latest(["m2"])
    assert [(r.meter_id, r.value) for r in only] == [("m2", 7.0)]


@pytest.mark.parametrize("agg", ["avg", "min", "max", "sum", "last"])
@pytest.mark.parametrize(
    "width", [timedelta(minutes=1), timedelta(minutes=15), timedelta(hours=1), timedelta(days=1)]
)
async def test_buckets_match_python(store: Store, agg: str, width: timedelta) -> None:
    start = today() - 2 * DAY
    rows = series("m1", start, timedelta(seconds=37), 6000) + series(
        "m2", start, timedelta(minutes=3), 900, "energy_import_wh"
    )
    await store.write_readings(rows)
    q_start, q_end = start + timedelta(hours=5, minutes=7), start + timedelta(days=1, hours=20)
    got = await store.query_buckets(
        meters=None, metrics=None, start=q_start, end=q_end, bucket=width, agg=agg
    )  # type: ignore[arg-type]
    # The first bucket is widened to its aligned start, so it holds all its rows.
    aligned = expected_buckets(
        rows, width, agg, q_start - (q_start - q_start.replace(hour=0, minute=0)) % width, q_end
    )
    assert_buckets_equal(got, aligned)


async def test_bucket_arguments_are_checked(store: Store) -> None:
    with pytest.raises(StoreError):
        await store.query_buckets(
            meters=None,
            metrics=None,
            start=today(),
            end=today() + DAY,
            bucket=timedelta(0),
            agg="avg",
        )
    with pytest.raises(StoreError):
        await store.query_buckets(
            meters=None,
            metrics=None,
            start=today(),
            end=today() + DAY,
            bucket=timedelta(hours=1),
            agg="median",
        )  # type: ignore[arg-type]


_values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
_points = st.lists(
    st.tuples(
        st.sampled_from(["x", "y"]),
        st.sampled_from(["p", "q"]),
        st.integers(0, 3 * 86_400 - 1),
        _values,
    ),
    min_size=1,
    max_size=80,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    points=_points,
    agg=st.sampled_from(["avg", "min", "max", "sum", "last"]),
    width=st.sampled_from(
        [timedelta(minutes=1), timedelta(minutes=15), timedelta(hours=1), timedelta(days=1)]
    ),
)
async def test_buckets_match_python_for_random_data(
    store: Store, points: list[tuple[str, str, int, float]], agg: str, width: timedelta
) -> None:
    # Each example gets its own meter ids, so examples sharing the store never mix.
    tag = uuid.uuid4().hex[:8]
    base = today() - 3 * DAY
    rows: dict[tuple[str, str, int], ReadingRow] = {}
    for meter, metric, offset, value in points:
        rows.setdefault(
            (meter, metric, offset),
            reading(f"{tag}-{meter}", base + timedelta(seconds=offset), metric, value),
        )
    await store.write_readings(list(rows.values()))
    got = await store.query_buckets(
        meters=[f"{tag}-x", f"{tag}-y"],
        metrics=None,
        start=base,
        end=base + 3 * DAY,
        bucket=width,
        agg=agg,  # type: ignore[arg-type]
    )
    assert_buckets_equal(
        got, expected_buckets(list(rows.values()), width, agg, base, base + 3 * DAY)
    )


async def test_a_store_that_is_not_open_says_so(tmp_path) -> None:
    from meterhub.adapters.stores import SqliteStore

    with pytest.raises(StoreError, match="not open"):
        await SqliteStore(tmp_path / "x.db").latest()


def test_naive_utc_sanity() -> None:
    assert today().tzinfo is UTC


async def test_latest_follows_a_meter_that_starts_a_new_metric(store: Store) -> None:
    t0 = today() - DAY
    first = Reading(meter_id="m1", ts=t0, values={"power_import_w": 1.0})
    await store.ingest([first])
    # the store has seen m1 before; a metric it never carried must still be found
    later = Reading(meter_id="m1", ts=t0 + timedelta(seconds=5),
                    values={"power_import_w": 2.0, "gas_m3": 7.5})  # fmt: skip
    await store.ingest([later])
    await store.ingest([Reading(meter_id="m2", ts=t0, values={"gas_m3": 1.0})])
    got = {(r.meter_id, r.metric): (r.ts, r.value) for r in await store.latest()}
    assert got == {
        ("m1", "power_import_w"): (t0 + timedelta(seconds=5), 2.0),
        ("m1", "gas_m3"): (t0 + timedelta(seconds=5), 7.5),
        ("m2", "gas_m3"): (t0, 1.0),
    }


async def test_a_failed_ingest_does_not_count_its_series_as_stored(store: Store) -> None:
    t0 = today() - DAY
    # NaN has no JSON number: the row's value arrives null and the batch is refused
    with pytest.raises(StoreError):
        await store.ingest([Reading(meter_id="m1", ts=t0, values={"p": math.nan})])
    await store.ingest([Reading(meter_id="m1", ts=t0, values={"p": 1.0})])
    assert [(r.meter_id, r.metric, r.value) for r in await store.latest()] == [("m1", "p", 1.0)]
