"""The rows a store reads and writes: frozen msgspec Structs, times timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from meterhub.model import CommandState, Reading

if TYPE_CHECKING:
    from collections.abc import Sequence

QualityName = Literal["good", "suspect", "invalid"]
TsSource = Literal["meter", "received"]
Agg = Literal["avg", "min", "max", "sum", "last"]
ConsumptionFlag = Literal["measured", "interpolated", "missing"]
Period = Literal["hour", "day", "month"]
Severity = Literal["info", "warning", "critical"]
AlertState = Literal["open", "acknowledged", "resolved"]
Evidence = dict[str, float | int | str]
"""The figures an alert was raised on, by name (a plugin's score, its threshold, ...)."""


class ReadingRow(msgspec.Struct, frozen=True, kw_only=True):
    """One value of one metric of one meter at one instant (the storage key)."""

    meter_id: str
    ts: datetime
    metric: str
    value: float
    quality: QualityName = "good"
    quality_rule: str | None = None
    journal_seq: int | None = None
    ts_source: TsSource = "meter"
    decode_status: str = "ok"


class BucketRow(msgspec.Struct, frozen=True, kw_only=True):
    """An aggregate of one meter's metric over one time bucket.

    ``count`` is the number of raw readings behind the value, also when it was served
    from a rollup tier.
    """

    meter_id: str
    metric: str
    bucket_start: datetime
    value: float
    count: int


class TrendRow(msgspec.Struct, frozen=True, kw_only=True):
    """A windowed aggregate the pipeline computed (keyed by meter, metric, window)."""

    meter_id: str
    metric: str
    window_s: int
    window_start: datetime
    avg: float
    min: float
    max: float
    last: float
    count: int


class ConsumptionRow(msgspec.Struct, frozen=True, kw_only=True):
    """Energy used in one interval, derived by the pipeline from a counter."""

    meter_id: str
    metric: str
    interval_start: datetime
    interval_s: int
    wh: float
    flag: ConsumptionFlag = "measured"


class ConsumptionPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """Energy summed over one calendar period; seconds say how it was obtained.

    ``period_start`` is the UTC instant at which the period starts in the requested
    time zone (a Vienna month starts at 23:00 or 22:00 UTC the day before).
    """

    period_start: datetime
    wh: float
    measured_s: int
    interpolated_s: int
    missing_s: int


class Device(msgspec.Struct, frozen=True, kw_only=True):
    """A device known to the site. Meter keys are deliberately not part of it."""

    id: str
    name: str
    device_type: str
    location: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class DeviceType(msgspec.Struct, frozen=True, kw_only=True):
    """A kind of device and the canonical metrics it reports."""

    name: str
    description: str = ""
    metrics: list[str] = msgspec.field(default_factory=list)


class Application(msgspec.Struct, frozen=True, kw_only=True):
    """A group of device types served together (for example "heat pumps")."""

    name: str
    description: str = ""
    device_types: list[str] = msgspec.field(default_factory=list)


class AlertRow(msgspec.Struct, frozen=True, kw_only=True):
    """One alert raised by a rule, with its life-cycle timestamps.

    ``evidence`` holds finite numbers and strings only (a store refuses NaN, infinity and
    bools, which would not read back as they were written).
    """

    id: str
    rule: str
    meter_id: str
    severity: Severity
    state: AlertState
    message: str
    value: float | None = None
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    evidence: Evidence = msgspec.field(default_factory=dict)


class DeadLetterRow(msgspec.Struct, frozen=True, kw_only=True):
    """A device payload that gave nothing usable, with why and its raw bytes.

    ``id`` is assigned by the store (None before the row is written); a row whose
    (``journal_seq``, ``device_id``) is stored already is not written again.
    """

    id: int | None = None
    device_id: str
    ts: datetime
    reason: str
    detail: str
    topic: str
    payload: bytes
    journal_seq: int | None = None


class DeviceEventRow(msgspec.Struct, frozen=True, kw_only=True):
    """Something that happened to a device's data or link.

    Attributes:
        kind: ``gap``, ``restart``, ``online`` or ``offline``.
        details: what the kind needs (for a gap ``{"missing": 3, "after": 9}``).
    """

    device_id: str
    ts: datetime
    kind: str
    journal_seq: int | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class CommandRow(msgspec.Struct, frozen=True, kw_only=True):
    """A command for an MQTT device and where it is in its life cycle."""

    id: str
    device_id: str
    command: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    state: CommandState
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    sent_at: datetime | None = None
    finished_at: datetime | None = None
    """When it was acknowledged, failed or expired."""
    result: dict[str, Any] = msgspec.field(default_factory=dict)
    error: str | None = None


class OtaRow(msgspec.Struct, frozen=True, kw_only=True):
    """A firmware update of one device; its request is the command with the same id."""

    id: str
    device_id: str
    version: str
    url: str
    sha256: str
    state: str
    """``requested``, ``downloading``, ``installing``, ``updated`` or ``failed``."""
    progress: float | None = None
    """Percent done, as the device reported it."""
    error: str | None = None
    created_at: datetime
    updated_at: datetime


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


_DAY_US = 86_400 * 1_000_000


def pack_readings(readings: Sequence[Reading]) -> tuple[bytes, set[int]]:
    """Readings as one JSON array for a store to explode into rows on its own side.

    Each reading becomes ``[meter_id, ts_us, quality, quality_rule, journal_seq,
    ts_source, {metric: value}]`` with ``ts_us`` in microseconds since the epoch. The
    database parses it (SQLite's ``json_each`` without holding Python's GIL,
    PostgreSQL in its own process), which keeps the per-value work out of the
    event loop: a telegram costs one small list here instead of a dozen row objects.

    Returns:
        The JSON, and the UTC days (since the epoch) the readings fall on.
    """
    packed: list[tuple[object, ...]] = []
    days: set[int] = set()
    for r in readings:
        ts_us = (r.ts - _EPOCH) // _US
        days.add(ts_us // _DAY_US)
        packed.append((
            r.meter_id,
            ts_us,
            r.quality.value,
            ",".join(r.quality_rules) or None,
            r.journal_seq,
            "received" if r.ts_source == "received" else "meter",
            r.values,
        ))  # fmt: skip
    return _ENCODER.encode(packed), days


_ENCODER = msgspec.json.Encoder()


class KnownSeries:
    """The (meter, metric) series a store is known to hold, so a batch names only new ones.

    Filled only after a commit succeeds; a series it does not know yet is named again
    (the store ignores one it holds), never left out.
    """

    def __init__(self) -> None:
        self._metrics: dict[str, frozenset[str]] = {}

    def new_in(self, readings: Sequence[Reading]) -> list[tuple[str, str]]:
        """The series of ``readings`` not known yet (the usual batch has none)."""
        found: set[tuple[str, str]] = set()
        metrics = self._metrics
        for r in readings:
            known = metrics.get(r.meter_id, frozenset())
            if not r.values.keys() <= known:
                found.update((r.meter_id, m) for m in r.values if m not in known)
        return sorted(found)

    def add(self, series: Sequence[tuple[str, str]]) -> None:
        """Remember committed series."""
        for meter_id, metric in series:
            self._metrics[meter_id] = self._metrics.get(meter_id, frozenset()) | {metric}


def pack_series(series: Sequence[tuple[str, str]]) -> str:
    """Series as one JSON array of ``[meter_id, metric]`` pairs."""
    return _ENCODER.encode(series).decode()


def rows_from_reading(reading: Reading, journal_seq: int | None = None) -> list[ReadingRow]:
    """Explode one telegram's :class:`~meterhub.model.Reading` into storage rows."""
    rule = ",".join(reading.quality_rules) or None
    source: TsSource = "received" if reading.ts_source == "received" else "meter"
    quality: QualityName = reading.quality.value
    return [
        ReadingRow(
            meter_id=reading.meter_id,
            ts=reading.ts,
            metric=metric,
            value=float(value),
            quality=quality,
            quality_rule=rule,
            journal_seq=journal_seq,
            ts_source=source,
        )
        for metric, value in reading.values.items()
    ]
