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
    in time order. Only the shortest window takes every value; a longer one that is a
    multiple of it is built from the shortest windows as they close (sums, counts,
    extremes and the last value combine exactly), which halves the work per telegram
    with the default 1 and 15 minutes. Other lengths take every value themselves.
    """

    def __init__(self, windows_s: tuple[int, ...] = (60, 900)) -> None:
        self.windows_s = windows_s
        self._base = base = min(windows_s, default=0)
        self._built = tuple(w for w in windows_s if w != base and w % base == 0)
        self._fed = tuple(w for w in windows_s if w != base and w % base != 0)
        self._open: dict[tuple[str, int], _Window] = {}

    def add(self, meter_id: str, ts: datetime, values: dict[str, float]) -> list[Trend]:
        """Feed one reading's values; returns the windows they closed."""
        closed: list[Trend] = []
        if not self._base:
            return closed
        epoch_s = (ts - _EPOCH).total_seconds()
        base, opened = self._base, self._open
        start_s = epoch_s // base * base
        key = (meter_id, base)
        window = opened.get(key)
        late = window is not None and window.start_s > start_s
        if window is None or window.start_s < start_s:
            if window is not None:
                self._close(meter_id, base, window, closed)
            window = opened[key] = _Window(start_s)
        for window_s in self._built:
            built_key = (meter_id, window_s)
            built = opened.get(built_key)
            if built is None:
                continue
            if built.start_s < epoch_s // window_s * window_s:
                closed.extend(_trends(meter_id, window_s, built))
                del opened[built_key]
            elif late and built.start_s == epoch_s // window_s * window_s:
                _accumulate(built.stats, values)  # late for its minute, not its quarter
        if not late:
            _accumulate(window.stats, values)
        for window_s in self._fed:
            self._feed(meter_id, window_s, epoch_s, values, closed)
        return closed

    def discard_before(self, meter_id: str, ts: datetime) -> None:
        """Forget a meter's open windows that start before ``ts``.

        After a rebuild from stored readings from ``ts`` on, those windows miss their
        first readings; closing them would replace the complete trend stored before.
        """
        start_s = (ts - _EPOCH).total_seconds()
        for key in [k for k, w in self._open.items() if k[0] == meter_id and w.start_s < start_s]:
            del self._open[key]

    def flush(self) -> list[Trend]:
        """Close every open window (at shutdown)."""
        out: list[Trend] = []
        opened = self._open
        for (meter_id, window_s), window in list(opened.items()):
            if window_s == self._base:
                self._close(meter_id, window_s, window, out)
        for (meter_id, window_s), window in opened.items():
            if window_s != self._base:
                out.extend(_trends(meter_id, window_s, window))
        opened.clear()
        return out

    def _close(self, meter_id: str, base: int, window: _Window, closed: list[Trend]) -> None:
        """Emit a shortest window and fold it into the longer windows built from it."""
        closed.extend(_trends(meter_id, base, window))
        for window_s in self._built:
            built = self._window_at(meter_id, window_s, window.start_s, closed)
            if built is None:
                continue
            stats = built.stats
            for metric, part in window.stats.items():
                held = stats.get(metric)
                if held is None:
                    stats[metric] = part.copy()  # each longer window sums on its own
                    continue
                held[0] += part[0]
                held[1] = min(held[1], part[1])
                held[2] = max(held[2], part[2])
                held[3] = part[3]
                held[4] += part[4]

    def _feed(self, meter_id: str, window_s: int, epoch_s: float, values: dict[str, float],
              closed: list[Trend]) -> None:  # fmt: skip
        window = self._window_at(meter_id, window_s, epoch_s, closed)
        if window is not None:  # late values for a closed window: trends are not revised
            _accumulate(window.stats, values)

    def _window_at(self, meter_id: str, window_s: int, epoch_s: float,
                   closed: list[Trend]) -> _Window | None:  # fmt: skip
        """The open window holding ``epoch_s``, closing an earlier one; None if closed."""
        start_s = epoch_s // window_s * window_s
        key = (meter_id, window_s)
        window = self._open.get(key)
        if window is None or window.start_s < start_s:
            if window is not None:
                closed.extend(_trends(meter_id, window_s, window))
            window = self._open[key] = _Window(start_s)
        elif window.start_s > start_s:
            return None
        return window


def _accumulate(stats: dict[str, _Stats], values: dict[str, float]) -> None:
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
