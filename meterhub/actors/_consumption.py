"""Energy per interval from cumulative counters, without spikes or negative bars.

A counter reading pair (t1, v1) -> (t2, v2) is spread over the intervals between t1
and t2 in proportion to time. Each interval is flagged:

- ``measured``: the pair is at most one interval apart, so the energy was seen in or
  right around the interval;
- ``interpolated``: a longer gap (an outage): the total is right, its shape is not;
- ``missing``: the counter went backwards, or the meter number changed (a reset, a
  rollover that cannot be proven, a replaced meter): the energy in the gap is unknown,
  so the intervals get 0 Wh, flagged, and counting starts again from the new value.

A counter that wraps at a power of ten (or 2^32) just below its last value is a
rollover and its delta is recovered.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

from meterhub.model import Consumption, ConsumptionFlag

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RANK = {ConsumptionFlag.MEASURED: 0, ConsumptionFlag.INTERPOLATED: 1, ConsumptionFlag.MISSING: 2}


def _rollover_delta(before: float, after: float) -> float | None:
    """The delta across a wrap, when ``before`` sat just below a wrap point."""
    for limit in (*(10.0**n for n in range(6, 13)), 2.0**32):
        if before < limit and limit - before < limit * 0.01 and after < limit * 0.01:
            return (limit - before) + after
    return None


@dataclasses.dataclass(slots=True)
class _Open:
    """An interval still receiving energy."""

    wh: float = 0.0
    flag: ConsumptionFlag = ConsumptionFlag.MEASURED

    def add(self, wh: float, flag: ConsumptionFlag) -> None:
        self.wh += wh
        if _RANK[flag] > _RANK[self.flag]:
            self.flag = flag


@dataclasses.dataclass(slots=True)
class _Counter:
    ts: float  # seconds since the epoch: cheaper to compare and split than datetimes
    value: float
    meter_number: str | None
    open: dict[float, _Open] = dataclasses.field(default_factory=dict)
    # intervals starting earlier miss energy from before the first value seen (a
    # rebuild from the store); they are dropped, not emitted over the stored ones
    exact_from: float = -math.inf


class ConsumptionTracker:
    """Consumption of every (meter, counter metric) in intervals of ``interval_s``."""

    def __init__(self, interval_s: int = 900) -> None:
        self.interval_s = interval_s
        self._counters: dict[tuple[str, str], _Counter] = {}

    def add(
        self, meter_id: str, metric: str, ts: datetime, value: float, meter_number: str | None
    ) -> list[Consumption]:
        """Feed one counter value; returns the intervals that closed with it."""
        key = (meter_id, metric)
        at = (ts - _EPOCH).total_seconds()
        state = self._counters.get(key)
        if state is None:
            self._counters[key] = _Counter(at, value, meter_number)
            return []
        if at <= state.ts:
            return []  # late or repeated: consumption already covers it
        delta, flag = self._delta(state, at, value, meter_number)
        self._spread(state, at, delta, flag)
        state.ts, state.value, state.meter_number = at, value, meter_number
        return self._close(meter_id, metric, state, before=at // self.interval_s * self.interval_s)

    def restore(
        self, meter_id: str, metric: str, ts: datetime, value: float, exact_from: datetime
    ) -> None:
        """Feed a value read back from the store at start (nothing is emitted).

        Intervals starting before ``exact_from`` (the one open at the last stop) miss
        energy from before the first value restored: they are never emitted, so the
        complete rows stored for them stay; later intervals come out exact.
        """
        key = (meter_id, metric)
        if key in self._counters:
            self.add(meter_id, metric, ts, value, None)
            return
        at, floor = (ts - _EPOCH).total_seconds(), (exact_from - _EPOCH).total_seconds()
        self._counters[key] = _Counter(at, value, None, exact_from=floor)

    def _delta(
        self, state: _Counter, at: float, value: float, meter_number: str | None
    ) -> tuple[float, ConsumptionFlag]:
        gap = at - state.ts
        flag = ConsumptionFlag.MEASURED if gap <= self.interval_s else ConsumptionFlag.INTERPOLATED
        replaced = (
            meter_number is not None
            and state.meter_number is not None
            and meter_number != state.meter_number
        )
        if replaced:
            return 0.0, ConsumptionFlag.MISSING
        if value >= state.value:
            return value - state.value, flag
        wrapped = _rollover_delta(state.value, value)
        if wrapped is not None:
            return wrapped, flag
        return 0.0, ConsumptionFlag.MISSING

    def _spread(self, state: _Counter, at: float, delta: float, flag: ConsumptionFlag) -> None:
        total = at - state.ts
        step = self.interval_s
        start = state.ts // step * step
        if at <= start + step:  # the usual case: both readings in one interval
            interval = state.open.get(start)
            if interval is None:
                interval = state.open[start] = _Open()
            interval.add(delta, flag)
            return
        while start < at:
            end = start + step
            overlap = min(end, at) - max(start, state.ts)
            if overlap > 0:
                interval = state.open.get(start)
                if interval is None:
                    interval = state.open[start] = _Open()
                interval.add(delta * overlap / total, flag)
            start = end

    def _close(
        self, meter_id: str, metric: str, state: _Counter, before: float
    ) -> list[Consumption]:
        # intervals open in time order (a reading never goes back), so the first one
        # tells whether any closed
        if not state.open or next(iter(state.open)) >= before:
            return []
        closed = sorted(start for start in state.open if start < before)
        intervals = [(start, state.open.pop(start)) for start in closed]
        exact = state.exact_from
        return [self._row(meter_id, metric, start, i) for start, i in intervals if start >= exact]

    def _row(self, meter_id: str, metric: str, start: float, interval: _Open) -> Consumption:
        return Consumption(
            meter_id=meter_id,
            metric=metric,
            interval_start=_EPOCH + timedelta(seconds=start),
            interval_s=self.interval_s,
            wh=round(interval.wh, 6),
            flag=interval.flag,
        )

    def flush(self) -> list[Consumption]:
        """Close every interval (at shutdown): the last ones may be incomplete."""
        out: list[Consumption] = []
        for (meter_id, metric), state in self._counters.items():
            out.extend(self._close(meter_id, metric, state, before=math.inf))
        return out
