"""The ``anomaly`` plugin: the detector on the reading stream, its findings as alerts.

Spikes (a robust z-score per meter and metric) and a rising night-time base load open
alerts through the normal life cycle, with the statistics as their evidence. The
base-load history of each meter is kept in the plugin's state across restarts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from meterhub.plugins import API_VERSION, ProcessorPlugin, Reading, Severity
from meterhub.plugins.anomaly._detector import AnomalyDetector
from meterhub.plugins.anomaly._settings import AnomalySettings

if TYPE_CHECKING:
    from meterhub.plugins import ProcessorContext, ProcessorMessage

STATE_KEY = "base_load"
_state = msgspec.json.Decoder(dict[str, list[float]])


class AnomalyProcessor(ProcessorPlugin[AnomalySettings]):
    """Feeds every reading to the detector; raises and clears its alerts."""

    api_version = API_VERSION
    version = "1.0.0"
    settings_type = AnomalySettings
    subscribes = ("reading",)

    def __init__(self, settings: AnomalySettings) -> None:
        super().__init__(settings)
        self._detector = AnomalyDetector(settings)
        self._saved: dict[str, list[float]] = {}
        self._nights_saved = 0

    async def start(self, context: ProcessorContext) -> None:
        """Restore the nightly base loads of the last nights."""
        stored = await context.state.get(STATE_KEY)
        if stored is not None:
            try:
                self._saved = _state.decode(stored)
            except msgspec.DecodeError:
                context.logger.warning("anomaly: the stored base-load history is unreadable; "
                                       "starting afresh")  # fmt: skip
            else:
                self._detector.restore_state(self._saved)

    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        """Judge one reading; alerts open and resolve on the detector's transitions."""
        if not isinstance(message, Reading) or message.origin is not None:
            return
        detector = self._detector
        for finding in detector.observe(message.meter_id, message.ts, message.values):
            key = f"{finding.kind}:{finding.metric}"
            if finding.firing:
                await context.raise_alert(key, finding.meter_id, message=finding.message,
                                          severity=Severity.WARNING, value=finding.value,
                                          evidence=finding.evidence)  # fmt: skip
            else:
                await context.clear_alert(key, finding.meter_id, value=finding.value)
        if detector.nights_finished != self._nights_saved:
            # a night joined the history: saved now, not only at a clean stop
            self._nights_saved = detector.nights_finished
            await self._save(context)

    async def _save(self, context: ProcessorContext) -> None:
        state = self._detector.export_state()
        if state != self._saved:
            await context.state.put(STATE_KEY, msgspec.json.encode(state))
            self._saved = state

    async def stop(self, context: ProcessorContext) -> None:
        """Keep the base-load history for the next start."""
        await self._save(context)
