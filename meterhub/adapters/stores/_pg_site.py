"""PostgreSQL store methods for aggregates, site metadata and retention."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import TYPE_CHECKING

from meterhub.adapters.stores import _pg_meta as meta
from meterhub.adapters.stores import _pg_retention as ret
from meterhub.adapters.stores._pg_base import PgBase
from meterhub.adapters.stores._text import without_nul
from meterhub.adapters.stores._time import (
    DAY_S,
    SHORT_TREND_S,
    floor_to,
    require_utc,
    sum_periods,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from meterhub.adapters.stores._pg_types import PgConnection
    from meterhub.adapters.stores._rows import (
        AlertRow,
        AlertState,
        Application,
        ConsumptionPeriod,
        ConsumptionRow,
        Device,
        DeviceType,
        Period,
        Severity,
        TrendRow,
    )


class PgSiteMethods(PgBase):
    """Trends, consumption, devices, alerts, rollups and pruning on PostgreSQL."""

    async def write_trends(self, rows: Sequence[TrendRow]) -> None:
        """Insert or replace trend windows.

        Raises:
            StoreError: a row is invalid (nothing is written).
            StoreUnavailableError: the server cannot be reached.
        """
        await self._call("write_trends", functools.partial(meta.write_trends, rows=rows))

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
        return await self._call("query_trends", fn)

    async def write_consumption(self, rows: Sequence[ConsumptionRow]) -> None:
        """Insert or replace consumption intervals.

        Raises:
            StoreError: a row is invalid (nothing is written).
        """
        await self._call("write_consumption", functools.partial(meta.write_consumption, rows=rows))

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
        return sum_periods(await self._call("query_consumption", fn), period, tz)

    async def query_consumption_intervals(
        self, meter_id: str, metric: str, *, start: datetime, end: datetime
    ) -> list[ConsumptionRow]:
        """The stored intervals of one counter starting in ``[start, end)``, in time order.

        Raises:
            StoreError: a time is naive.
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(
            meta.consumption_intervals,
            meter_id=meter_id,
            metric=metric,
            start=require_utc(start, "start"),
            end=require_utc(end, "end"),
        )
        return await self._call("query_consumption_intervals", fn)

    async def upsert_device(self, device: Device) -> None:
        """Create or update a device (``created_at`` of an existing one is kept).

        Raises:
            StoreError: a time is naive.
        """
        fn = functools.partial(meta.upsert_device, d=without_nul(device))
        await self._call("upsert_device", fn)

    async def get_device(self, device_id: str) -> Device | None:
        """One device, or None.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        return await self._call(
            "get_device", functools.partial(meta.get_device, device_id=device_id)
        )

    async def list_devices(self) -> list[Device]:
        """All devices ordered by id.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        return await self._call("list_devices", meta.list_devices)

    async def delete_device(self, device_id: str) -> bool:
        """Delete a device; False if it did not exist.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(meta.delete_by_key, table="devices", key=device_id)
        return await self._call("delete_device", fn)

    async def upsert_device_type(self, device_type: DeviceType) -> None:
        """Create or update a device type.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(meta.upsert_device_type, t=device_type)
        await self._call("upsert_device_type", fn)

    async def list_device_types(self) -> list[DeviceType]:
        """All device types ordered by name.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        return await self._call("list_device_types", meta.list_device_types)

    async def delete_device_type(self, name: str) -> bool:
        """Delete a device type; False if it did not exist.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(meta.delete_by_key, table="device_types", key=name)
        return await self._call("delete_device_type", fn)

    async def upsert_application(self, application: Application) -> None:
        """Create or update an application.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(meta.upsert_application, a=application)
        await self._call("upsert_application", fn)

    async def list_applications(self, device_type: str | None = None) -> list[Application]:
        """Applications ordered by name, optionally those that include ``device_type``.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(meta.list_applications, device_type=device_type)
        return await self._call("list_applications", fn)

    async def delete_application(self, name: str) -> bool:
        """Delete an application; False if it did not exist.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(meta.delete_by_key, table="applications", key=name)
        return await self._call("delete_application", fn)

    async def upsert_alert(self, alert: AlertRow) -> None:
        """Create or update an alert (``opened_at`` of an existing one is kept).

        Raises:
            StoreError: a time is naive or a field is out of range.
        """
        await self._call("upsert_alert", functools.partial(meta.upsert_alert, a=alert))

    async def get_alert(self, alert_id: str) -> AlertRow | None:
        """One alert, or None.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        return await self._call("get_alert", functools.partial(meta.get_alert, alert_id=alert_id))

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
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(
            meta.list_alerts, state=state, severity=severity, meter=meter, limit=limit
        )
        return await self._call("list_alerts", fn)

    # retention ----------------------------------------------------------------------

    async def rollup(self, now: datetime) -> int:
        """Recompute rollups of every day that got rows, for periods closed by ``now``.

        Each day is its own transaction.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        now = require_utc(now, "now")
        written = 0
        for day in await self._call("rollup", ret.dirty_days):
            written += await self._call(
                "rollup", functools.partial(ret.rollup_day, day=day, now=now)
            )
        return written

    async def prune(
        self, now: datetime, *, raw_days: int, rollup_15m_days: int, rollup_1d_days: int
    ) -> dict[str, int]:
        """Delete rows older than each tier's retention.

        Cut-offs are whole UTC days. Whole daily partitions are dropped; only rows in
        the default partition are deleted one by one. Raw rows of a day that is not
        rolled up yet are kept, so call :meth:`rollup` first. A partition whose lock
        is not free within 2 s is left for the next prune.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        today = floor_to(require_utc(now, "now"), DAY_S)
        raw_cut = today - timedelta(days=raw_days)
        dirty = await self._call("prune", ret.oldest_dirty)
        if dirty is not None:
            raw_cut = min(raw_cut, dirty)

        async def prune_raw(con: PgConnection) -> int:
            # Queries switch to the coarser tier before the rows go, never after.
            await ret.raise_horizon(con, "raw", raw_cut)
            total = 0
            for day in await ret.old_partitions(con, raw_cut):
                dropped = await ret.drop_partition(con, day)
                if dropped is not None:
                    self._partitions.forget(day)
                    total += dropped
            return total + await ret.delete_before(con, "readings", "ts", raw_cut)

        deleted = {"raw": await self._call("prune", prune_raw)}
        for tier, days in (("15m", rollup_15m_days), ("1d", rollup_1d_days)):
            cut = today - timedelta(days=days)

            async def prune_tier(con: PgConnection, tier: str = tier, cut: datetime = cut) -> int:
                await ret.raise_horizon(con, tier, cut)
                return await ret.delete_before(con, f"rollup_{tier}", "period_start", cut)

            deleted[tier] = await self._call("prune", prune_tier)
        # derived rows live as long as the tier of their resolution
        derived = {
            "trends_short": ("trends", "window_start", raw_days, f"window_s < {SHORT_TREND_S}"),
            "trends_long": ("trends", "window_start", rollup_15m_days,
                            f"window_s >= {SHORT_TREND_S}"),
            "consumption": ("consumption", "interval_start", rollup_1d_days, "true"),
            # open and acknowledged alerts stay, however old: someone has to act on them
            "alerts": ("alerts", "resolved_at", rollup_1d_days, "state = 'resolved'"),
            "dead_letters": ("dead_letters", "ts", rollup_1d_days, "true"),
            "device_events": ("device_events", "ts", rollup_1d_days, "true"),
            # queued and sent commands have no finished_at, running updates are not final
            "commands": ("commands", "finished_at", rollup_1d_days, "true"),
            "ota": ("ota_runs", "updated_at", rollup_1d_days, "state IN ('updated', 'failed')"),
        }  # fmt: skip
        for name, (table, column, days, where) in derived.items():
            delete = functools.partial(ret.delete_before, table=table, column=column,
                                       cut=today - timedelta(days=days), where=where)  # fmt: skip
            deleted[name] = await self._call("prune", delete)
        return deleted
