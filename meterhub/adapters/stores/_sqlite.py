"""The embedded store: stdlib sqlite3 in WAL mode, all work on one worker thread."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Self, TypeVar

import anyio
import anyio.to_thread

from meterhub.adapters.stores import _sqlite_meta as meta
from meterhub.adapters.stores import _sqlite_readings as rd
from meterhub.adapters.stores import _sqlite_retention as ret
from meterhub.adapters.stores._errors import StoreError, StoreUnavailableError
from meterhub.adapters.stores._rows import KnownSeries, pack_readings, pack_series
from meterhub.adapters.stores._sqlite_devices import SqliteDeviceMethods
from meterhub.adapters.stores._sqlite_plugins import SqlitePluginMethods
from meterhub.adapters.stores._text import without_nul
from meterhub.adapters.stores._time import (
    DAY_S,
    bucket_seconds,
    floor_to,
    plan_tiers,
    require_utc,
    sum_periods,
    to_us,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime, timedelta
    from types import TracebackType

    from meterhub.adapters.stores._rows import (
        Agg,
        AlertRow,
        AlertState,
        Application,
        BucketRow,
        ConsumptionPeriod,
        ConsumptionRow,
        Device,
        DeviceType,
        Period,
        ReadingRow,
        Severity,
        TrendRow,
    )
    from meterhub.adapters.stores._store import PageKey
    from meterhub.model import Reading

T = TypeVar("T")

# Error names (sqlite3.Error.sqlite_errorname) that mean "the storage is not usable right
# now" rather than "this request is wrong".
_UNAVAILABLE = (
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_READONLY",
    "SQLITE_PERM",
    "SQLITE_NOTADB",
    "SQLITE_CORRUPT",
    "SQLITE_PROTOCOL",
)


def _translate(exc: Exception, operation: str) -> StoreError:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if isinstance(exc, OSError) or name.startswith(_UNAVAILABLE):
        return StoreUnavailableError(str(exc), backend="sqlite", operation=operation)
    return StoreError(str(exc), backend="sqlite", operation=operation)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit mode with explicit BEGIN IMMEDIATE; the connection is used from
    # whichever worker thread the limiter admits, one at a time.
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode loses at most the last transactions on power loss, never
        # consistency; the journal replays them.
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA busy_timeout=5000")
        # 64 MiB of page cache instead of 2: readings arrive interleaved across meters, so
        # inserts touch pages all over the primary key, and misses dominated ingest
        con.execute("PRAGMA cache_size=-65536")
        # checkpoint every 64 MiB of WAL instead of 4: a page changed by many batches is
        # copied back once, which took a quarter off the cost of a commit under load
        con.execute("PRAGMA wal_autocheckpoint=16000")
        con.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
    except BaseException:
        con.close()
        raise
    return con


class SqliteStore(SqliteDeviceMethods, SqlitePluginMethods):
    """The :class:`Store` on a local SQLite file.

    Every database call runs on a worker thread behind a ``CapacityLimiter(1)``, so the
    event loop never blocks and the one connection is never used by two threads at once.

    Args:
        path: database file; its folder is created when missing.
    """

    backend = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._limiter = anyio.CapacityLimiter(1)
        self._con: sqlite3.Connection | None = None
        self._series = KnownSeries()

    async def __aenter__(self) -> Self:
        try:
            self._con = await anyio.to_thread.run_sync(_connect, self.path, limiter=self._limiter)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailableError(
                f"cannot open {self.path}: {exc}", backend="sqlite", operation="open"
            ) from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        con, self._con = self._con, None
        if con is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(con.close, limiter=self._limiter)

    async def _run(  # the device methods call it too
        self, operation: str, fn: Callable[[sqlite3.Connection], T]
    ) -> T:
        con = self._con
        if con is None:
            raise StoreError("the store is not open", backend="sqlite", operation=operation)
        try:
            return await anyio.to_thread.run_sync(fn, con, limiter=self._limiter)
        except (sqlite3.Error, OSError) as exc:
            raise _translate(exc, operation) from exc

    async def migrate(self) -> int:
        """Apply pending migrations and return the schema version.

        Raises:
            StoreUnavailableError: the file cannot be written.
        """
        return await self._run("migrate", rd.migrate)

    # readings -----------------------------------------------------------------------

    async def write_readings(
        self,
        rows: Sequence[ReadingRow],
        *,
        cursor: tuple[str, int] | None = None,
        overwrite: bool = False,
    ) -> int:
        """Insert rows not stored yet (replace them with ``overwrite``); commit ``cursor``.

        Raises:
            StoreError: a row violates a constraint (nothing is written).
            StoreUnavailableError: the file cannot be written.
        """
        write = functools.partial(rd.write_readings, rows=rows, cursor=cursor, overwrite=overwrite)
        return await self._run("write_readings", write)

    async def ingest(
        self, readings: Sequence[Reading], *, cursor: tuple[str, int] | None = None
    ) -> int:
        """Store readings (a row per value) not stored yet; commit ``cursor`` with them.

        Raises:
            StoreError: a value violates a constraint (nothing is written).
            StoreUnavailableError: the file cannot be written.
        """
        packed, days = pack_readings(readings)
        series = self._series.new_in(readings)
        # JSON functions take text, not blobs
        write = functools.partial(
            rd.ingest, packed=packed.decode(), series=pack_series(series) if series else None,
            days=days, cursor=cursor,
        )  # fmt: skip
        inserted = await self._run("ingest", write)
        self._series.add(series)
        return inserted

    async def read_cursor(self, sink: str) -> int:
        """Committed journal position of ``sink`` (0 if none).

        Raises:
            StoreUnavailableError: the file cannot be read.
        """
        return await self._run("read_cursor", functools.partial(rd.read_cursor, sink=sink))

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
        start, end = require_utc(start, "start"), require_utc(end, "end")
        if after is not None:
            after = (require_utc(after[0], "after"), after[1], after[2])
        fn = functools.partial(
            rd.query_readings,
            meters=meters,
            metrics=metrics,
            start=start,
            end=end,
            limit=limit,
            after=after,
        )
        return await self._run("query_readings", fn)

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
        start, end = require_utc(start, "start"), require_utc(end, "end")
        bucket_s = bucket_seconds(bucket)
        if agg not in rd._RAW_AGG:  # noqa: SLF001 - sibling module
            raise StoreError(
                f"unknown aggregate {agg!r}", backend="sqlite", operation="query_buckets"
            )
        # Widen to whole buckets so the first and last bucket hold all their rows.
        start = floor_to(start, bucket_s)

        def work(con: sqlite3.Connection) -> list[BucketRow]:
            out: list[BucketRow] = []
            for seg in plan_tiers(start, end, bucket_s, rd.horizons(con)):
                out += rd.query_bucket_segment(
                    con,
                    tier=seg.tier,
                    meters=meters,
                    metrics=metrics,
                    start=seg.start,
                    end=seg.end,
                    bucket_s=bucket_s,
                    agg=agg,
                )
            out.sort(key=lambda b: (b.meter_id, b.metric, b.bucket_start))
            return out

        return await self._run("query_buckets", work)

    async def latest(self, meters: list[str] | None = None) -> list[ReadingRow]:
        """The newest row per meter and metric.

        Raises:
            StoreUnavailableError: the file cannot be read.
        """
        return await self._run("latest", functools.partial(rd.latest, meters=meters))

    # pipeline aggregates ------------------------------------------------------------

    async def write_trends(self, rows: Sequence[TrendRow]) -> None:
        """Insert or replace trend windows.

        Raises:
            StoreError: a row is invalid (nothing is written).
        """
        await self._run("write_trends", functools.partial(meta.write_trends, rows=rows))

    async def query_trends(
        self,
        *,
        meters: list[str] | None,
        metrics: list[str] | None,
        window_s: int,
        start: datetime,
        end: datetime,
    ) -> list[TrendRow]:
        """Trend windows starting in ``[start, end)``.

        Raises:
            StoreError: a time is naive.
        """
        fn = functools.partial(
            meta.query_trends,
            meters=meters,
            metrics=metrics,
            window_s=window_s,
            start=require_utc(start, "start"),
            end=require_utc(end, "end"),
        )
        return await self._run("query_trends", fn)

    async def write_consumption(self, rows: Sequence[ConsumptionRow]) -> None:
        """Insert or replace consumption intervals.

        Raises:
            StoreError: a row is invalid (nothing is written).
        """
        await self._run("write_consumption", functools.partial(meta.write_consumption, rows=rows))

    async def query_consumption(
        self,
        meter_id: str,
        metric: str,
        *,
        start: datetime,
        end: datetime,
        period: Period,
        tz: str = "UTC",
    ) -> list[ConsumptionPeriod]:
        """Intervals starting in ``[start, end)`` summed into calendar periods of ``tz``.

        Raises:
            StoreError: a naive time or an unknown time zone.
        """
        fn = functools.partial(
            meta.consumption_intervals,
            meter_id=meter_id,
            metric=metric,
            start=require_utc(start, "start"),
            end=require_utc(end, "end"),
        )
        return sum_periods(await self._run("query_consumption", fn), period, tz)

    async def query_consumption_intervals(
        self, meter_id: str, metric: str, *, start: datetime, end: datetime
    ) -> list[ConsumptionRow]:
        """The stored intervals of one counter starting in ``[start, end)``, in time order.

        Raises:
            StoreError: a time is naive.
            StoreUnavailableError: the file cannot be read.
        """
        fn = functools.partial(
            meta.consumption_intervals,
            meter_id=meter_id,
            metric=metric,
            start=require_utc(start, "start"),
            end=require_utc(end, "end"),
        )
        return await self._run("query_consumption_intervals", fn)

    # site metadata ------------------------------------------------------------------

    async def upsert_device(self, device: Device) -> None:
        """Create or update a device (``created_at`` of an existing one is kept).

        Raises:
            StoreError: a time is naive.
        """
        fn = functools.partial(meta.upsert_device, d=without_nul(device))
        await self._run("upsert_device", fn)

    async def get_device(self, device_id: str) -> Device | None:
        """One device, or None.

        Raises:
            StoreUnavailableError: the file cannot be read.
        """
        return await self._run(
            "get_device", functools.partial(meta.get_device, device_id=device_id)
        )

    async def list_devices(self) -> list[Device]:
        """All devices ordered by id.

        Raises:
            StoreUnavailableError: the file cannot be read.
        """
        return await self._run("list_devices", meta.list_devices)

    async def delete_device(self, device_id: str) -> bool:
        """Delete a device; False if it did not exist.

        Raises:
            StoreUnavailableError: the file cannot be written.
        """
        fn = functools.partial(meta.delete_by_key, table="devices", column="id", key=device_id)
        return await self._run("delete_device", fn)

    async def upsert_device_type(self, device_type: DeviceType) -> None:
        """Create or update a device type.

        Raises:
            StoreUnavailableError: the file cannot be written.
        """
        await self._run(
            "upsert_device_type", functools.partial(meta.upsert_device_type, t=device_type)
        )

    async def list_device_types(self) -> list[DeviceType]:
        """All device types ordered by name.

        Raises:
            StoreUnavailableError: the file cannot be read.
        """
        return await self._run("list_device_types", meta.list_device_types)

    async def delete_device_type(self, name: str) -> bool:
        """Delete a device type; False if it did not exist.

        Raises:
            StoreUnavailableError: the file cannot be written.
        """
        fn = functools.partial(meta.delete_by_key, table="device_types", column="name", key=name)
        return await self._run("delete_device_type", fn)

    async def upsert_application(self, application: Application) -> None:
        """Create or update an application.

        Raises:
            StoreUnavailableError: the file cannot be written.
        """
        await self._run(
            "upsert_application", functools.partial(meta.upsert_application, a=application)
        )

    async def list_applications(self, device_type: str | None = None) -> list[Application]:
        """Applications ordered by name, optionally those that include ``device_type``.

        Raises:
            StoreUnavailableError: the file cannot be read.
        """
        fn = functools.partial(meta.list_applications, device_type=device_type)
        return await self._run("list_applications", fn)

    async def delete_application(self, name: str) -> bool:
        """Delete an application; False if it did not exist.

        Raises:
            StoreUnavailableError: the file cannot be written.
        """
        fn = functools.partial(meta.delete_by_key, table="applications", column="name", key=name)
        return await self._run("delete_application", fn)

    async def upsert_alert(self, alert: AlertRow) -> None:
        """Create or update an alert (``opened_at`` of an existing one is kept).

        Raises:
            StoreError: a time is naive or a field is out of range.
        """
        await self._run("upsert_alert", functools.partial(meta.upsert_alert, a=alert))

    async def get_alert(self, alert_id: str) -> AlertRow | None:
        """One alert, or None.

        Raises:
            StoreUnavailableError: the file cannot be read.
        """
        return await self._run("get_alert", functools.partial(meta.get_alert, alert_id=alert_id))

    async def list_alerts(
        self,
        *,
        state: AlertState | None = None,
        severity: Severity | None = None,
        meter: str | None = None,
        limit: int = 100,
    ) -> list[AlertRow]:
        """Alerts matching every given filter, newest ``opened_at`` first.

        Raises:
            StoreUnavailableError: the file cannot be read.
        """
        fn = functools.partial(
            meta.list_alerts, state=state, severity=severity, meter=meter, limit=limit
        )
        return await self._run("list_alerts", fn)

    # retention ----------------------------------------------------------------------

    async def rollup(self, now: datetime) -> int:
        """Recompute rollups of every day that got rows, for periods closed by ``now``.

        Each day is its own transaction, so ingest interleaves with a long rollup.

        Raises:
            StoreUnavailableError: the file cannot be written.
        """
        now_us = to_us(require_utc(now, "now"))
        written = 0
        for day in await self._run("rollup", ret.dirty_days):
            fn = functools.partial(ret.rollup_day, day=day, now_us=now_us)
            written += await self._run("rollup", fn)
        return written

    async def prune(
        self, now: datetime, *, raw_days: int, rollup_15m_days: int, rollup_1d_days: int
    ) -> dict[str, int]:
        """Delete rows older than each tier's retention, in small batches.

        Cut-offs are whole UTC days. Raw rows of a day that is not rolled up yet are
        kept, so call :meth:`rollup` first.

        Raises:
            StoreUnavailableError: the file cannot be written.
        """
        today = floor_to(require_utc(now, "now"), DAY_S)
        day_us = DAY_S * 1_000_000
        raw_cut = to_us(today) - raw_days * day_us
        dirty = await self._run("prune", ret.oldest_dirty_us)
        if dirty is not None:
            raw_cut = min(raw_cut, dirty)
        cut_15m = to_us(today) - rollup_15m_days * day_us
        cut_1d = to_us(today) - rollup_1d_days * day_us
        cuts = {
            ("readings", "raw"): raw_cut,
            ("rollup_15m", "15m"): cut_15m,
            ("rollup_1d", "1d"): cut_1d,
            # derived rows live as long as the tier of their resolution
            ("trends_short", "trends_short"): to_us(today) - raw_days * day_us,
            ("trends_long", "trends_long"): cut_15m,
            ("consumption", "consumption"): cut_1d,
            ("alerts", "alerts"): cut_1d,
            ("dead_letters", "dead_letters"): cut_1d,
            ("device_events", "device_events"): cut_1d,
            ("commands", "commands"): cut_1d,
            ("ota_runs", "ota"): cut_1d,
        }
        deleted: dict[str, int] = {}
        for (table, tier), cut in cuts.items():
            if tier in ("raw", "15m", "1d"):
                # Queries switch to the coarser tier before the rows go, never after.
                horizon = functools.partial(ret.raise_horizon, tier=tier, horizon_us=cut)
                await self._run("prune", horizon)
            total = 0
            while True:
                # One batch per thread hop: the limiter lets queued writes in between.
                n = await self._run(
                    "prune", functools.partial(ret.prune_batch, table=table, before_us=cut)
                )
                total += n
                if n < ret.PRUNE_BATCH:
                    break
            deleted[tier] = total
        return deleted
