"""A processor plugin: an alert while a metric is above a limit, and a derived reading.

It subscribes to readings, raises ``example_threshold:<metric>`` through the normal
alert life cycle while the metric is above ``limit`` (with the evidence), clears it
below, and publishes the running maximum as a derived reading of ``<meter>:max``.
"""

from __future__ import annotations

import msgspec

from meterhub.plugins import (
    API_VERSION,
    ProcessorContext,
    ProcessorMessage,
    ProcessorPlugin,
    Reading,
    Severity,
)


class ThresholdSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[plugins.example_threshold]``."""

    metric: str = "power_import_w"
    limit: float
    fail: bool = False
    """Raise on every reading (to see meterhub isolate a crashing plugin)."""


class ThresholdProcessor(ProcessorPlugin[ThresholdSettings]):
    """Watches one metric of every meter."""

    api_version = API_VERSION
    version = "1.0.0"
    settings_type = ThresholdSettings
    subscribes = ("reading",)

    def __init__(self, settings: ThresholdSettings) -> None:
        super().__init__(settings)
        self._above: set[str] = set()
        self._max: dict[str, float] = {}

    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        """Compare one reading with the limit."""
        if self.settings.fail:
            raise RuntimeError("example_threshold was told to fail")
        if not isinstance(message, Reading):
            return
        value = message.values.get(self.settings.metric)
        if value is None:
            return
        meter, limit = message.meter_id, self.settings.limit
        if value > self._max.get(meter, float("-inf")):
            self._max[meter] = value
            await context.publish_reading(
                f"{meter}:max", message.ts, {f"max_{self.settings.metric}": value}
            )
        if value > limit and meter not in self._above:
            self._above.add(meter)
            await context.raise_alert(
                self.settings.metric,
                meter,
                severity=Severity.WARNING,
                value=value,
                message=f"{self.settings.metric} {value:g} is above {limit:g}",
                evidence={"value": value, "limit": limit, "ts": message.ts.isoformat()},
            )
        elif value <= limit and meter in self._above:
            self._above.discard(meter)
            await context.clear_alert(self.settings.metric, meter, value=value)
