"""Where a site's dynamic prices come from: a CSV file, or a meter fed by an input plugin."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from meterhub.plugins.costs._prices import PriceTable, load_price_csv

if TYPE_CHECKING:
    from datetime import datetime

    from meterhub.plugins import SiteData
    from meterhub.plugins.costs._settings import CostSettings

_LOOK_BACK = timedelta(days=1)
"""How far before a range a price reading may start that is still valid in it."""
_MAX_SLOT_S = 3600


class PriceSource:
    """The dynamic prices of a range, read again when their file changed."""

    def __init__(self, settings: CostSettings) -> None:
        self._settings = settings
        self._file: PriceTable | None = None
        self._mtime: float | None = None

    @property
    def dynamic(self) -> bool:
        """Whether any dynamic price source is configured."""
        return bool(self._settings.prices_file or self._settings.prices_meter)

    async def prices(self, data: SiteData, start: datetime, end: datetime) -> PriceTable | None:
        """The price table that covers ``[start, end)`` (None without a source).

        Raises:
            ValueError: the price file is unreadable or invalid (naming the line).
        """
        settings = self._settings
        if settings.prices_file:
            return self._from_file(Path(settings.prices_file))
        if settings.prices_meter:
            samples = await data.readings(settings.prices_meter, start=start - _LOOK_BACK,
                                          end=end, metrics=[settings.prices_metric])  # fmt: skip
            points = [(s.ts, s.values[settings.prices_metric]) for s in samples
                      if settings.prices_metric in s.values]  # fmt: skip
            return table_from_points(points)
        return None

    def _from_file(self, path: Path) -> PriceTable:
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise ValueError(f"prices_file {path}: {exc}") from exc
        if self._file is None or mtime != self._mtime:
            self._file, self._mtime = load_price_csv(path), mtime
        return self._file


def table_from_points(points: list[tuple[datetime, float | int]]) -> PriceTable:
    """Prices that each hold until the next one (at most an hour), the last as the one before.

    The cap: when a feed stops for hours, the energy of the gap is unpriced rather than
    priced at a stale price (dynamic tariffs price hours or quarter-hours).
    """
    slots: list[tuple[datetime, int, Decimal]] = []
    for index, (ts, price) in enumerate(points):
        if index + 1 < len(points):
            seconds = min(int((points[index + 1][0] - ts).total_seconds()), _MAX_SLOT_S)
        else:
            seconds = slots[-1][1] if slots else _MAX_SLOT_S
        if seconds > 0:
            slots.append((ts, seconds, _decimal(price)))
    return PriceTable(slots)


def _decimal(value: float) -> Decimal:
    # the shortest repr of a float price is the decimal the feed sent (0.1234, not 0.12339…)
    return Decimal(repr(value))
