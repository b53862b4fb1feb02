"""Rebuild the aggregator's open windows from the stored readings at start.

Trends and consumption live in memory until their window closes; a restart would
start every open window again from its first new reading (a minute's trend counting
the two readings after the restart instead of all ten). At start the aggregator reads
back each meter's recent raw readings and folds them in as if they had just arrived,
without publishing what they close: that was published before the restart.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from meterhub.adapters.stores import PageKey, ReadingRow, Store

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAGE = 10_000
_US = timedelta(microseconds=1)


def lookback(
    last: datetime, windows_s: tuple[int, ...], interval_s: int
) -> tuple[datetime, datetime]:
    """Where reading back starts for a meter whose newest reading is ``last``.

    Returns:
        The start of the earliest trend window still open, or one consumption interval
        before the open one if that is earlier (so the counter value that leads into
        it is seen); and the start of the open consumption interval.
    """
    at = (last - _EPOCH).total_seconds()
    open_s = at // interval_s * interval_s if interval_s else at
    starts = [at // w * w for w in windows_s]
    return _at(min(*starts, open_s - interval_s)), _at(open_s)


def _at(seconds: float) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


async def newest_per_meter(source: Store) -> dict[str, datetime]:
    """Each meter's newest stored reading time."""
    newest: dict[str, datetime] = {}
    for row in await source.latest():
        if row.ts > newest.get(row.meter_id, _EPOCH):
            newest[row.meter_id] = row.ts
    return newest


async def stored_readings(
    source: Store, meter_id: str, start: datetime, last: datetime
) -> list[tuple[datetime, dict[str, float], bool]]:
    """A meter's readings in ``[start, last]`` as (ts, values, invalid), in time order."""
    rows: list[ReadingRow] = []
    after: PageKey | None = None
    while True:
        page = await source.query_readings(meters=[meter_id], metrics=None, start=start,
                                           end=last + _US, limit=_PAGE, after=after)  # fmt: skip
        rows += page
        if len(page) < _PAGE:
            break
        after = (page[-1].ts, page[-1].meter_id, page[-1].metric)
    return list(_telegrams(rows))


def _telegrams(rows: list[ReadingRow]) -> Iterator[tuple[datetime, dict[str, float], bool]]:
    # a telegram's rows share its instant and its quality
    for ts, group in itertools.groupby(rows, key=lambda r: r.ts):
        held = list(group)
        yield ts, {r.metric: r.value for r in held}, held[0].quality == "invalid"
