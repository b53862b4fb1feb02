"""Statistics per meter and metric over fixed windows (1 min and 15 min by default)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterhub.model import Trend

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# per metric: [total, low, high, last, count]; lists, as this is the hottest loop of
# the aggregator (a dozen values per telegram, two windows)
_Stats = list[float]


class _Window:
    """One meter's open window of one length: its start and every metric's statistics."""

    __slots__ = ("start", "start_s", "stats")

    def __init__(self, start_s: float) -> None:
        self.start_s = start_s
        self.start = _EPOCH + timedelta(seconds=start_s)
        self.stats: dict[str, _Stats] = {}


class TrendTracker:
    """Open windows per (meter, window length), each holding every metric seen in it.

    A window closes when a value of a later window arrives: readings of one meter come
    in time order.
    """

    def __init__(self, windows_s: tuple[int, ...] = (60, 900)) -> None:
        self.windows_s = windows_s
        self._open: dict[tuple[str, int], _Window] = {}

    def add(self, meter_id: str, ts: datetime, values: dict[str, float]) -> list[Trend]:
        """Feed one reading's values; returns the windows they closed."""
        closed: list[Trend] = []
        epoch_s = (ts - _EPOCH).total_seconds()
        for window_s in self.windows_s:
            start_s = epoch_s // window_s * window_s
            key = (meter_id, window_s)
            window = self._open.get(key)
            if window is None or window.start_s < start_s:
                if window is not None:
                    closed.extend(_trends(meter_id, window_s, window))
                window = self._open[key] = _Window(start_s)
            elif window.start_s > start_s:
                continue  # late values for a closed window: trends are not revised
            stats = window.stats
            for metric, value in values.items():
                held = stats.get(metric)
                if held is None:
                    stats[metric] = [value, value, value, value, 1]
                    continue
                held[0] += value
                if value < held[1]:
                    held[1] = value
                elif value > held[2]:
                    held[2] = value
                held[3] = value
                held[4] += 1
        return closed

    def flush(self) -> list[Trend]:
        """Close every open window (at shutdown)."""
        out: list[Trend] = []
        for (meter_id, window_s), window in self._open.items():
            out.extend(_trends(meter_id, window_s, window))
        self._open.clear()
        return out


def _trends(meter_id: str, window_s: int, window: _Window) -> list[Trend]:
    return [
        Trend(
            meter_id=meter_id,
            metric=metric,
            window_s=window_s,
            window_start=window.start,
            avg=total / count,
            min=low,
            max=high,
            last=last,
            count=int(count),
        )
        for metric, (total, low, high, last, count) in window.stats.items()
    ]
