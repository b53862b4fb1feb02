"""The meters' live state, written by each input actor, read by the API.

Each input actor attaches its devices' ``status()`` once and shows every new reading
(validated and enriched: the pipeline's output); the API
builds a meter's snapshot when it asks, so ``/devices/{id}/latest`` costs a dict lookup
instead of a round trip through a mailbox, and a telegram costs the meter one dict
store instead of a status snapshot nobody may read. Everything runs on the one event
loop, and ``status()`` is synchronous, so a reader never sees a half-written state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from meterhub.model import MeterStatus, Reading

if TYPE_CHECKING:
    from collections.abc import Callable


class LiveEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One meter's latest status and reading."""

    status: MeterStatus
    reading: Reading | None = None


class LiveBoard:
    """Meter id -> how to get its status, and its latest reading."""

    def __init__(self) -> None:
        self._status: dict[str, Callable[[], MeterStatus]] = {}
        self._readings: dict[str, Reading] = {}

    def attach(self, meter_id: str, status: Callable[[], MeterStatus]) -> None:
        """Show ``status()`` as the meter's status (each incarnation of its actor)."""
        self._status[meter_id] = status

    def show(self, reading: Reading) -> None:
        """The meter's newest reading (only its own actor calls this)."""
        self._readings[reading.meter_id] = reading

    def get(self, meter_id: str) -> LiveEntry | None:
        """The meter's entry, None for a meter whose actor never started."""
        status = self._status.get(meter_id)
        if status is None:
            return None
        return LiveEntry(status=status(), reading=self._readings.get(meter_id))

    def statuses(self) -> list[MeterStatus]:
        """Every attached meter's status, built now."""
        return [status() for status in self._status.values()]

    def reading_age(self, meter_id: str) -> float | None:
        """Seconds since the meter's latest reading arrived, None before the first."""
        reading = self._readings.get(meter_id)
        if reading is None or reading.received_at is None:
            return None
        return (datetime.now(UTC) - reading.received_at).total_seconds()

    def meters(self) -> list[str]:
        """Every meter attached, sorted."""
        return sorted(self._status)
