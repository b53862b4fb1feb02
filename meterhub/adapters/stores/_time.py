"""Time arithmetic both backends share: UTC checks, tiers, and calendar periods.

Kept free of I/O so that the rules (which tier serves a range, which calendar period an
interval belongs to) are the same for SQLite and PostgreSQL and easy to test.
"""

from __future__ import annotations

import itertools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from meterhub.adapters.stores._errors import StoreError
from meterhub.adapters.stores._rows import ConsumptionPeriod

if TYPE_CHECKING:
    from collections.abc import Iterable

    from meterhub.adapters.stores._rows import ConsumptionRow, Period

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_S = 86_400
ROLLUP_15M_S = 900

SHORT_TREND_S = ROLLUP_15M_S
"""Trend windows shorter than this are kept like raw readings, longer ones like the
15-minute rollups."""

TIER_PERIODS: dict[str, int] = {"raw": 0, "15m": ROLLUP_15M_S, "1d": DAY_S}
"""Tiers from finest to coarsest and the period (seconds) each rollup row covers."""


def require_utc(value: datetime, what: str) -> datetime:
    """Return ``value`` in UTC; a naive time is refused rather than guessed.

    Raises:
        StoreError: ``value`` has no time zone.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def to_us(value: datetime) -> int:
    """Microseconds since the Unix epoch (SQLite stores instants as integers)."""
    delta = value - EPOCH
    return (delta.days * DAY_S + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    """Inverse of :func:`to_us`."""
    return EPOCH + timedelta(microseconds=value)


def bucket_seconds(bucket: timedelta) -> int:
    """Whole seconds of a bucket width.

    Raises:
        StoreError: the width is not a positive whole number of seconds.
    """
    if bucket <= timedelta(0) or bucket.microseconds:
        raise StoreError(f"bucket must be a positive whole number of seconds, got {bucket}")
    return int(bucket.total_seconds())


def floor_to(value: datetime, seconds: int) -> datetime:
    """Start of the epoch-aligned period of ``seconds`` that holds ``value``."""
    whole = int((value - EPOCH) // timedelta(seconds=seconds))
    return EPOCH + timedelta(seconds=whole * seconds)


def _ceil_to(value: datetime, seconds: int) -> datetime:
    floor = floor_to(value, seconds)
    return floor if floor == value else floor + timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a requested range and the tier that serves it."""

    tier: str
    start: datetime
    end: datetime


def plan_tiers(
    start: datetime, end: datetime, bucket_s: int, horizons: dict[str, datetime]
) -> list[Segment]:
    """Split ``[start, end)`` into segments, each served by the finest tier holding it.

    ``horizons`` maps a tier to the oldest instant it still holds (set by ``prune``); a
    tier without a horizon holds everything. A rollup tier can only serve buckets that
    are whole multiples of its period. Segment boundaries are moved up to bucket
    boundaries, so a bucket that straddles a horizon is served whole by the coarser
    tier instead of being split into two partial values.
    """
    if end <= start:
        return []
    cuts = {start, end}
    for horizon in horizons.values():
        cut = _ceil_to(horizon, bucket_s)
        if start < cut < end:
            cuts.add(cut)
    points = sorted(cuts)
    segments: list[Segment] = []
    for seg_start, seg_end in itertools.pairwise(points):
        tier = _finest_tier(seg_start, bucket_s, horizons)
        if segments and segments[-1].tier == tier:
            segments[-1] = Segment(tier, segments[-1].start, seg_end)
        else:
            segments.append(Segment(tier, seg_start, seg_end))
    return segments


def _finest_tier(at: datetime, bucket_s: int, horizons: dict[str, datetime]) -> str:
    for tier, period in TIER_PERIODS.items():
        if period and bucket_s % period:
            continue
        horizon = horizons.get(tier)
        if horizon is None or horizon <= at:
            return tier
    # Nothing that can serve this bucket width still holds the range: raw returns
    # whatever is left (usually nothing) rather than a misleading coarser value.
    return "raw"


def zone(tz: str) -> zoneinfo.ZoneInfo:
    """Look up an IANA time zone.

    Raises:
        StoreError: the name is not a known time zone.
    """
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise StoreError(f"unknown time zone {tz!r}") from exc


def period_start(at: datetime, period: Period, tz: zoneinfo.ZoneInfo) -> datetime:
    """UTC start of the calendar ``period`` in ``tz`` that holds the instant ``at``."""
    local = at.astimezone(tz)
    if period == "hour":
        # Keep the fold so that the repeated hour of a DST change stays two hours.
        start = local.replace(minute=0, second=0, microsecond=0)
    elif period == "day":
        start = datetime(local.year, local.month, local.day, tzinfo=tz)
    else:
        start = datetime(local.year, local.month, 1, tzinfo=tz)
    return start.astimezone(UTC)


def sum_periods(
    intervals: Iterable[ConsumptionRow], period: Period, tz: str
) -> list[ConsumptionPeriod]:
    """Sum consumption intervals into calendar periods, in time order.

    Each interval counts wholly in the period that holds its start; intervals are
    expected not to straddle a period boundary (true for 15-minute and hourly
    intervals in any zone with whole-hour or quarter-hour offsets). Periods without
    any interval are left out.
    """
    where = zone(tz)
    totals: dict[datetime, list[float]] = {}
    slot = {"measured": 1, "interpolated": 2, "missing": 3}
    for row in intervals:
        key = period_start(row.interval_start, period, where)
        acc = totals.setdefault(key, [0.0, 0, 0, 0])
        acc[0] += row.wh
        acc[slot.get(row.flag, 3)] += row.interval_s
    return [
        ConsumptionPeriod(
            period_start=key,
            wh=acc[0],
            measured_s=int(acc[1]),
            interpolated_s=int(acc[2]),
            missing_s=int(acc[3]),
        )
        for key, acc in sorted(totals.items())
    ]
