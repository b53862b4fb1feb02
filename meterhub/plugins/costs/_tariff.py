"""Tariffs and the cost arithmetic: what a kWh costs at an instant, per interval and per period.

Pure and synchronous. Money is `decimal.Decimal` throughout, computed in a local context
of 28 significant digits and rounded only in `PeriodCost` (and by `money` for display).
Local dates and wall-clock times are those of `CostSettings.timezone`.
"""

from __future__ import annotations

import calendar
import math
import zoneinfo
from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from itertools import pairwise
from operator import attrgetter
from typing import TYPE_CHECKING, Literal, NamedTuple

import msgspec

from meterhub.plugins.costs._settings import (
    DAY_GROUPS,
    HOLIDAY,
    Band,
    CostSettings,
    Tariff,
    minute_of_day,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from meterhub.plugins.costs._prices import PriceTable

Period = Literal["hour", "day", "month"]

_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
_MICROS = Decimal("0.000001")
_US = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_US_PER_MINUTE = 60_000_000
_EDGE_CACHE_DAYS = 4096


class _BandRule(NamedTuple):
    """A `Band` compiled for matching: weekdays as numbers, times as microseconds of day."""

    weekdays: frozenset[int]
    on_holidays: bool
    start_us: int
    end_us: int
    price: Decimal

    def on_day(self, weekday: int, *, holiday: bool) -> bool:
        return self.on_holidays if holiday else weekday in self.weekdays

    def covers(self, us_of_day: int) -> bool:
        if self.start_us < self.end_us:
            return self.start_us <= us_of_day < self.end_us
        return us_of_day >= self.start_us or us_of_day < self.end_us


def _compile_band(band: Band) -> _BandRule:
    weekdays = frozenset().union(*(DAY_GROUPS.get(day, ()) for day in band.days))
    start = minute_of_day(band.start, "start", end=False)
    end = minute_of_day(band.end, "end", end=True)
    us = _US_PER_MINUTE
    return _BandRule(weekdays, HOLIDAY in band.days, start * us, end * us, band.price)


def _require_aware(instant: datetime, name: str) -> None:
    if instant.utcoffset() is None:
        raise ValueError(f"{name}: expected a time with a UTC offset, got {instant.isoformat()}")


def _wall(instant: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _us_of_day(wall: datetime) -> int:
    return ((wall.hour * 60 + wall.minute) * 60 + wall.second) * 1_000_000 + wall.microsecond


def _wall_instants(zone: zoneinfo.ZoneInfo, wall: datetime) -> tuple[datetime, ...]:
    """The UTC instants where the local clock reaches ``wall`` (naive).

    One, normally. Where a DST change skips ``wall``, the instant of the change. Where it
    repeats ``wall``, both passes and the change between them, where the clock goes back
    below ``wall`` (PEP 495 describes the ``fold`` used to tell the passes apart).
    """
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if early == late:
        return (early,)
    first, last = sorted((early, late))
    change = _offset_change(zone, first, last)
    if _wall(early, zone) != wall:
        return (change,)
    return tuple(sorted({first, change, last}))


def _offset_change(zone: zoneinfo.ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first whole second in ``(low, high]`` with another UTC offset than ``low``."""
    before = low.astimezone(zone).utcoffset()
    lo, hi = 0, math.ceil((high - low) / _SECOND)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (low + mid * _SECOND).astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return low + hi * _SECOND


def _days(first: date, last: date) -> Iterable[date]:
    return (first + timedelta(days=n) for n in range((last - first).days + 1))


class TariffPlan:
    """The tariffs of `CostSettings` in force over time, looked up by instant."""

    __slots__ = ("_bands", "_dates", "_edges", "_holidays", "_tariffs", "_zone", "settings")

    def __init__(self, settings: CostSettings) -> None:
        """Check ``settings`` and sort its tariffs by `Tariff.valid_from`.

        Raises:
            ValueError: from `CostSettings.check`.
        """
        settings.check()
        ordered = sorted(settings.tariffs, key=attrgetter("valid_from"))
        self.settings = settings
        self._zone = zoneinfo.ZoneInfo(settings.timezone)
        self._tariffs = tuple(ordered)
        self._dates = [tariff.valid_from for tariff in ordered]
        self._bands = [tuple(_compile_band(band) for band in tariff.bands) for tariff in ordered]
        self._holidays = frozenset(settings.holidays)
        self._edges: dict[date, tuple[datetime, ...]] = {}

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The local time zone."""
        return self._zone

    @property
    def tariffs(self) -> tuple[Tariff, ...]:
        """The tariffs, sorted by `Tariff.valid_from`."""
        return self._tariffs

    @property
    def starts_at(self) -> datetime:
        """The UTC instant from which the first tariff applies (its local midnight)."""
        return self.day_start(self._dates[0])

    def day_start(self, day: date) -> datetime:
        """The UTC instant where the local ``day`` begins."""
        return _wall_instants(self._zone, datetime.combine(day, time()))[0]

    def tariff_at(self, instant: datetime) -> Tariff | None:
        """The tariff of the local date of ``instant``; None before the first one applies."""
        _require_aware(instant, "instant")
        index = self._index(_wall(instant, self._zone).date())
        return None if index < 0 else self._tariffs[index]

    def import_price(self, instant: datetime, prices: PriceTable | None) -> Decimal | None:
        """The price per kWh imported at ``instant``; None where it is not known."""
        _require_aware(instant, "instant")
        wall = _wall(instant, self._zone)
        day = wall.date()
        index = self._index(day)
        if index < 0:
            return None
        tariff = self._tariffs[index]
        if tariff.dynamic:
            dynamic = None if prices is None else prices.price_at(instant)
            return None if dynamic is None else dynamic + tariff.dynamic_markup
        holiday = day in self._holidays
        us_of_day = _us_of_day(wall)
        for band in self._bands[index]:
            if band.on_day(day.weekday(), holiday=holiday) and band.covers(us_of_day):
                return band.price
        return tariff.energy_price

    def feed_in_price(self, instant: datetime) -> Decimal | None:
        """The price per kWh exported at ``instant``; None where export earns nothing."""
        tariff = self.tariff_at(instant)
        return None if tariff is None else tariff.feed_in_price

    def boundaries(self, start: datetime, end: datetime) -> list[datetime]:
        """Sorted UTC instants strictly inside ``(start, end)`` where the price may change.

        These are local midnights (a new tariff, another day) and the edges of the bands
        that apply on each day, as local wall-clock times. Dynamic price slots are the
        `PriceTable`'s own boundaries.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        # a day before and after: a DST change near midnight can move an edge across dates
        first = _wall(start, self._zone).date() - _DAY
        last = _wall(end, self._zone).date() + _DAY
        edges = {edge for day in _days(first, last) for edge in self._day_edges(day)}
        return sorted(edge for edge in edges if start < edge < end)

    def periods(
        self, period: Period, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The local calendar periods overlapping ``[start, end)``, as UTC ``(start, end)``.

        Raises:
            ValueError: ``period`` is not hour, day or month, or a time is naive.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end <= start:
            return []
        first = _wall(start, self._zone).date()
        last = _wall(end - _US, self._zone).date()
        if period == "hour":
            starts = self._hour_starts(first - _DAY, last + _DAY)
        elif period == "day":
            starts = [self.day_start(day) for day in _days(first - _DAY, last + _DAY)]
        elif period == "month":
            starts = [self.day_start(day) for day in _month_firsts(first, last)]
        else:
            raise ValueError(f"period: expected hour, day or month, got {period!r}")
        return [(low, high) for low, high in pairwise(starts) if high > start and low < end]

    def fixed_cost(self, start: datetime, end: datetime) -> Decimal:
        """The fixed charges accrued over ``[start, end)``, unrounded.

        Each local day costs `Tariff.fixed_per_day` plus `Tariff.fixed_per_month` divided by
        the days of its month, of the tariff valid that day, accrued evenly over the day's
        real length (23 or 25 hours on DST change days). Days before the first tariff cost
        nothing.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        total = Decimal(0)
        if end <= start:
            return total
        with localcontext(_CONTEXT):
            first = _wall(start, self._zone).date()
            for day in _days(first, _wall(end - _US, self._zone).date()):
                total += self._fixed_part(day, start, end)
        return total

    def _fixed_part(self, day: date, start: datetime, end: datetime) -> Decimal:
        index = self._index(day)
        low, high = self.day_start(day), self.day_start(day + _DAY)
        overlap = min(end, high) - max(start, low)
        if index < 0 or overlap <= timedelta(0):
            return Decimal(0)
        tariff = self._tariffs[index]
        daily = tariff.fixed_per_day + tariff.fixed_per_month / _days_in_month(day)
        if overlap == high - low:
            return daily
        return daily * (overlap // _US) / ((high - low) // _US)

    def _index(self, day: date) -> int:
        return bisect_right(self._dates, day) - 1

    def _day_edges(self, day: date) -> tuple[datetime, ...]:
        cached = self._edges.get(day)
        if cached is not None:
            return cached
        us_of_day = {0}
        index = self._index(day)
        if index >= 0:
            holiday = day in self._holidays
            for band in self._bands[index]:
                if band.on_day(day.weekday(), holiday=holiday):
                    us_of_day.update((band.start_us, band.end_us))
        midnight = datetime.combine(day, time())
        edges = {
            instant
            for us in us_of_day
            for instant in _wall_instants(self._zone, midnight + us * _US)
        }
        if len(self._edges) >= _EDGE_CACHE_DAYS:
            self._edges.clear()  # a bound, not a policy: a site costs a few years at most
        self._edges[day] = cached = tuple(sorted(edges))
        return cached

    def _hour_starts(self, first: date, last: date) -> list[datetime]:
        starts = {
            instant
            for day in _days(first, last)
            for hour in range(24)
            for instant in _wall_instants(self._zone, datetime.combine(day, time(hour)))
        }
        return sorted(starts)


def _days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _month_firsts(first: date, last: date) -> list[date]:
    months = (last.year - first.year) * 12 + last.month - first.month + 2
    return [date(first.year + (first.month - 1 + n) // 12, (first.month - 1 + n) % 12 + 1, 1)
            for n in range(months)]  # fmt: skip


class IntervalCost(msgspec.Struct, frozen=True, kw_only=True):
    """The cost of the energy of one interval (unrounded)."""

    start: datetime
    """UTC."""
    seconds: int
    import_wh: float
    export_wh: float
    energy_cost: Decimal
    """Of the import energy that had a price."""
    revenue: Decimal
    unpriced_wh: float
    """Import energy that fell where no price was known (a missing dynamic price slot,
    before the first tariff)."""


def interval_cost(
    plan: TariffPlan,
    prices: PriceTable | None,
    start: datetime,
    seconds: int,
    *,
    import_wh: float,
    export_wh: float,
) -> IntervalCost:
    """Price the energy of ``[start, start + seconds)``.

    The interval is split wherever the price may change (`TariffPlan.boundaries` and the
    slots of ``prices``); the energy is spread evenly over time and each piece is priced at
    the price valid at the piece's start. The energies are keyword-only: swapped, they
    would still type-check.

    Raises:
        ValueError: ``start`` is naive, ``seconds`` is not positive or an energy is
            negative or not finite.
    """
    _require_aware(start, "start")
    if seconds <= 0:
        raise ValueError(f"seconds: expected a positive length, got {seconds}")
    for name, value in (("import_wh", import_wh), ("export_wh", export_wh)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}: expected a finite energy >= 0, got {value!r}")
    begin = start.astimezone(UTC)
    end = begin + seconds * _SECOND
    cuts = {begin, end, *plan.boundaries(begin, end)}
    if prices is not None:
        cuts.update(prices.boundaries(begin, end))
    total_us = seconds * 1_000_000
    imported, exported = Decimal(str(import_wh)), Decimal(str(export_wh))
    energy_cost = revenue = Decimal(0)
    unpriced_us = 0
    with localcontext(_CONTEXT):
        for low, high in pairwise(sorted(cuts)):
            share = Decimal((high - low) // _US) / total_us
            price = plan.import_price(low, prices)
            if price is None:
                unpriced_us += (high - low) // _US
            else:
                energy_cost += imported * share / 1000 * price
            feed_in = plan.feed_in_price(low)
            if feed_in is not None:
                revenue += exported * share / 1000 * feed_in
    return IntervalCost(start=begin, seconds=seconds, import_wh=import_wh, export_wh=export_wh,
                        energy_cost=energy_cost, revenue=revenue,
                        unpriced_wh=import_wh * (unpriced_us / total_us))  # fmt: skip


class PeriodCost(msgspec.Struct, frozen=True, kw_only=True):
    """The totals of one local hour, day or month; amounts rounded to 6 decimal places."""

    period_start: datetime
    """The UTC instant where the local period starts."""
    import_wh: float
    export_wh: float
    energy_cost: Decimal
    fixed_cost: Decimal
    revenue: Decimal
    net: Decimal
    """``energy_cost + fixed_cost - revenue``."""
    unpriced_wh: float


class _Totals:
    __slots__ = ("count", "energy_cost", "export_wh", "import_wh", "revenue", "unpriced_wh")

    def __init__(self) -> None:
        self.count = 0
        self.import_wh = self.export_wh = self.unpriced_wh = 0.0
        self.energy_cost = self.revenue = Decimal(0)

    def add(self, cost: IntervalCost) -> None:
        self.count += 1
        self.import_wh += cost.import_wh
        self.export_wh += cost.export_wh
        self.unpriced_wh += cost.unpriced_wh
        with localcontext(_CONTEXT):
            self.energy_cost += cost.energy_cost
            self.revenue += cost.revenue

    def result(self, period_start: datetime, fixed_cost: Decimal) -> PeriodCost:
        energy, fixed, revenue = (_round(v) for v in (self.energy_cost, fixed_cost, self.revenue))
        return PeriodCost(period_start=period_start, import_wh=self.import_wh,
                          export_wh=self.export_wh, energy_cost=energy, fixed_cost=fixed,
                          revenue=revenue, net=energy + fixed - revenue,
                          unpriced_wh=self.unpriced_wh)  # fmt: skip


def _round(value: Decimal) -> Decimal:
    return value.quantize(_MICROS, rounding=ROUND_HALF_EVEN, context=_CONTEXT)


def summarize(
    plan: TariffPlan,
    intervals: Iterable[IntervalCost],
    period: Period,
    start: datetime,
    end: datetime,
) -> list[PeriodCost]:
    """Totals per local period overlapping ``[start, end)``, in time order.

    An interval counts in the period that contains its start, and only if that start lies
    in ``[start, end)``. A period without intervals is listed if a tariff applies to it.
    A period cut by ``start`` or ``end`` gets the fixed charges of its part inside.
    `PeriodCost.net` is computed from the rounded amounts, so it adds up exactly.

    Raises:
        ValueError: ``period`` is not hour, day or month, or a time is naive.
    """
    spans = plan.periods(period, start, end)
    starts = [low for low, _ in spans]
    totals = [_Totals() for _ in spans]
    for cost in intervals:
        if start <= cost.start < end:
            totals[bisect_right(starts, cost.start) - 1].add(cost)
    since = plan.starts_at
    return [
        total.result(low, plan.fixed_cost(max(low, start), min(high, end)))
        for (low, high), total in zip(spans, totals, strict=True)
        if total.count or high > since
    ]


def money(value: Decimal, places: int = 2) -> Decimal:
    """``value`` rounded half-even to ``places`` decimal places, for display."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=_CONTEXT)
