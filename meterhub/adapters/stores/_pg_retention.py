"""PostgreSQL work for rollups and pruning.

Old raw data goes by dropping whole daily partitions (no dead tuples, no vacuum);
only the default partition and rollup tables are trimmed with DELETE, which under
MVCC never blocks concurrent inserts.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

from meterhub.adapters.stores._pg_readings import partition_bounds

if TYPE_CHECKING:
    from meterhub.adapters.stores._pg_types import PgConnection

_ROLLUP = """
INSERT INTO {table} (meter_id, metric, period_start, avg, min, max, sum, last, count)
SELECT meter_id, metric,
       date_bin('{width}'::interval, ts, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS b,
       avg(value), min(value), max(value), sum(value),
       (array_agg(value ORDER BY ts DESC))[1], count(*)
FROM readings WHERE ts >= $1 AND ts < $2
GROUP BY meter_id, metric, b
ON CONFLICT (meter_id, metric, period_start) DO UPDATE SET
    avg = excluded.avg, min = excluded.min, max = excluded.max, sum = excluded.sum,
    last = excluded.last, count = excluded.count
"""
_ROLLUP_15M = _ROLLUP.format(table="rollup_15m", width="15 minutes")
_ROLLUP_1D = _ROLLUP.format(table="rollup_1d", width="1 day")
_PARTITION = re.compile(r"^readings_p(\d{8})$")


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def dirty_days(con: PgConnection) -> list[date]:
    """UTC days that received rows since their rollups were last made."""
    return [r[0] for r in await con.fetch("SELECT day FROM rollup_dirty ORDER BY day")]


async def rollup_day(con: PgConnection, day: date, now: datetime) -> int:
    """Recompute the closed rollup periods of one day; clear it once fully closed."""
    _, start, end = partition_bounds(day)
    quarter = timedelta(minutes=15)
    closed_15m = min(end, start + ((now - start) // quarter) * quarter) if now > start else start
    written = 0
    async with con.transaction():
        if closed_15m > start:
            written += _count(await con.execute(_ROLLUP_15M, start, closed_15m))
        if end <= now:
            written += _count(await con.execute(_ROLLUP_1D, start, end))
            await con.execute("DELETE FROM rollup_dirty WHERE day = $1", day)
    return written


async def oldest_dirty(con: PgConnection) -> datetime | None:
    """Start of the oldest day whose raw rows are not rolled up yet."""
    day = await con.fetchval("SELECT min(day) FROM rollup_dirty")
    return None if day is None else partition_bounds(day)[1]


async def raise_horizon(con: PgConnection, tier: str, horizon: datetime) -> None:
    """Record that ``tier`` holds nothing before ``horizon`` (never moves back)."""
    await con.execute(
        "INSERT INTO tier_horizons (tier, horizon) VALUES ($1, $2) ON CONFLICT (tier) "
        "DO UPDATE SET horizon = greatest(tier_horizons.horizon, excluded.horizon)",
        tier,
        horizon,
    )


async def old_partitions(con: PgConnection, cut: datetime) -> list[date]:
    """Days whose whole partition lies before ``cut``."""
    names = await con.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'readings'::regclass"
    )
    days: list[date] = []
    for (name,) in names:
        match = _PARTITION.match(name)
        if match is None:
            continue
        day = datetime.strptime(match.group(1), "%Y%m%d").date()  # noqa: DTZ007 - a bare date
        if partition_bounds(day)[2] <= cut:
            days.append(day)
    return sorted(days)


async def drop_partition(con: PgConnection, day: date) -> int | None:
    """Drop one old partition; its row count, or None if the lock was not free soon."""
    name = partition_bounds(day)[0]
    try:
        async with con.transaction():
            # Dropping needs a brief exclusive lock on the parent; rather than queue
            # ingest behind a long query, give up and try again at the next prune.
            await con.execute("SET LOCAL lock_timeout = '2s'")
            # name is formatted from a date parsed out of our own partition name.
            rows = await con.fetchval(f"SELECT count(*) FROM {name}")  # noqa: S608
            await con.execute(f"DROP TABLE {name}")
    except asyncpg.LockNotAvailableError:
        return None
    return int(rows)


async def delete_before(
    con: PgConnection, table: str, column: str, cut: datetime, where: str = "true"
) -> int:
    """Delete rows before ``cut`` that match ``where``.

    Table, column and condition come from the store's own code, never from callers.
    """
    sql = f"DELETE FROM {table} WHERE {column} < $1 AND {where}"  # noqa: S608
    return _count(await con.execute(sql, cut))
