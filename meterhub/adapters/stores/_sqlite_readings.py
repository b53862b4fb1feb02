"""Synchronous SQLite work for schema, readings and their queries.

Every function takes the store's one connection and runs on its worker thread; the
connection is in autocommit mode and transactions are explicit (``BEGIN IMMEDIATE``
takes the write lock up front, so a transaction never fails half-way on a lock upgrade).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec

from meterhub.adapters.stores._migrations import load_migrations
from meterhub.adapters.stores._rows import BucketRow, ReadingRow
from meterhub.adapters.stores._time import DAY_S, from_us, require_utc, to_us

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator, Sequence
    from datetime import datetime

    from meterhub.adapters.stores._rows import Agg
    from meterhub.adapters.stores._store import PageKey

_DAY_US = DAY_S * 1_000_000
_READING_COLS = (
    "meter_id, metric, ts, value, quality, quality_rule, journal_seq, ts_source, decode_status"
)
# ON CONFLICT DO NOTHING, not INSERT OR IGNORE: OR IGNORE would also silently drop rows
# that break a CHECK or NOT NULL constraint, and a bad row must fail the batch instead.
_INSERT_READING = (
    f"INSERT INTO readings ({_READING_COLS}) VALUES (?,?,?,?,?,?,?,?,?) "  # noqa: S608
    "ON CONFLICT (meter_id, metric, ts) DO NOTHING"
)
_REPLACE_READING = (
    f"INSERT INTO readings ({_READING_COLS}) VALUES (?,?,?,?,?,?,?,?,?) "  # noqa: S608
    "ON CONFLICT (meter_id, metric, ts) DO UPDATE SET value = excluded.value, "
    "quality = excluded.quality, quality_rule = excluded.quality_rule, "
    "journal_seq = excluded.journal_seq, ts_source = excluded.ts_source, "
    "decode_status = excluded.decode_status"
)
_ADD_SERIES = "INSERT INTO series (meter_id, metric) VALUES (?, ?) ON CONFLICT DO NOTHING"
_UPSERT_CURSOR = (
    "INSERT INTO sink_cursors (sink, seq, updated_at) VALUES (?, ?, ?) "
    # Monotonic: replaying an older span must not move a sink's cursor back.
    "ON CONFLICT (sink) DO UPDATE SET seq = max(seq, excluded.seq), "
    "updated_at = excluded.updated_at"
)

# Bucket start with floor division that is also right before 1970 (SQLite's % and /
# truncate toward zero).
_BUCKET = "({col} - ((({col} % :b) + :b) % :b))"

_RAW_AGG: dict[str, str] = {
    "avg": "avg(value), 0",
    "min": "min(value), 0",
    "max": "max(value), 0",
    "sum": "sum(value), 0",
    # SQLite takes a bare column from the row that holds the single max(): the last one.
    "last": "value, max(ts)",
}
_ROLLUP_AGG: dict[str, str] = {
    # Count-weighted, so an hour built from four quarter-hours equals the raw average.
    "avg": "sum(sum) / sum(count), 0",
    "min": "min(min), 0",
    "max": "max(max), 0",
    "sum": "sum(sum), 0",
    # The last value of the newest rollup period in the bucket is the bucket's last.
    "last": "last, max(period_start)",
}


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[None]:
    """Run the block in one write transaction; roll back on any error."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def migrate(con: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own transaction; return the version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations")}
    for migration in load_migrations("sqlite"):
        if migration.version in applied:
            continue
        try:
            # executescript cannot take parameters; the transaction it opens stays
            # open, so the version row below commits together with the schema.
            con.executescript("BEGIN IMMEDIATE;\n" + migration.sql)
            con.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, int(time.time())),
            )
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def _reading_params(row: ReadingRow) -> tuple[Any, ...]:
    return (
        row.meter_id,
        row.metric,
        to_us(require_utc(row.ts, "ReadingRow.ts")),
        row.value,
        row.quality,
        row.quality_rule,
        row.journal_seq,
        row.ts_source,
        row.decode_status,
    )


