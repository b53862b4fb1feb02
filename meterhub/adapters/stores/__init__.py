"""Durable storage: one :class:`Store` port, a SQLite and a PostgreSQL backend.

``open_store(url)`` picks the backend from a URL; enter the result with ``async with``
and call ``migrate()`` once at start-up.

Tiers: raw readings, 15-minute and daily rollups (avg/min/max/sum/last/count per meter,
metric and period). ``query_buckets`` serves each part of a range from the finest tier
that still holds it. Rollups combine exactly: avg = sum(sum) / sum(count), min of
mins, max of maxes, sum of sums, count of counts, and last = the ``last`` of the
newest rollup period inside the bucket. So a bucket that is a whole multiple of the
tier period gives the same value from the rollups as from the raw rows.
"""

from __future__ import annotations

from meterhub.adapters.stores._errors import StoreError, StoreUnavailableError
from meterhub.adapters.stores._postgres import PostgresStore
from meterhub.adapters.stores._rows import (
    Agg,
    AlertRow,
    AlertState,
    Application,
    BucketRow,
    CommandRow,
    ConsumptionFlag,
    ConsumptionPeriod,
    ConsumptionRow,
    DeadLetterRow,
    Device,
    DeviceEventRow,
    DeviceType,
    OtaRow,
    Period,
    QualityName,
    ReadingRow,
    Severity,
    TrendRow,
    TsSource,
    rows_from_reading,
)
from meterhub.adapters.stores._sqlite import SqliteStore
from meterhub.adapters.stores._store import PageKey, Store

_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")


def open_store(url: str) -> Store:
    """A store for ``url``, not yet opened (enter it with ``async with``).

    ``sqlite:///data/meterhub.db`` is relative to the working directory and
    ``sqlite:////var/lib/meterhub/meterhub.db`` is absolute (as in SQLAlchemy);
    ``postgresql://user@host:port/db`` goes to PostgreSQL.

    Raises:
        StoreError: the URL names no supported backend or no SQLite path.
    """
    if url.startswith(_SQLITE):
        path = url.removeprefix(_SQLITE)
        if not path:
            raise StoreError(f"no database path in {url!r}")
        return SqliteStore(path)
    if url.startswith(_POSTGRES):
        return PostgresStore(url)
    raise StoreError(
        f"unsupported store URL {url.split(':', 1)[0]!r}: use sqlite:/// or postgresql://"
    )


__all__ = [
    "Agg",
    "AlertRow",
    "AlertState",
    "Application",
    "BucketRow",
    "CommandRow",
    "ConsumptionFlag",
    "ConsumptionPeriod",
    "ConsumptionRow",
    "DeadLetterRow",
    "Device",
    "DeviceEventRow",
    "DeviceType",
    "OtaRow",
    "PageKey",
    "Period",
    "PostgresStore",
    "QualityName",
    "ReadingRow",
    "Severity",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "TrendRow",
    "TsSource",
    "open_store",
    "rows_from_reading",
]
