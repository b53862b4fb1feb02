"""An in-process transport that reads telegrams from a simulated meter on a timer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, Self

import anyio


class TelegramSource(Protocol):
    """Anything that produces a meter's wire bytes for an instant (the simulator)."""

    def telegram(self, ts: datetime) -> bytes:
        """The bytes the meter sends at ``ts``."""
        ...


class SimulatedTransport:
    """Delivers one telegram from ``source`` every ``interval`` seconds.

    The first telegram comes after ``offset`` seconds, so that many simulated meters
    started together spread over the interval as real ones do.
    """

    def __init__(self, source: TelegramSource, interval: float, offset: float = 0.0) -> None:
        self.source = source
        self.interval = interval
        self._next = 0.0
        self._offset = offset

    @property
    def name(self) -> str:
        """``simulator``."""
        return "simulator"

    async def __aenter__(self) -> Self:
        self._next = anyio.current_time() + self._offset
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        """Wait for the next tick and return that telegram's bytes."""
        await anyio.sleep_until(self._next)
        self._next = max(self._next + self.interval, anyio.current_time())
        return self.source.telegram(datetime.now(UTC))
