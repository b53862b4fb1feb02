"""The demo site's heartbeat: proves in the log that the runtime is alive."""

from __future__ import annotations

import time

import msgspec

from meterhub.platform import Actor


class Beat(msgspec.Struct, frozen=True, tag="heartbeat"):
    """Time for the next heartbeat line."""


class HeartbeatActor(Actor[Beat]):
    """Logs a heartbeat with its count and the uptime every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._count = 0
        self._started = time.monotonic()

    async def on_start(self) -> None:
        """Start the timer."""
        self.context.every(self._interval, Beat, "tick")

    async def handle(self, message: Beat) -> None:  # noqa: ARG002 (the tick carries nothing)
        """Log one beat (it went through the mailbox like any message)."""
        self._count += 1
        uptime = round(time.monotonic() - self._started, 3)
        self.context.logger.info("heartbeat", extra={"count": self._count, "uptime_s": uptime})
