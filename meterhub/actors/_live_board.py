"""The meters' live state, written by each meter actor, read by the API.

Each meter actor replaces its own entry with immutable snapshots; readers never see a
half-written state and never wait for an actor, so ``/devices/{id}/latest`` costs a dict
lookup instead of a round trip through a mailbox.
"""

from __future__ import annotations

import msgspec

from meterhub.actors._meter_status import MeterStatus
from meterhub.model import Reading


class LiveEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One meter's latest status and reading."""

    status: MeterStatus
    reading: Reading | None = None


class LiveBoard:
    """Meter id -> its latest ``LiveEntry``."""

    def __init__(self) -> None:
        self._entries: dict[str, LiveEntry] = {}

    def publish(self, status: MeterStatus, reading: Reading | None = None) -> None:
        """Replace a meter's entry (only its own actor calls this)."""
        previous = self._entries.get(status.meter_id)
        if reading is None and previous is not None:
            reading = previous.reading
        self._entries[status.meter_id] = LiveEntry(status=status, reading=reading)

    def get(self, meter_id: str) -> LiveEntry | None:
        """The meter's entry, None for a meter that never reported."""
        return self._entries.get(meter_id)

    def meters(self) -> list[str]:
        """Every meter that reported, sorted."""
        return sorted(self._entries)
