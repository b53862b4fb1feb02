"""Turning journal records back into readings: catch-up after an outage, and replay.

The same steps as the live path (decode, validate, enrich) as plain functions, so a
durable sink that fell behind can rebuild exactly what it missed from the raw frames.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from meterhub.actors._meter import to_reading
from meterhub.adapters.codecs import DecodeError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import tzinfo

    from meterhub.actors._stages import DeviceDirectory
    from meterhub.actors._validation import Validator
    from meterhub.adapters.codecs import MeterDecoder
    from meterhub.model import RawFrame, Reading

_log = logging.getLogger(__name__)


class Redecoder:
    """Decodes journal records of the configured meters into validated readings.

    Args:
        decoders: meter id -> a factory of its decoder (keys and profiles inside).
        zones: meter id -> the meter's time zone.
        validator: a validator of its own (its jump rule keeps per-meter state).
        directory: the device registry used by the enricher.
    """

    def __init__(
        self,
        decoders: Mapping[str, Callable[[], MeterDecoder]],
        zones: Mapping[str, tzinfo],
        validator: Validator,
        directory: DeviceDirectory,
    ) -> None:
        self._factories = decoders
        self._decoders: dict[str, MeterDecoder] = {}
        self._zones = zones
        self._validator = validator
        self.directory = directory
        self.rejected = 0
        self.unknown_meters: set[str] = set()

    def reading(self, seq: int, frame: RawFrame) -> Reading | None:
        """The reading one raw frame decodes to, or None (rejected, unknown meter)."""
        decoder = self._decoders.get(frame.meter_id)
        if decoder is None:
            factory = self._factories.get(frame.meter_id)
            if factory is None:
                if frame.meter_id not in self.unknown_meters:
                    _log.warning("journal holds frames of unconfigured meter %s; skipped",
                                 frame.meter_id)  # fmt: skip
                    self.unknown_meters.add(frame.meter_id)
                return None
            decoder = self._decoders[frame.meter_id] = factory()
        try:
            telegram = decoder.decode_payload(frame.payload)
        except DecodeError:
            self.rejected += 1
            return None
        zone = self._zones[frame.meter_id]
        reading = to_reading(frame.meter_id, telegram, frame.received_at, zone, seq)
        return self.directory.enrich(self._validator.check(reading))
