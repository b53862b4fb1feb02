"""Statistics per meter and metric over fixed windows (1 min and 15 min by default)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

from meterhub.model import Trend

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclasses.dataclass(slots=True)
class _Window:
    start: datetime
    total: float
    low: float
    high: float
    last: float
    count: int = 1

    def add(self, value: float) -> None:
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        self.last = value
        self.count += 1


class TrendTracker:
    """Open windows per (meter, metric, window length).

    A window closes when a value of a later window arrives: readings of one meter come
    in time order.
    """

    def __init__(self, windows_s: tuple[int, ...] = (60, 900)) -> None:
        self.windows_s = windows_s
        self._open: dict[tuple[str, str, int], _Window] = {}

    def add(self, meter_id: str, ts: datetime, values: dict[str, float]) -> list[Trend]:
        """Feed one reading's values; returns the windows they closed."""
        closed: list[Trend] = []
        epoch_s = (ts - _EPOCH).total_seconds()
        for window_s in self.windows_s:
            start = _EPOCH + timedelta(seconds=math.floor(epoch_s / window_s) * window_s)
            for metric, value in values.items():
                key = (meter_id, metric, window_s)
                current = self._open.get(key)
                if current is not None and current.start == start:
                    current.add(value)
                    continue
                if current is not None and current.start > start:
                    continue  # late value for a closed window: trends are not revised
                if current is not None:
                    closed.append(_trend(key, current))
                self._open[key] = _Window(start, value, value, value, value)
        return closed

    def flush(self) -> list[Trend]:
        """Close every open window (at shutdown)."""
        out = [_trend(key, window) for key, window in self._open.items()]
        self._open.clear()
        return out


def _trend(key: tuple[str, str, int], window: _Window) -> Trend:
    meter_id, metric, window_s = key
    return Trend(
        meter_id=meter_id,
        metric=metric,
        window_s=window_s,
        window_start=window.start,
        avg=window.total / window.count,
        min=window.low,
        max=window.high,
        last=window.last,
        count=window.count,
    )
