"""Small actors the runtime tests share."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from meterhub.platform import Actor, ActorSystem


class Probe:
    """What test actors record, kept outside the actor so it survives restarts."""

    def __init__(self) -> None:
        self.starts = 0
        self.stops = 0
        self.handled: list[object] = []
        self.start_times: list[float] = []
        self.changed = anyio.Event()

    def touch(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def wait_for(self, predicate: object, timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checking on every change."""
        assert callable(predicate)
        with anyio.fail_after(timeout):
            while not predicate():
                await self.changed.wait()


class Recorder(Actor[object]):
    """Records every message; crashes on the message "crash"; fails to start on demand."""

    def __init__(self, probe: Probe, *, fail_start: bool = False) -> None:
        self.probe = probe
        self.fail_start = fail_start
        self.local_state = 0

    async def on_start(self) -> None:
        self.probe.starts += 1
        self.probe.start_times.append(anyio.current_time())
        self.probe.touch()
        if self.fail_start:
            raise RuntimeError("cannot start")

    async def handle(self, message: object) -> None:
        if message == "crash":
            self.probe.touch()
            raise ValueError("asked to crash")
        self.local_state += 1
        self.probe.handled.append(message)
        self.probe.touch()

    async def on_stop(self) -> None:
        self.probe.stops += 1
        self.probe.touch()


class Gate(Actor[object]):
    """Blocks in ``handle`` until the gate opens: a slow consumer."""

    def __init__(self, gate: anyio.Event, probe: Probe) -> None:
        self.gate = gate
        self.probe = probe

    async def handle(self, message: object) -> None:
        await self.gate.wait()
        self.probe.handled.append(message)
        self.probe.touch()


async def until(system: ActorSystem, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds, re-checking whenever a supervisor reports."""
    with anyio.fail_after(timeout):
        while not predicate():
            await system.wait_for_change()