def write_readings(
    con: sqlite3.Connection,
    rows: Sequence[ReadingRow],
    cursor: tuple[str, int] | None,
    *,
    overwrite: bool = False,
) -> int:
    """Insert new rows, record their series and dirty days, commit the cursor.

    With ``overwrite``, rows already stored take the new values.
    """
    params = [_reading_params(row) for row in rows]
    days = {(p[2] // _DAY_US,) for p in params}
    with transaction(con):
        statement = _REPLACE_READING if overwrite else _INSERT_READING
        inserted = con.executemany(statement, params).rowcount
        con.executemany(_ADD_SERIES, sorted({(p[0], p[1]) for p in params}))
        con.executemany("INSERT OR IGNORE INTO rollup_dirty (day) VALUES (?)", sorted(days))
        if cursor is not None:
            con.execute(_UPSERT_CURSOR, (cursor[0], cursor[1], int(time.time())))
    return int(inserted)


# Packed readings (see ``pack_readings``) exploded into rows by SQLite itself: the
# whole batch is a few statements that run without the GIL, where executemany would
# take the GIL back for every row and crawl while the event loop is busy.
_PACKED = (
    # each reading's fields are taken out once (MATERIALIZED), then its values object
    # is exploded; extracting them per value would parse the reading a dozen times
    "WITH r AS MATERIALIZED (SELECT json_extract(value, '$[0]') AS meter_id, "
    "json_extract(value, '$[1]') AS ts, json_extract(value, '$[2]') AS quality, "
    "json_extract(value, '$[3]') AS quality_rule, json_extract(value, '$[4]') AS journal_seq, "
    "json_extract(value, '$[5]') AS ts_source, json_extract(value, '$[6]') AS vals "
    "FROM json_each(:packed)), "
    "src AS (SELECT r.meter_id, v.key AS metric, r.ts, v.value, r.quality, r.quality_rule, "
    "r.journal_seq, r.ts_source FROM r, json_each(r.vals) AS v) "
)
_INSERT_PACKED = (
    f"{_PACKED}INSERT INTO readings ({_READING_COLS}) "  # noqa: S608
    "SELECT meter_id, metric, ts, value, quality, quality_rule, journal_seq, ts_source, 'ok' "
    # in key order, each insert lands next to the one before (in CPU cache) rather
    # than a meter away: about 6 % off a batch
    "FROM src WHERE true ORDER BY meter_id, metric, ts "
    "ON CONFLICT (meter_id, metric, ts) DO NOTHING"
)
_ADD_SERIES_PACKED = (
    "INSERT INTO series (meter_id, metric) SELECT json_extract(value, '$[0]'), "
    "json_extract(value, '$[1]') FROM json_each(:series) WHERE true ON CONFLICT DO NOTHING"
)


def ingest(
    con: sqlite3.Connection,
    packed: str,
    series: str | None,
    days: set[int],
    cursor: tuple[str, int] | None,
) -> int:
    """Insert packed readings not stored yet, record new series, mark days, commit.

    ``series`` packs the series the batch may start (``pack_series``), if any.
    """
    with transaction(con):
        before = con.total_changes  # rowcount is -1 for statements that start with WITH
        con.execute(_INSERT_PACKED, {"packed": packed})
        inserted = con.total_changes - before
        if series is not None:
            con.execute(_ADD_SERIES_PACKED, {"series": series})
        con.executemany("INSERT OR IGNORE INTO rollup_dirty (day) VALUES (?)",
                        [(day,) for day in sorted(days)])  # fmt: skip
        if cursor is not None:
            con.execute(_UPSERT_CURSOR, (cursor[0], cursor[1], int(time.time())))
    return int(inserted)


def read_cursor(con: sqlite3.Connection, sink: str) -> int:
    """Committed journal position of ``sink``."""
    row = con.execute("SELECT seq FROM sink_cursors WHERE sink = ?", (sink,)).fetchone()
    return int(row[0]) if row else 0


def _row(values: tuple[Any, ...]) -> ReadingRow:
    return ReadingRow(
        meter_id=str(values[0]),
        metric=str(values[1]),
        ts=from_us(int(values[2])),
        value=float(values[3]),
        quality=values[4],
        quality_rule=values[5],
        journal_seq=values[6],
        ts_source=values[7],
        decode_status=str(values[8]),
    )


def _filters(meters: list[str] | None, metrics: list[str] | None, args: dict[str, object]) -> str:
    # Lists are bound as one JSON parameter each, so the SQL text never varies with
    # the number (or content) of ids the caller passes.
    sql = ""
    if meters is not None:
        sql += " AND meter_id IN (SELECT value FROM json_each(:meters))"
        args["meters"] = msgspec.json.encode(meters).decode()
    if metrics is not None:
        sql += " AND metric IN (SELECT value FROM json_each(:metrics))"
        args["metrics"] = msgspec.json.encode(metrics).decode()
    return sql


def query_readings(
    con: sqlite3.Connection,
    *,
    meters: list[str] | None,
    metrics: list[str] | None,
    start: datetime,
    end: datetime,
    limit: int,
    after: PageKey | None,
) -> list[ReadingRow]:
    """One keyset page of rows ordered by (ts, meter_id, metric)."""
    args: dict[str, object] = {"start": to_us(start), "end": to_us(end), "limit": limit}
    sql = f"SELECT {_READING_COLS} FROM readings WHERE ts >= :start AND ts < :end"  # noqa: S608
    sql += _filters(meters, metrics, args)
    if after is not None:
        sql += " AND (ts, meter_id, metric) > (:a_ts, :a_meter, :a_metric)"
        args.update(a_ts=to_us(after[0]), a_meter=after[1], a_metric=after[2])
    sql += " ORDER BY ts, meter_id, metric LIMIT :limit"
    return [_row(r) for r in con.execute(sql, args)]


def query_bucket_segment(
    con: sqlite3.Connection,
    *,
    tier: str,
    meters: list[str] | None,
    metrics: list[str] | None,
    start: datetime,
    end: datetime,
    bucket_s: int,
    agg: Agg,
) -> list[BucketRow]:
    """Aggregate one segment of a bucket query from one tier."""
    args: dict[str, object] = {"start": to_us(start), "end": to_us(end), "b": bucket_s * 1_000_000}
    if tier == "raw":
        table, col, expr, count = "readings", "ts", _RAW_AGG[agg], "count(*)"
    else:
        table, col, expr, count = f"rollup_{tier}", "period_start", _ROLLUP_AGG[agg], "sum(count)"
    bucket = _BUCKET.format(col=col)
    # table, column and aggregate come from the fixed maps above, never from a caller.
    sql = (
        f"SELECT meter_id, metric, {bucket} AS bucket, {expr}, {count} FROM {table} "  # noqa: S608
        f"WHERE {col} >= :start AND {col} < :end"
    )
    sql += _filters(meters, metrics, args)
    sql += " GROUP BY meter_id, metric, bucket"
    return [
        BucketRow(
            meter_id=r[0], metric=r[1], bucket_start=from_us(r[2]), value=float(r[3]), count=r[5]
        )
        for r in con.execute(sql, args)
    ]


def horizons(con: sqlite3.Connection) -> dict[str, datetime]:
    """Oldest instant each pruned tier still holds."""
    return {t: from_us(h) for t, h in con.execute("SELECT tier, horizon FROM tier_horizons")}


_LATEST = (
    # max(ts) of a series is one descent of the primary key
    f"SELECT {', '.join('r.' + c for c in _READING_COLS.split(', '))} "  # noqa: S608
    "FROM series s JOIN readings r ON r.meter_id = s.meter_id AND r.metric = s.metric "
    "AND r.ts = (SELECT max(m.ts) FROM readings m "
    "WHERE m.meter_id = s.meter_id AND m.metric = s.metric) WHERE true"
)


def latest(con: sqlite3.Connection, meters: list[str] | None) -> list[ReadingRow]:
    """Newest row per meter and metric."""
    args: dict[str, object] = {}
    sql = _LATEST
    if meters is not None:
        sql += " AND s.meter_id IN (SELECT value FROM json_each(:meters))"
        args["meters"] = msgspec.json.encode(meters).decode()
    sql += " ORDER BY s.meter_id, s.metric"
    return [_row(r) for r in con.execute(sql, args)]
