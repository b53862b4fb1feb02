"""Synchronous SQLite work for rollups and pruning.

Both run as many short transactions (one dirty day, or one batch of deletes, at a
time) so that the single write lock is released often and ingest never waits long.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meterhub.adapters.stores._sqlite_readings import transaction
from meterhub.adapters.stores._time import SHORT_TREND_S

if TYPE_CHECKING:
    import sqlite3

DAY_US = 86_400 * 1_000_000
QUARTER_US = 900 * 1_000_000
PRUNE_BATCH = 2_000
"""Rows deleted per transaction: a few milliseconds of lock per batch."""

# The last value is fetched by primary key from the row holding max(ts): SQLite's
# bare-column shortcut is unreliable when the query also has min() and max().
_ROLLUP = """
INSERT INTO {table} (meter_id, metric, period_start, avg, min, max, sum, last, count)
SELECT g.meter_id, g.metric, g.bucket, g.a, g.mn, g.mx, g.s,
       (SELECT r.value FROM readings r
         WHERE r.meter_id = g.meter_id AND r.metric = g.metric AND r.ts = g.mts),
       g.c
FROM (
    SELECT meter_id, metric, ts - ((ts % :p) + :p) % :p AS bucket,
           avg(value) AS a, min(value) AS mn, max(value) AS mx, sum(value) AS s,
           max(ts) AS mts, count(*) AS c
    FROM readings WHERE ts >= :start AND ts < :end
    GROUP BY meter_id, metric, bucket
) AS g
WHERE true
ON CONFLICT (meter_id, metric, period_start) DO UPDATE SET
    avg = excluded.avg, min = excluded.min, max = excluded.max, sum = excluded.sum,
    last = excluded.last, count = excluded.count
"""


def dirty_days(con: sqlite3.Connection) -> list[int]:
    """UTC epoch days that received rows since their rollups were last made."""
    return [row[0] for row in con.execute("SELECT day FROM rollup_dirty ORDER BY day")]


def rollup_day(con: sqlite3.Connection, day: int, now_us: int) -> int:
    """Recompute the closed rollup periods of one day; clear it once fully closed."""
    start = day * DAY_US
    end = start + DAY_US
    closed_15m = min(end, now_us - now_us % QUARTER_US)
    written = 0
    with transaction(con):
        if closed_15m > start:
            args = {"p": QUARTER_US, "start": start, "end": closed_15m}
            written += con.execute(_ROLLUP.format(table="rollup_15m"), args).rowcount
        if end <= now_us:
            args = {"p": DAY_US, "start": start, "end": end}
            written += con.execute(_ROLLUP.format(table="rollup_1d"), args).rowcount
            con.execute("DELETE FROM rollup_dirty WHERE day = ?", (day,))
    return int(written)


def raise_horizon(con: sqlite3.Connection, tier: str, horizon_us: int) -> None:
    """Record that ``tier`` holds nothing before ``horizon_us`` (never moves back)."""
    with transaction(con):
        con.execute(
            "INSERT INTO tier_horizons (tier, horizon) VALUES (?, ?) "
            "ON CONFLICT (tier) DO UPDATE SET horizon = max(horizon, excluded.horizon)",
            (tier, horizon_us),
        )


def oldest_dirty_us(con: sqlite3.Connection) -> int | None:
    """Start of the oldest day whose raw rows are not rolled up yet."""
    row = con.execute("SELECT min(day) FROM rollup_dirty").fetchone()
    return None if row[0] is None else int(row[0]) * DAY_US


_PRUNE: dict[str, str] = {
    "readings": (
        "DELETE FROM readings WHERE (meter_id, metric, ts) IN "
        "(SELECT meter_id, metric, ts FROM readings WHERE ts < ? LIMIT ?)"
    ),
    "rollup_15m": (
        "DELETE FROM rollup_15m WHERE (meter_id, metric, period_start) IN "
        "(SELECT meter_id, metric, period_start FROM rollup_15m WHERE period_start < ? LIMIT ?)"
    ),
    "rollup_1d": (
        "DELETE FROM rollup_1d WHERE (meter_id, metric, period_start) IN "
        "(SELECT meter_id, metric, period_start FROM rollup_1d WHERE period_start < ? LIMIT ?)"
    ),
    "trends_short": (
        "DELETE FROM trends WHERE (meter_id, metric, window_s, window_start) IN "  # noqa: S608
        "(SELECT meter_id, metric, window_s, window_start FROM trends "
        f"WHERE window_start < ? AND window_s < {SHORT_TREND_S} LIMIT ?)"
    ),
    "trends_long": (
        "DELETE FROM trends WHERE (meter_id, metric, window_s, window_start) IN "  # noqa: S608
        "(SELECT meter_id, metric, window_s, window_start FROM trends "
        f"WHERE window_start < ? AND window_s >= {SHORT_TREND_S} LIMIT ?)"
    ),
    "consumption": (
        "DELETE FROM consumption WHERE (meter_id, metric, interval_start, interval_s) IN "
        "(SELECT meter_id, metric, interval_start, interval_s FROM consumption "
        "WHERE interval_start < ? LIMIT ?)"
    ),
    # open and acknowledged alerts stay, however old: someone still has to act on them
    "alerts": (
        "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts "
        "WHERE state = 'resolved' AND resolved_at < ? LIMIT ?)"
    ),
    "dead_letters": (
        "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE ts < ? LIMIT ?)"
    ),
    "device_events": (
        "DELETE FROM device_events WHERE id IN (SELECT id FROM device_events WHERE ts < ? LIMIT ?)"
    ),
    # queued and sent commands have no finished_at, running updates are not final yet
    "commands": (
        "DELETE FROM commands WHERE id IN (SELECT id FROM commands WHERE finished_at < ? LIMIT ?)"
    ),
    "ota_runs": (
        "DELETE FROM ota_runs WHERE id IN (SELECT id FROM ota_runs "
        "WHERE state IN ('updated', 'failed') AND updated_at < ? LIMIT ?)"
    ),
}


def prune_batch(con: sqlite3.Connection, table: str, before_us: int) -> int:
    """Delete up to :data:`PRUNE_BATCH` rows older than ``before_us`` from ``table``."""
    with transaction(con):
        return int(con.execute(_PRUNE[table], (before_us, PRUNE_BATCH)).rowcount)
