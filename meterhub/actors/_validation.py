"""Plausibility rules: every reading gets a quality, nothing is dropped.

Pure and synchronous: a step of the one pipeline (``_pipeline.py``), so the live path,
the journal catch-up and ``meterhub replay`` judge readings the same way.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import TYPE_CHECKING

import msgspec

from meterhub.actors._counters import Counters
from meterhub.adapters.codecs import default_registry
from meterhub.model import Quality, Reading

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime


@dataclasses.dataclass(frozen=True, slots=True)
class RangeRule:
    """Values of metrics matching ``pattern`` outside [low, high] get ``quality``."""

    pattern: str
    low: float | None
    high: float | None
    quality: Quality

    @property
    def name(self) -> str:
        """The rule as it is reported in ``quality_rules``."""
        return f"range:{self.pattern}"


# physical limits (invalid) and what a low-voltage connection plausibly shows (suspect)
DEFAULT_RANGES: tuple[RangeRule, ...] = (
    RangeRule("voltage_*_v", 0, 500, Quality.INVALID),
    RangeRule("voltage_*_v", 150, 280, Quality.SUSPECT),
    RangeRule("current_*_a", 0, 2000, Quality.INVALID),
    RangeRule("power_*_w", 0, None, Quality.INVALID),
    RangeRule("power_factor", -1, 1, Quality.INVALID),
    RangeRule("energy_*", 0, None, Quality.INVALID),
    RangeRule("frequency_hz", 45, 65, Quality.SUSPECT),
)
_RANK = {Quality.GOOD: 0, Quality.SUSPECT: 1, Quality.INVALID: 2}


@dataclasses.dataclass(frozen=True, slots=True)
class ValidationRules:
    """Thresholds of the validator.

    Attributes:
        ranges: per-metric plausible ranges.
        max_clock_skew_s: a meter timestamp further than this from the receive time is
            suspect (the meter's clock is off, or the telegram is old).
        max_power_w: an energy counter that grew faster than this between two readings
            made a suspect jump.
    """

    ranges: Sequence[RangeRule] = DEFAULT_RANGES
    max_clock_skew_s: float = 300.0
    max_power_w: float = 1_000_000.0


class Validator:
    """Judges readings; remembers each meter's last counters for the jump rule.

    Args:
        rules: the thresholds.
        counters: the cumulative registers (the jump rule watches them); those the
            built-in profiles declare by default.
    """

    def __init__(
        self, rules: ValidationRules | None = None, counters: Counters | None = None
    ) -> None:
        self.rules = rules or ValidationRules()
        if counters is None:
            counters = Counters(default_registry().counters())
        self._counters_of = counters
        self._counters: dict[str, tuple[datetime, dict[str, float]]] = {}
        self._range_cache: dict[str, tuple[RangeRule, ...]] = {}

    def _ranges_for(self, metric: str) -> tuple[RangeRule, ...]:
        found = self._range_cache.get(metric)
        if found is None:
            found = tuple(r for r in self.rules.ranges if fnmatch.fnmatchcase(metric, r.pattern))
            self._range_cache[metric] = found
        return found

    def check(self, reading: Reading) -> Reading:
        """The reading with its quality and the rules that fired."""
        fired: dict[str, Quality] = {}
        for metric, value in reading.values.items():
            for rule in self._ranges_for(metric):
                if (rule.low is not None and value < rule.low) or (
                    rule.high is not None and value > rule.high
                ):
                    key = f"{rule.name}:{metric}"
                    known = fired.get(key, Quality.GOOD)
                    fired[key] = max(known, rule.quality, key=_RANK.__getitem__)
        self._check_clock(reading, fired)
        self._check_jumps(reading, fired)
        if not fired:
            return reading
        worst = max(fired.values(), key=_RANK.__getitem__)
        return msgspec.structs.replace(reading, quality=worst, quality_rules=sorted(fired))

    def _check_clock(self, reading: Reading, fired: dict[str, Quality]) -> None:
        if reading.ts_source != "meter" or reading.received_at is None:
            return
        skew = abs((reading.ts - reading.received_at).total_seconds())
        if skew > self.rules.max_clock_skew_s:
            fired["clock_skew"] = Quality.SUSPECT

    def _check_jumps(self, reading: Reading, fired: dict[str, Quality]) -> None:
        counters = {k: v for k, v in reading.values.items() if k in self._counters_of}
        previous = self._counters.get(reading.meter_id)
        if counters:
            self._counters[reading.meter_id] = (reading.ts, counters)
        if previous is None:
            return
        then, old = previous
        seconds = (reading.ts - then).total_seconds()
        if seconds <= 0:
            return
        for metric, value in counters.items():
            before = old.get(metric)
            if before is None or value < before:
                continue  # a decrease is a reset or a replacement: consumption handles it
            # Wh over seconds to W
            if (value - before) * 3600 / seconds > self.rules.max_power_w:
                fired[f"jump:{metric}"] = Quality.SUSPECT
