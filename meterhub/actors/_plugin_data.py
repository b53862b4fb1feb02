"""The store as a plugin sees it: history to read and a key-value store of its own.

These implement the plugin API's ``SiteData`` and ``PluginState`` over the site's
``Store``, so a plugin never meets store rows, page keys or backend errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meterhub.adapters.stores import StoreError, StoreUnavailableError
from meterhub.model import Consumption, ConsumptionFlag
from meterhub.plugins import Sample

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from meterhub.adapters.stores import PageKey, ReadingRow, Store

MAX_ROWS = 100_000
"""Most reading rows one ``readings`` call returns (a plugin pages by time)."""
_PAGE = 10_000


def _samples(rows: Sequence[ReadingRow]) -> list[Sample]:
    """Rows (ordered by ts) grouped into one sample per instant."""
    samples: list[Sample] = []
    values: dict[str, float | int] = {}
    ts: datetime | None = None
    for row in rows:
        if row.ts != ts:
            if ts is not None:
                samples.append(Sample(ts=ts, values=values))
            ts, values = row.ts, {}
        values[row.metric] = row.value
    if ts is not None:
        samples.append(Sample(ts=ts, values=values))
    return samples


class StoreData:
    """``SiteData`` over a store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def meters(self) -> list[str]:
        """Every device id of the registry."""
        return sorted(device.id for device in await self._store.list_devices())

    async def readings(
        self,
        meter_id: str,
        *,
        start: datetime,
        end: datetime,
        metrics: Sequence[str] | None = None,
    ) -> list[Sample]:
        """A meter's stored readings in ``[start, end)``, one sample per instant.

        Raises:
            ValueError: a naive time, or more than ``MAX_ROWS`` rows in the range.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        rows: list[ReadingRow] = []
        after: PageKey | None = None
        while True:
            page = await self._store.query_readings(
                meters=[meter_id], metrics=list(metrics) if metrics else None, start=start,
                end=end, limit=_PAGE, after=after)  # fmt: skip
            rows.extend(page)
            if len(rows) > MAX_ROWS:
                raise ValueError(f"more than {MAX_ROWS} values of {meter_id} from {start} to "
                                 f"{end}: ask for a shorter range")  # fmt: skip
            if len(page) < _PAGE:
                return _samples(rows)
            last = page[-1]
            after = (last.ts, last.meter_id, last.metric)

    async def consumption(
        self, meter_id: str, metric: str, *, start: datetime, end: datetime
    ) -> list[Consumption]:
        """A counter's stored intervals starting in ``[start, end)``.

        Raises:
            ValueError: a naive time.
        """
        try:
            rows = await self._store.query_consumption_intervals(meter_id, metric,
                                                                 start=start, end=end)  # fmt: skip
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            raise ValueError(str(exc)) from exc
        return [Consumption(meter_id=r.meter_id, metric=r.metric, interval_start=r.interval_start,
                            interval_s=r.interval_s, wh=r.wh, flag=ConsumptionFlag(r.flag))
                for r in rows]  # fmt: skip

    async def latest(self, meter_id: str) -> Sample | None:
        """Each metric's newest value, at the newest of their times."""
        rows = await self._store.latest([meter_id])
        if not rows:
            return None
        return Sample(ts=max(r.ts for r in rows), values={r.metric: r.value for r in rows})


class StoreState:
    """``PluginState``: one plugin's rows of the store's ``plugin_state`` table."""

    def __init__(self, store: Store, plugin: str) -> None:
        self._store = store
        self._plugin = plugin

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``."""
        return await self._store.get_plugin_state(self._plugin, key)

    async def put(self, key: str, value: bytes) -> None:
        """Keep ``value`` under ``key``.

        Raises:
            ValueError: the key or the value is over the store's limits.
        """
        try:
            await self._store.put_plugin_state(self._plugin, key, bytes(value))
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            raise ValueError(str(exc)) from exc

    async def delete(self, key: str) -> bool:
        """Forget ``key``."""
        return await self._store.delete_plugin_state(self._plugin, key)

    async def items(self) -> dict[str, bytes]:
        """Every key of the plugin."""
        return await self._store.list_plugin_state(self._plugin)
