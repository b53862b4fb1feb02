"""The central store: PostgreSQL through an asyncpg pool, readings in daily partitions."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from meterhub.adapters.stores import _pg_readings as rd
from meterhub.adapters.stores._errors import StoreError
from meterhub.adapters.stores._migrations import load_migrations
from meterhub.adapters.stores._pg_devices import PgDeviceMethods
from meterhub.adapters.stores._pg_plugins import PgPluginMethods
from meterhub.adapters.stores._pg_site import PgSiteMethods
from meterhub.adapters.stores._rows import pack_readings, pack_series
from meterhub.adapters.stores._time import bucket_seconds, floor_to, plan_tiers, require_utc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from meterhub.adapters.stores._pg_types import PgConnection
    from meterhub.adapters.stores._rows import Agg, BucketRow, ReadingRow
    from meterhub.adapters.stores._store import PageKey
    from meterhub.model import Reading

_EPOCH_DAY = date(1970, 1, 1)
_MIGRATION_LOCK = 0x6D657465  # advisory lock key ("mete"): one migrator at a time


class PostgresStore(PgSiteMethods, PgDeviceMethods, PgPluginMethods):
    """The :class:`Store` on PostgreSQL (see :class:`PgBase` for the arguments).

    Readings live in daily range partitions created on demand ahead of writes, with
    a default partition for far-off timestamps; batches go in by binary COPY into a
    per-connection stage table and one ``INSERT ... ON CONFLICT DO NOTHING``.
    """

    async def migrate(self) -> int:
        """Apply pending migrations (each in one transaction) and return the version.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """

        async def work(con: PgConnection) -> int:
            await con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for migration in load_migrations("postgres"):
                async with con.transaction():
                    await con.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                    done = await con.fetchval(
                        "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
                    )
                    if done is None:
                        await con.execute(migration.sql)
                        await con.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            migration.version,
                            migration.name,
                        )
            version = await con.fetchval("SELECT max(version) FROM schema_migrations")
            return int(version or 0)

        return await self._call("migrate", work)

    # readings -----------------------------------------------------------------------

    async def write_readings(
        self,
        rows: Sequence[ReadingRow],
        *,
        cursor: tuple[str, int] | None = None,
        overwrite: bool = False,
    ) -> int:
        """Insert rows not stored yet (replace them with ``overwrite``); commit ``cursor``.

        Partitions for the batch's days are created first, in their own short
        transactions, so the write transaction holds no DDL locks.

        Raises:
            StoreError: a row violates a constraint (nothing is written).
            StoreUnavailableError: the server cannot be reached.
        """
        recs = rd.records(rows)

        async def work(con: PgConnection) -> int:
            days = {rec[2].date() for rec in recs}
            for day in self._partitions.wanted(days, datetime.now(UTC).date()):
                await self._partitions.ensure(con, day)
            if not recs:
                if cursor is not None:
                    await con.execute(rd._UPSERT_CURSOR, cursor[0], cursor[1])  # noqa: SLF001
                return 0
            return await rd.write_readings(con, recs, cursor, self.bulk, overwrite=overwrite)

        return await self._call("write_readings", work)

    async def ingest(
        self, readings: Sequence[Reading], *, cursor: tuple[str, int] | None = None
    ) -> int:
        """Store readings (a row per value) not stored yet; commit ``cursor`` with them.

        Raises:
            StoreError: a value violates a constraint (nothing is written).
            StoreUnavailableError: the server cannot be reached.
        """
        packed, day_numbers = pack_readings(readings)
        days = {_EPOCH_DAY + timedelta(days=n) for n in day_numbers}
        series = self._series.new_in(readings)
        batch = (packed.decode(), pack_series(series), sorted(days)) if readings else None

        async def work(con: PgConnection) -> int:
            for day in self._partitions.wanted(days, datetime.now(UTC).date()):
                await self._partitions.ensure(con, day)
            return await rd.ingest(con, batch, cursor)

        inserted = await self._call("ingest", work)
        self._series.add(series)
        return inserted

    async def read_cursor(self, sink: str) -> int:
        """Committed journal position of ``sink`` (0 if none).

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        return await self._call("read_cursor", functools.partial(rd.read_cursor, sink=sink))

    async def query_readings(
        self,
        *,
        meters: list[str] | None,
        metrics: list[str] | None,
        start: datetime,
        end: datetime,
        limit: int,
        after: PageKey | None = None,
    ) -> list[ReadingRow]:
        """Rows with ``start <= ts < end`` by (ts, meter_id, metric), keyset-paged.

        Raises:
            StoreError: a time is naive.
        """
        if after is not None:
            after = (require_utc(after[0], "after"), after[1], after[2])
        fn = functools.partial(
            rd.query_readings,
            meters=meters,
            metrics=metrics,
            start=require_utc(start, "start"),
            end=require_utc(end, "end"),
            limit=limit,
            after=after,
        )
        return await self._call("query_readings", fn)

    async def query_buckets(
        self,
        *,
        meters: list[str] | None,
        metrics: list[str] | None,
        start: datetime,
        end: datetime,
        bucket: timedelta,
        agg: Agg,
    ) -> list[BucketRow]:
        """Aggregates over epoch-aligned buckets from the finest tier holding the range.

        Raises:
            StoreError: a naive time, a bad bucket width or an unknown aggregate.
        """
        bucket_s = bucket_seconds(bucket)
        if agg not in rd.AGGS:
            raise StoreError(
                f"unknown aggregate {agg!r}", backend="postgres", operation="query_buckets"
            )
        # Widen to whole buckets so the first bucket holds all its rows.
        start = floor_to(require_utc(start, "start"), bucket_s)
        end = require_utc(end, "end")

        async def work(con: PgConnection) -> list[BucketRow]:
            out: list[BucketRow] = []
            for seg in plan_tiers(start, end, bucket_s, await rd.horizons(con)):
                out += await rd.query_bucket_segment(
                    con,
                    tier=seg.tier,
                    meters=meters,
                    metrics=metrics,
                    start=seg.start,
                    end=seg.end,
                    bucket=bucket,
                    agg=agg,
                )
            out.sort(key=lambda b: (b.meter_id, b.metric, b.bucket_start))
            return out

        return await self._call("query_buckets", work)

    async def latest(self, meters: list[str] | None = None) -> list[ReadingRow]:
        """The newest row per meter and metric.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        return await self._call("latest", functools.partial(rd.latest, meters=meters))
