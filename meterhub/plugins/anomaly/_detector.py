"""The anomaly plugin's detector: spikes per meter and metric, and a rising night base load.

Pure and synchronous: samples and their times go in, findings come out. The plugin around
it owns the clock, the bus and persistence.

Spikes use the modified z-score of Iglewicz and Hoaglin ("How to Detect and Handle
Outliers", ASQC 1993): ``z = 0.6745 (x - median) / MAD``, where 0.6745 is the 75th
percentile of the standard normal, so ``MAD / 0.6745`` estimates the standard deviation.
When more than half of the window is one value (MAD 0) the mean absolute deviation times
``sqrt(pi / 2) ~ 1.2533`` stands in, the same estimate for a normal distribution.
"""

from __future__ import annotations

import math
import statistics
import zoneinfo
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import msgspec

from meterhub.plugins.anomaly._settings import AnomalySettings, parse_hhmm

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_MAD_TO_SD = 0.6745
_MEAN_AD_TO_SD = 1.2533
_MIN_NIGHT_SAMPLES = 10
_MIN_PREVIOUS_NIGHTS = 3
_Number = float | int | str


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """A change of verdict: an anomaly began (``firing``) or is over."""

    kind: Literal["spike", "base_load"]
    meter_id: str
    metric: str
    firing: bool
    """True: open (or keep) the alert; False: it is over."""
    ts: datetime
    value: float
    message: str
    evidence: dict[str, _Number]


