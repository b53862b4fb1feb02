"""The device registry as the pipeline's enrich step sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from meterhub.model import Approval, DeviceMeta, Reading


class DeviceDirectory:
    """Meter id -> what the registry knows of it; replaced whole, never edited in place.

    Args:
        devices: every registered device's metadata.
        approvals: MQTT device id -> whether its telemetry is taken in.
    """

    def __init__(
        self,
        devices: Mapping[str, DeviceMeta] | None = None,
        approvals: Mapping[str, Approval] | None = None,
    ) -> None:
        self.devices = dict(devices or {})
        self.approvals = dict(approvals or {})

    def enrich(self, reading: Reading) -> Reading:
        """The reading with its device's metadata, when the registry knows the meter."""
        meta = self.devices.get(reading.meter_id)
        if meta is None:
            return reading
        return msgspec.structs.replace(reading, device=meta)
