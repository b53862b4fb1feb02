"""Row builders and reference aggregates computed in plain Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterhub.adapters.stores import BucketRow, ReadingRow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def today() -> datetime:
    """Midnight UTC of today: PostgreSQL only makes daily partitions near today."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def reading(
    meter: str, ts: datetime, metric: str = "power_import_w", value: float = 1.0, **kw: object
) -> ReadingRow:
    return ReadingRow(meter_id=meter, ts=ts, metric=metric, value=value, **kw)  # type: ignore[arg-type]


def series(
    meter: str, start: datetime, step: timedelta, count: int, metric: str = "power_import_w"
) -> list[ReadingRow]:
    return [reading(meter, start + i * step, metric, float(i % 97) + 0.25) for i in range(count)]


def bucket_start(ts: datetime, width: timedelta) -> datetime:
    return EPOCH + ((ts - EPOCH) // width) * width


def expected_buckets(
    rows: list[ReadingRow], width: timedelta, agg: str, start: datetime, end: datetime
) -> list[BucketRow]:
    groups: dict[tuple[str, str, datetime], list[ReadingRow]] = {}
    for r in rows:
        if start <= r.ts < end:
            groups.setdefault((r.meter_id, r.metric, bucket_start(r.ts, width)), []).append(r)
    out = []
    for (meter, metric, b), members in sorted(groups.items()):
        values = [m.value for m in members]
        if agg == "avg":
            value = sum(values) / len(values)
        elif agg == "min":
            value = min(values)
        elif agg == "max":
            value = max(values)
        elif agg == "sum":
            value = sum(values)
        else:
            value = max(members, key=lambda m: m.ts).value
        out.append(
            BucketRow(meter_id=meter, metric=metric, bucket_start=b, value=value, count=len(values))
        )
    return out


def assert_buckets_equal(got: list[BucketRow], want: list[BucketRow]) -> None:
    assert [(b.meter_id, b.metric, b.bucket_start, b.count) for b in got] == [
        (b.meter_id, b.metric, b.bucket_start, b.count) for b in want
    ]
    for g, w in zip(got, want, strict=True):
        assert abs(g.value - w.value) <= 1e-6 * max(1.0, abs(w.value)), (g, w)