class _Window:
    """The last ``size`` samples, also kept sorted so median and MAD cost O(log n)."""

    __slots__ = ("_sorted", "_values")

    def __init__(self, size: int) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: float) -> None:
        if len(self._values) == self._values.maxlen:
            del self._sorted[bisect_left(self._sorted, self._values[0])]
        self._values.append(value)
        insort(self._sorted, value)

    def median(self) -> float:
        ordered, half = self._sorted, len(self._sorted) // 2
        if len(ordered) % 2:
            return ordered[half]
        return (ordered[half - 1] + ordered[half]) / 2

    def mad(self, median: float) -> float:
        """The median of ``|x - median|``, without building the deviations."""
        count = len(self._sorted)
        upper = self._kth_deviation(median, count // 2)
        if count % 2:
            return upper
        return (self._kth_deviation(median, count // 2 - 1) + upper) / 2

    def _kth_deviation(self, median: float, k: int) -> float:
        """The k-th smallest (from 0) of ``|x - median|``.

        Below the median the deviations grow leftwards, above it rightwards: two sorted
        runs, whose merged k-th element a binary search over the split finds.
        """
        ordered = self._sorted
        split = bisect_left(ordered, median)
        n_left, n_right = split, len(ordered) - split

        def left(i: int) -> float:
            return median - ordered[split - 1 - i]

        def right(j: int) -> float:
            return ordered[split + j] - median

        # the smallest count taken from the left run for which the k+1 smallest are complete
        low, high = max(0, k + 1 - n_right), min(k + 1, n_left)
        while low < high:
            i = (low + high) // 2
            if right(k - i) > left(i):
                low = i + 1
            else:
                high = i
        j = k + 1 - low
        return max(left(low - 1) if low else -math.inf, right(j - 1) if j else -math.inf)

    def mean_absolute_deviation(self, median: float) -> float:
        # exact zeros stay zero (a sum of n copies of m minus n*m need not be 0)
        return math.fsum(abs(value - median) for value in self._sorted) / len(self._sorted)


@dataclass(frozen=True, slots=True)
class _Spread:
    """How far one sample lies from its window."""

    median: float
    mad: float
    sigma: float
    """The robust standard deviation used: MAD / 0.6745, or the mean-AD stand-in."""
    z: float


def _spread(window: _Window, value: float, median: float) -> _Spread:
    mad = window.mad(median)
    sigma = mad / _MAD_TO_SD if mad else _MEAN_AD_TO_SD * window.mean_absolute_deviation(median)
    deviation = value - median
    if sigma:
        return _Spread(median=median, mad=mad, sigma=sigma, z=deviation / sigma)
    # a window of one value: any step at all is infinitely many SDs away
    flat_z = math.copysign(math.inf, deviation) if deviation else 0.0
    return _Spread(median=median, mad=mad, sigma=sigma, z=flat_z)


@dataclass(slots=True)
class _SpikeTrack:
    """One meter's metric: its window and where it stands between normal and alert."""

    meter_id: str
    metric: str
    window: _Window
    pending: list[float] = field(default_factory=list)
    """Anomalous samples in a row, held out of the window until they open an alert."""
    open: bool = False
    normal_run: int = 0


@dataclass(slots=True)
class _Night:
    """The night being measured: its lowest sample so far."""

    day: date
    """The local date on which it began."""
    ends: datetime
    """Its local wall-clock end, naive, so that a DST shift cannot move it."""
    lowest: float
    lowest_at: datetime
    samples: int = 1


@dataclass(slots=True)
class _BaseLoadTrack:
    """One meter's nightly base loads and the night being measured."""

    meter_id: str
    history: deque[float]
    """Finished nights, oldest first: ``nights`` to compare with plus the latest one."""
    open: bool = False
    current: _Night | None = None
    last_finished: date = date.min


class AnomalyDetector:
    """Spikes and rising base load across the meters of one site, from their samples.

    A spike sample is judged against the window before it. Anomalous samples are held out
    of the window while an alert is only building, so one to ``consecutive - 1`` outliers
    leave no trace. Once the alert opens, they go in (the held ones too): a median and MAD
    shrug off a short burst, and a lasting step becomes the new normal after about half a
    window, which resolves the alert instead of keeping it open forever.
    """

    def __init__(self, settings: AnomalySettings) -> None:
        """Build a detector with empty windows.

        Raises:
            ValueError: the settings break a rule (see `AnomalySettings.check`).
        """
        settings.check()
        self._settings = settings
        self._meters = frozenset(settings.meters)
        self._zone = zoneinfo.ZoneInfo(settings.timezone)
        self._night_start = parse_hhmm("night_start", settings.night_start)
        self._night_end = parse_hhmm("night_end", settings.night_end)
        self._spikes: dict[tuple[str, str], _SpikeTrack] = {}
        self._base_loads: dict[str, _BaseLoadTrack] = {}
        self.nights_finished = 0
        """Nights whose base load joined the history: a change worth saving."""

    def observe(self, meter_id: str, ts: datetime, values: Mapping[str, float]) -> list[Finding]:
        """Judge one meter's sample and return the verdicts that changed.

        Metrics missing from ``values`` or not finite are skipped.

        Raises:
            ValueError: ``ts`` has no time zone.
        """
        if ts.utcoffset() is None:
            raise ValueError(f"ts: expected a timezone-aware time, got {ts.isoformat()}")
        if self._meters and meter_id not in self._meters:
            return []
        findings: list[Finding] = []
        for metric in self._settings.metrics:
            value = values.get(metric)
            if value is not None and math.isfinite(value):
                finding = self._observe_spike(meter_id, metric, ts, float(value))
                if finding is not None:
                    findings.append(finding)
        base_metric = self._settings.base_load_metric
        if base_metric is not None:
            value = values.get(base_metric)
            sample = float(value) if value is not None and math.isfinite(value) else None
            finding = self._observe_base_load(meter_id, base_metric, ts, sample)
            if finding is not None:
                findings.append(finding)
        return findings

    def export_state(self) -> dict[str, list[float]]:
        """The nightly base loads per meter, oldest first, to persist across restarts.

        Each list holds up to ``nights + 1`` values: the extra, oldest one lets
        `restore_state` tell whether the latest night's alert is open.
        """
        return {
            meter: list(track.history) for meter, track in self._base_loads.items() if track.history
        }

    def restore_state(self, state: Mapping[str, Sequence[float]]) -> None:
        """Take back what `export_state` returned; non-finite values are dropped.

        Whether a meter's base-load alert is open follows from its latest night and the
        ones before it, so a restored detector still resolves an alert raised before.
        """
        for meter_id, loads in state.items():
            track = self._base_load_track(meter_id)
            track.history.clear()
            track.history.extend(float(load) for load in loads if math.isfinite(load))
            history = list(track.history)
            previous = history[:-1][-self._settings.nights :]
            track.open = len(previous) >= _MIN_PREVIOUS_NIGHTS and self._is_rising(
                history[-1], statistics.median(previous)
            )

    # -- spikes ---------------------------------------------------------------------

    def _observe_spike(
        self, meter_id: str, metric: str, ts: datetime, value: float
    ) -> Finding | None:
        track = self._spikes.get((meter_id, metric))
        if track is None:
            window = _Window(self._settings.window)
            track = self._spikes[meter_id, metric] = _SpikeTrack(meter_id, metric, window)
        window = track.window
        if len(window) < self._settings.min_samples:
            window.add(value)
            return None
        median = window.median()
        anomalous = abs(value - median) >= self._settings.min_deviation and (
            abs(_spread(window, value, median).z) > self._settings.threshold
        )
        if track.open:
            return self._while_open(track, ts, value, anomalous=anomalous)
        return self._while_closed(track, ts, value, anomalous=anomalous)

    def _while_closed(
        self, track: _SpikeTrack, ts: datetime, value: float, *, anomalous: bool
    ) -> Finding | None:
        if not anomalous:
            track.pending.clear()
            track.window.add(value)
            return None
        track.pending.append(value)
        if len(track.pending) < self._settings.consecutive:
            return None
        finding = self._spike_finding(track, ts, value, firing=True)
        for held in track.pending:
            track.window.add(held)
        track.pending.clear()
        track.open, track.normal_run = True, 0
        return finding

    def _while_open(
        self, track: _SpikeTrack, ts: datetime, value: float, *, anomalous: bool
    ) -> Finding | None:
        finding = None
        if anomalous:
            track.normal_run = 0
        else:
            track.normal_run += 1
            if track.normal_run >= self._settings.consecutive:
                finding = self._spike_finding(track, ts, value, firing=False)
                track.open, track.normal_run = False, 0
        track.window.add(value)
        return finding

    def _spike_finding(
        self, track: _SpikeTrack, ts: datetime, value: float, *, firing: bool
    ) -> Finding:
        settings, window, metric = self._settings, track.window, track.metric
        spread = _spread(window, value, window.median())
        evidence: dict[str, _Number] = {
            "median": spread.median,
            "mad": spread.mad,
            "sigma": spread.sigma,
            # JSON has no infinity; a flat window makes any step infinitely many SDs
            "z": spread.z if math.isfinite(spread.z) else str(spread.z),
            "deviation": value - spread.median,
            "threshold": settings.threshold,
            "min_deviation": settings.min_deviation,
            "consecutive": settings.consecutive,
            "samples": len(window),
            "window": settings.window,
        }
        if firing:
            message = _spike_message(metric, value, spread, len(window))
        else:
            message = (
                f"{metric} is back to normal: {settings.consecutive} samples in a row within "
                f"{settings.threshold:g} robust SDs or {_num(settings.min_deviation)} of the "
                f"median {_num(spread.median)} (MAD {_num(spread.mad)}), the last {_num(value)}"
            )
        return Finding(
            kind="spike",
            meter_id=track.meter_id,
            metric=metric,
            firing=firing,
            ts=ts,
            value=value,
            message=message,
            evidence=evidence,
        )

    # -- base load ------------------------------------------------------------------

    def _base_load_track(self, meter_id: str) -> _BaseLoadTrack:
        track = self._base_loads.get(meter_id)
        if track is None:
            history: deque[float] = deque(maxlen=self._settings.nights + 1)
            track = self._base_loads[meter_id] = _BaseLoadTrack(meter_id, history)
        return track

    def _observe_base_load(
        self, meter_id: str, metric: str, ts: datetime, value: float | None
    ) -> Finding | None:
        track = self._base_load_track(meter_id)
        # local wall-clock time: a night is "01:00 to 05:00" on the clock, whatever DST does
        wall = ts.astimezone(self._zone).replace(tzinfo=None)
        finding, night = None, track.current
        if night is not None and wall >= night.ends:
            finding, night, track.current = self._finish_night(track, night, metric, ts), None, None
        day = self._night_of(wall)
        if value is None or day is None or day <= track.last_finished:
            return finding  # outside the night, or a late sample of a night already judged
        if night is None:
            track.current = _Night(day, self._end_of(day), lowest=value, lowest_at=ts)
        elif day == night.day:  # not a late sample of an earlier night never measured
            night.samples += 1
            if value < night.lowest:
                night.lowest, night.lowest_at = value, ts
        return finding

    def _night_of(self, wall: datetime) -> date | None:
        """The local date on which the night holding ``wall`` began, if any does."""
        clock, start, end = wall.time(), self._night_start, self._night_end
        if start < end:
            return wall.date() if start <= clock < end else None
        if clock >= start:
            return wall.date()
        return wall.date() - timedelta(days=1) if clock < end else None

    def _end_of(self, night: date) -> datetime:
        day = night if self._night_start < self._night_end else night + timedelta(days=1)
        return datetime.combine(day, self._night_end)

    def _finish_night(
        self, track: _BaseLoadTrack, night: _Night, metric: str, ts: datetime
    ) -> Finding | None:
        track.last_finished = night.day
        if night.samples < _MIN_NIGHT_SAMPLES:
            return None  # too little of the night seen to trust its minimum
        tonight = night.lowest
        previous = list(track.history)[-self._settings.nights :]
        track.history.append(tonight)
        self.nights_finished += 1
        if len(previous) < _MIN_PREVIOUS_NIGHTS:
            return None
        baseline = statistics.median(previous)
        rising = self._is_rising(tonight, baseline)
        if rising == track.open:
            return None
        track.open = rising
        evidence: dict[str, _Number] = {
            "tonight": tonight,
            "baseline_median": baseline,
            "previous_nights": ",".join(_num(load) for load in previous),
            "night": night.day.isoformat(),
            "samples": night.samples,
            "lowest_at": night.lowest_at.isoformat(),
            "base_load_rise": self._settings.base_load_rise,
            "base_load_min_rise_w": self._settings.base_load_min_rise_w,
        }
        message = _base_load_message(night.day, tonight, baseline, len(previous), rising=rising)
        return Finding(
            kind="base_load",
            meter_id=track.meter_id,
            metric=metric,
            firing=rising,
            ts=ts,
            value=tonight,
            message=message,
            evidence=evidence,
        )

    def _is_rising(self, tonight: float, baseline: float) -> bool:
        settings = self._settings
        return (
            tonight > baseline * (1 + settings.base_load_rise)
            and tonight - baseline >= settings.base_load_min_rise_w
        )


def _spike_message(metric: str, value: float, spread: _Spread, samples: int) -> str:
    side = "above" if value > spread.median else "below"
    where = f"the median {_num(spread.median)}"
    if not spread.sigma:
        distance = _num(abs(value - spread.median))
        return (
            f"{metric} {_num(value)} is {distance} {side} {where} of the last {samples} "
            "samples, which do not vary (MAD 0)"
        )
    scale = f"MAD {_num(spread.mad)}" if spread.mad else f"MAD 0, robust SD {_num(spread.sigma)}"
    return (
        f"{metric} {_num(value)} is {abs(spread.z):.1f} robust SDs {side} {where} "
        f"({scale}) of the last {samples} samples"
    )


def _base_load_message(
    night: date, tonight: float, baseline: float, nights: int, *, rising: bool
) -> str:
    if rising:
        return (
            f"the base load of the night of {night.isoformat()} is {_num(tonight)} W, "
            f"{_num(tonight - baseline)} W above the median {_num(baseline)} W "
            f"of the previous {nights} nights"
        )
    return (
        f"the base load of the night of {night.isoformat()} is back to {_num(tonight)} W, "
        f"near the median {_num(baseline)} W of the previous {nights} nights"
    )


def _num(value: float) -> str:
    """A number for a sentence: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
