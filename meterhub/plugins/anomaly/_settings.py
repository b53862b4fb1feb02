"""The anomaly plugin's settings, decoded from ``[plugins.anomaly]``.

``AnomalySettings.check`` refuses what a type cannot say, naming the key
(``night_start: expected HH:MM, got '1am'``).
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import time
from typing import Annotated

import msgspec

_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


class AnomalySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[plugins.anomaly]`` table: what is watched and how sensitive the verdicts are."""

    metrics: list[Annotated[str, msgspec.Meta(min_length=1)]] = msgspec.field(
        default_factory=lambda: ["power_import_w"]
    )
    """Metrics watched for spikes."""
    window: Annotated[int, msgspec.Meta(ge=10, le=1_000_000)] = 240
    """Samples kept per meter and metric."""
    min_samples: Annotated[int, msgspec.Meta(ge=5)] = 60
    """No spike verdict before the window holds this many samples."""
    threshold: Annotated[float, msgspec.Meta(gt=0)] = 6.0
    """Robust z-score beyond which a sample is anomalous."""
    consecutive: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 3
    """Anomalous samples in a row that open an alert; as many normal ones resolve it."""
    min_deviation: Annotated[float, msgspec.Meta(ge=0)] = 50.0
    """Distance from the median (units of the metric) below which nothing is anomalous."""
    base_load_metric: Annotated[str, msgspec.Meta(min_length=1)] | None = "power_import_w"
    """Metric whose night minimum is the base load; None: no base-load check."""
    night_start: str = "01:00"
    """Local HH:MM at which the night begins."""
    night_end: str = "05:00"
    """Local HH:MM at which the night ends (may be earlier than night_start: past midnight)."""
    timezone: str = "UTC"
    nights: Annotated[int, msgspec.Meta(ge=3, le=366)] = 7
    """Previous nights the base load is compared with."""
    base_load_rise: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    """Fire when tonight's base load exceeds the previous nights' median by this fraction ..."""
    base_load_min_rise_w: Annotated[float, msgspec.Meta(ge=0)] = 100.0
    """... and by at least this many W."""
    meters: list[str] = msgspec.field(default_factory=list)
    """Meters watched; empty: every meter."""

    def check(self) -> None:
        """Check what the annotations cannot say, and the annotations of a hand-built value.

        Raises:
            ValueError: ``"<key>: <reason>"`` for the first broken rule.
        """
        try:
            # msgspec enforces Meta constraints only when converting, not on construction
            msgspec.convert(msgspec.structs.asdict(self), AnomalySettings)
        except msgspec.ValidationError as exc:
            raise ValueError(_keyed(str(exc))) from exc
        if self.min_samples > self.window:
            raise ValueError("min_samples: must not exceed window")
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"metrics: a metric is listed twice in {self.metrics!r}")
        if parse_hhmm("night_start", self.night_start) == parse_hhmm("night_end", self.night_end):
            raise ValueError("night_end: must differ from night_start (the night would be empty)")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from exc


def _keyed(text: str) -> str:
    """Turn msgspec's ``"Expected ... - at `$.key`"`` into ``"key: expected ..."``."""
    reason, sep, path = text.rpartition(" - at `$.")
    if not sep:
        return text
    return f"{path.rstrip('`')}: {reason[:1].lower()}{reason[1:]}"


def parse_hhmm(key: str, text: str) -> time:
    match = _HHMM.fullmatch(text)
    if match is None:
        raise ValueError(f"{key}: expected HH:MM, got {text!r}")
    return time(int(match[1]), int(match[2]))
