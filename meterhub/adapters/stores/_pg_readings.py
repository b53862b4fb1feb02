"""PostgreSQL work for readings: daily partitions, bulk writes and queries.

Functions take an asyncpg connection; the store acquires it from its pool.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

from meterhub.adapters.stores._rows import BucketRow, ReadingRow
from meterhub.adapters.stores._time import require_utc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from meterhub.adapters.stores._pg_types import PgConnection, Record
    from meterhub.adapters.stores._rows import Agg
    from meterhub.adapters.stores._store import PageKey

log = logging.getLogger(__name__)

READING_COLS = (
    "meter_id",
    "metric",
    "ts",
    "value",
    "quality",
    "quality_rule",
    "journal_seq",
    "ts_source",
    "decode_status",
)
_COLS = ", ".join(READING_COLS)

STAGE_DDL = (
    # Per connection, created once by the pool's init; ON COMMIT DELETE ROWS empties it
    # at the end of each write transaction, so it never needs a TRUNCATE.
    "CREATE TEMP TABLE IF NOT EXISTS readings_stage ("
    "meter_id text, metric text, ts timestamptz, value double precision, quality text, "
    "quality_rule text, journal_seq bigint, ts_source text, decode_status text"
    ") ON COMMIT DELETE ROWS"
)

_UNNEST = (
    "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], "  # noqa: S608
    "$5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[]) "
    f"AS s({_COLS})"
)

# One statement does everything a batch needs, so the whole batch commits or nothing:
# new rows (a replay inserts none), the series they start, the days whose rollups are
# now stale.
_WRITE = """
WITH src AS {materialized} ({source}),
ins AS (
    INSERT INTO readings ({cols}) SELECT {cols} FROM src
    {conflict} RETURNING 1
),
ser AS (
    INSERT INTO series (meter_id, metric) {series} ON CONFLICT DO NOTHING
),
dirty AS (
    INSERT INTO rollup_dirty (day) {days} ON CONFLICT DO NOTHING
)
SELECT count(*) FROM ins
"""
_KEEP = "ON CONFLICT DO NOTHING"
# replay --overwrite: a stored row takes the re-decoded values
_REPLACE = (
    "ON CONFLICT (meter_id, metric, ts) DO UPDATE SET value = excluded.value, "
    "quality = excluded.quality, quality_rule = excluded.quality_rule, "
    "journal_seq = excluded.journal_seq, ts_source = excluded.ts_source, "
    "decode_status = excluded.decode_status"
)
_STAGE = "SELECT * FROM readings_stage"
# packed readings (see ``pack_readings``) exploded into rows by the server: parsing and
# type conversion run in PostgreSQL's process, not on the site's event loop
_PACKED = (
    "SELECT r->>0 AS meter_id, v.key AS metric, "
    "timestamptz 'epoch' + (r->>1)::bigint * interval '1 microsecond' AS ts, "
    "v.value::float8 AS value, r->>2 AS quality, r->>3 AS quality_rule, "
    "(r->>4)::bigint AS journal_seq, r->>5 AS ts_source, 'ok' AS decode_status "
    "FROM jsonb_array_elements($1::text::jsonb) AS r, jsonb_each_text(r->6) AS v"
)
# The live path almost never repeats a row, and a plain INSERT costs half of one with
# ON CONFLICT (speculative insertion) here: try it first, and only when a row is
# already stored (a catch-up overlapping the live path) write the batch again with it.
# The packed path names only the series the store may not hold yet ($2, see
# ``KnownSeries``) and the days the caller found ($3), so the rows are read once, as
# they are made (about 10 µs per reading less than a second pass over them); the row
# paths take both from the batch.
_PACKED_PARTS = {
    "materialized": "NOT MATERIALIZED", "source": _PACKED, "cols": _COLS,
    "series": "SELECT s->>0, s->>1 FROM jsonb_array_elements($2::text::jsonb) AS s",
    "days": "SELECT unnest($3::date[])",
}  # fmt: skip
_WRITE_PACKED_NEW = _WRITE.format(**_PACKED_PARTS, conflict="")
_WRITE_PACKED = _WRITE.format(**_PACKED_PARTS, conflict=_KEEP)
_WRITES = {
    (method, overwrite): _WRITE.format(
        materialized="MATERIALIZED", source=_STAGE if method == "copy" else _UNNEST,
        cols=_COLS, series="SELECT DISTINCT meter_id, metric FROM src",
        days="SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM src",
        conflict=_REPLACE if overwrite else _KEEP,
    )
    for method in ("copy", "unnest")
    for overwrite in (False, True)
}  # fmt: skip

_UPSERT_CURSOR = (
    "INSERT INTO sink_cursors (sink, seq, updated_at) VALUES ($1, $2, now()) "
    # Monotonic: replaying an older span must not move a sink's cursor back.
    "ON CONFLICT (sink) DO UPDATE SET seq = greatest(sink_cursors.seq, excluded.seq), "
    "updated_at = excluded.updated_at"
)

BulkMethod = Literal["copy", "unnest"]


def records(rows: Sequence[ReadingRow]) -> list[tuple[Any, ...]]:
    """Rows as tuples in :data:`READING_COLS` order, times checked to be aware."""
    return [
        (
            r.meter_id,
            r.metric,
            require_utc(r.ts, "ReadingRow.ts"),
            r.value,
            r.quality,
            r.quality_rule,
            r.journal_seq,
            r.ts_source,
            r.decode_status,
        )
        for r in rows
    ]


async def write_readings(
    con: PgConnection,
    recs: list[tuple[Any, ...]],
    cursor: tuple[str, int] | None,
    method: BulkMethod,
    *,
    overwrite: bool = False,
) -> int:
    """Write a batch and its cursor in one transaction.

    Returns:
        Rows inserted (with ``overwrite``: rows written).
    """
    statement = _WRITES[(method, overwrite)]
    async with con.transaction():
        if method == "copy":
            await con.copy_records_to_table("readings_stage", records=recs, columns=READING_COLS)
            inserted = await con.fetchval(statement)
        else:
            inserted = await con.fetchval(statement, *(list(c) for c in zip(*recs, strict=True)))
        if cursor is not None:
            await con.execute(_UPSERT_CURSOR, cursor[0], cursor[1])
    return int(inserted)


async def ingest(
    con: PgConnection,
    packed: tuple[str, str, list[date]] | None,
    cursor: tuple[str, int] | None,
) -> int:
    """Write packed readings (if any) and the cursor in one transaction; rows inserted.

    ``packed`` is the readings, the series they may start (``pack_series``) and the
    UTC days they fall on.
    """
    async with con.transaction():
        inserted = 0
        if packed is not None:
            try:
                async with con.transaction():  # a savepoint: a duplicate undoes only this
                    inserted = await con.fetchval(_WRITE_PACKED_NEW, *packed)
            except asyncpg.UniqueViolationError:
                inserted = await con.fetchval(_WRITE_PACKED, *packed)
        if cursor is not None:
            await con.execute(_UPSERT_CURSOR, cursor[0], cursor[1])
    return int(inserted)


async def read_cursor(con: PgConnection, sink: str) -> int:
    """Committed journal position of ``sink``."""
    value = await con.fetchval("SELECT seq FROM sink_cursors WHERE sink = $1", sink)
    return int(value) if value is not None else 0


class PartitionManager:
    """Creates daily readings partitions ahead of writes.

    Only days within ``past_days`` before and ``future_days`` after today get their
    own partition; rows outside that window go to the default partition, so a meter
    with a broken clock cannot create thousands of tiny tables.
    """

    def __init__(self, past_days: int, future_days: int) -> None:
        self.past_days = past_days
        self.future_days = future_days
        self._known: set[date] = set()

    def wanted(self, days: set[date], today: date) -> list[date]:
        """Days of a batch that need a partition this process has not made yet."""
        low = today - timedelta(days=self.past_days)
        high = today + timedelta(days=self.future_days)
        return sorted(d for d in days if low <= d <= high and d not in self._known)

    def forget(self, day: date) -> None:
        """The partition of ``day`` was dropped."""
        self._known.discard(day)

    async def ensure(self, con: PgConnection, day: date) -> None:
        """Create the partition of ``day`` if it does not exist yet."""
        name, lo, hi = partition_bounds(day)
        # DDL takes no bind parameters; name and bounds are formatted from a date
        # object computed here, never from caller text.
        create = (
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF readings "
            f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
        )
        try:
            await con.execute(create)
        except (asyncpg.DuplicateTableError, asyncpg.UniqueViolationError):
            pass  # another process made it at the same moment
        except asyncpg.CheckViolationError:
            # The default partition already holds rows of this day (they arrived while
            # the day was outside the window): move them into the new partition.
            await _split_default(con, name, lo, hi)
        self._known.add(day)


def partition_bounds(day: date) -> tuple[str, datetime, datetime]:
    """Table name and UTC bounds of the partition of ``day``."""
    lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return f"readings_p{day:%Y%m%d}", lo, lo + timedelta(days=1)


async def _split_default(con: PgConnection, name: str, lo: datetime, hi: datetime) -> None:
    log.info("moving rows of %s out of readings_default", name)
    bounds = f"FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
    async with con.transaction():
        await con.execute("LOCK TABLE readings_default IN ACCESS EXCLUSIVE MODE")
        await con.execute(
            f"CREATE TABLE {name} (LIKE readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        await con.execute(
            f"WITH moved AS (DELETE FROM readings_default WHERE ts >= $1 AND ts < $2 "  # noqa: S608 - name from a date
            f"RETURNING {_COLS}) INSERT INTO {name} ({_COLS}) SELECT {_COLS} FROM moved",
            lo,
            hi,
        )
        await con.execute(f"ALTER TABLE readings ATTACH PARTITION {name} FOR VALUES {bounds}")


class Params:
    """Collects bind parameters and hands out their ``$n`` placeholders."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def filters(meters: list[str] | None, metrics: list[str] | None, p: Params) -> str:
    """``AND`` clauses for optional meter and metric lists (bound as arrays)."""
    sql = ""
    if meters is not None:
        sql += f" AND meter_id = ANY({p(meters)}::text[])"
    if metrics is not None:
        sql += f" AND metric = ANY({p(metrics)}::text[])"
    return sql


