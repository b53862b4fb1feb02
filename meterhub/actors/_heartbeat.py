"""The demo site's heartbeat: proves the runtime is alive, in the log and on the bus."""

from __future__ import annotations

import time

import anyio
import msgspec

from meterhub.platform import Actor

HEARTBEAT_TOPIC = "site/heartbeat"


class Beat(msgspec.Struct, frozen=True, tag="heartbeat"):
    """One heartbeat: a counter and the seconds since the actor started."""

    count: int
    uptime_s: float


class HeartbeatActor(Actor[Beat]):
    """Publishes a ``Beat`` on ``site/heartbeat`` every ``interval`` seconds and logs it."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._count = 0
        self._started = time.monotonic()

    async def on_start(self) -> None:
        """Start the timer."""
        self.context.start_background(self._tick, "tick")

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            self._count += 1
            beat = Beat(self._count, round(time.monotonic() - self._started, 3))
            await self.context.bus.publish(HEARTBEAT_TOPIC, beat)
            await self.context.ref.send(beat)

    async def handle(self, message: Beat) -> None:
        """Log the beat (it went through the mailbox like any message)."""
        self.context.logger.info(
            "heartbeat", extra={"count": message.count, "uptime_s": message.uptime_s}
        )