def _row(r: Record) -> ReadingRow:
    return ReadingRow(
        meter_id=r[0],
        metric=r[1],
        ts=r[2],
        value=r[3],
        quality=r[4],
        quality_rule=r[5],
        journal_seq=r[6],
        ts_source=r[7],
        decode_status=r[8],
    )


async def query_readings(
    con: PgConnection,
    *,
    meters: list[str] | None,
    metrics: list[str] | None,
    start: datetime,
    end: datetime,
    limit: int,
    after: PageKey | None,
) -> list[ReadingRow]:
    """One keyset page ordered by (ts, meter_id, metric)."""
    p = Params()
    sql = f"SELECT {_COLS} FROM readings WHERE ts >= {p(start)} AND ts < {p(end)}"  # noqa: S608
    sql += filters(meters, metrics, p)
    if after is not None:
        ts, meter, metric = p(after[0]), p(after[1]), p(after[2])
        sql += f" AND (ts, meter_id, metric) > ({ts}::timestamptz, {meter}::text, {metric}::text)"
    sql += f" ORDER BY ts, meter_id, metric LIMIT {p(limit)}"
    return [_row(r) for r in await con.fetch(sql, *p.values)]


_RAW_AGG: dict[str, str] = {
    "avg": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "sum": "sum(value)",
    "last": "(array_agg(value ORDER BY ts DESC))[1]",
}
_ROLLUP_AGG: dict[str, str] = {
    # Count-weighted, so an hour built from four quarter-hours equals the raw average.
    "avg": "sum(sum) / sum(count)::float8",
    "min": "min(min)",
    "max": "max(max)",
    "sum": "sum(sum)",
    # The last value of the newest rollup period in the bucket is the bucket's last.
    "last": "(array_agg(last ORDER BY period_start DESC))[1]",
}
AGGS = frozenset(_RAW_AGG)


async def query_bucket_segment(
    con: PgConnection,
    *,
    tier: str,
    meters: list[str] | None,
    metrics: list[str] | None,
    start: datetime,
    end: datetime,
    bucket: timedelta,
    agg: Agg,
) -> list[BucketRow]:
    """Aggregate one segment of a bucket query from one tier."""
    if tier == "raw":
        table, col, expr, count = "readings", "ts", _RAW_AGG[agg], "count(*)"
    else:
        table, col, expr, count = (
            f"rollup_{tier}",
            "period_start",
            _ROLLUP_AGG[agg],
            "sum(count)::bigint",
        )
    p = Params()
    # date_bin with the epoch as origin gives UTC epoch-aligned buckets.
    bucket_sql = f"date_bin({p(bucket)}::interval, {col}, TIMESTAMPTZ '1970-01-01 00:00:00+00')"
    # table, column and aggregate come from the fixed maps above, never from a caller.
    sql = (
        f"SELECT meter_id, metric, {bucket_sql} AS b, {expr}, {count} FROM {table} "  # noqa: S608
        f"WHERE {col} >= {p(start)} AND {col} < {p(end)}"
    )
    sql += filters(meters, metrics, p) + " GROUP BY meter_id, metric, b"
    return [
        BucketRow(meter_id=r[0], metric=r[1], bucket_start=r[2], value=float(r[3]), count=r[4])
        for r in await con.fetch(sql, *p.values)
    ]


async def horizons(con: PgConnection) -> dict[str, datetime]:
    """Oldest instant each pruned tier still holds."""
    return {r[0]: r[1] for r in await con.fetch("SELECT tier, horizon FROM tier_horizons")}


_LATEST = (
    # per series, one backward descent of each daily partition's primary key, merged
    # (the default partition rules out an ordered append); the first row is the answer
    f"SELECT r.* FROM series s CROSS JOIN LATERAL (SELECT {_COLS} FROM readings "  # noqa: S608
    "WHERE meter_id = s.meter_id AND metric = s.metric ORDER BY ts DESC LIMIT 1) AS r "
    "WHERE true"
)


async def latest(con: PgConnection, meters: list[str] | None) -> list[ReadingRow]:
    """Newest row per meter and metric."""
    p = Params()
    sql = _LATEST
    if meters is not None:
        sql += f" AND s.meter_id = ANY({p(meters)}::text[])"
    sql += " ORDER BY s.meter_id, s.metric"
    return [_row(r) for r in await con.fetch(sql, *p.values)]
