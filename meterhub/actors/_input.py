"""The actor that runs one input: journal every frame, run the pipeline, publish.

It owns the input's devices' health and the reconnect backoff. Frames are journaled
and decoded in the input's own task, not sent through the actor's mailbox: that hop and
task switch per telegram were a large share of ingest. The health state still has one
writer at a time: everything that changes it is synchronous up to the point where it
publishes, so the reader and the clock ticks never interleave half-way.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Protocol

import msgspec

from meterhub.actors._health import MeterHealth
from meterhub.actors._pipeline import Duplicate, UnknownDevice
from meterhub.adapters.journal import JournalError
from meterhub.adapters.transports import TransportError
from meterhub.model import DeadLetter, DeviceLink, DeviceNews, MeterStatus, Reading, Skipped
from meterhub.platform import Actor, Backoff, Reply, RestartPolicy
from meterhub.topics import DEVICE_NEWS, METER_STATUS, READINGS, SKIPPED

if TYPE_CHECKING:
    from meterhub.actors._live_board import LiveBoard
    from meterhub.actors._pipeline import Outcome, Pipeline
    from meterhub.adapters.codecs import DecodeError
    from meterhub.adapters.inputs import Input
    from meterhub.model import RawFrame

_log = logging.getLogger(__name__)
RECONNECT = RestartPolicy(backoff_initial=0.5, backoff_max=30.0)


class JournalAppender(Protocol):
    """The journal as an input sees it: append before decoding, get the record's seq."""

    def append(self, frame: RawFrame) -> int:
        """Buffer one frame for the disk.

        Raises:
            JournalError: the journal cannot take more (its disk is full or gone).
        """
        ...

    async def wait_durable(self, seq: int) -> None:
        """Until record ``seq`` is on disk."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class InputSetup:
    """Everything an input actor needs, built by the site from the configuration.

    Attributes:
        input: the source of frames.
        pipeline: turns its frames into readings.
        health: device id -> (stale_after, offline_after) seconds, for every device.
        journal: where frames go before decoding (None: not journaled).
        board: where the devices' live state is shown to the API (None: nowhere).
        reconnect: backoff between attempts to run a broken input again.
        new_devices: (stale_after, offline_after) for devices the input names at run
            time (MQTT devices); None: frames of devices not in ``health`` are ignored.
    """

    input: Input
    pipeline: Pipeline
    health: dict[str, tuple[float, float]]
    journal: JournalAppender | None = None
    board: LiveBoard | None = None
    reconnect: RestartPolicy = RECONNECT
    new_devices: tuple[float, float] | None = None


class Tick(msgspec.Struct, frozen=True):
    """Time to re-check ``stale`` and ``offline``."""


@dataclasses.dataclass(frozen=True, slots=True)
class StatusQuery:
    """Asks for a device's ``MeterStatus`` (use ``platform.ask``); the first by default."""

    reply: Reply[MeterStatus]
    meter_id: str | None = None


InputMessage = Tick | StatusQuery


class InputActor(Actor[InputMessage]):
    """Runs one input and publishes its devices' readings and status changes."""

    def __init__(self, setup: InputSetup) -> None:
        self.setup = setup
        self._health = {
            device: MeterHealth(device, stale, offline)
            for device, (stale, offline) in setup.health.items()
        }
        self._backoff = Backoff(setup.reconnect)
        self._changed: list[MeterStatus] = []
        self._unknown_logged: set[str] = set()
        self._bug_logged: set[str] = set()

    async def on_start(self) -> None:
        """Show the devices on the live board, start the input and the health timer."""
        board = self.setup.board
        if board is not None:
            for device, health in self._health.items():
                board.attach(device, health.status)
        self.context.start_background(self._run_input, "input")
        # a shared input may start before it knows any device
        limits = [*self.setup.health.values()]
        if self.setup.new_devices is not None:
            limits.append(self.setup.new_devices)
        period = min((min(s, o) for s, o in limits), default=30.0) / 4
        self.context.every(period, Tick, "health-timer")

    async def _run_input(self) -> None:
        source = self.setup.input
        while True:
            try:
                await source.run(self)
            except TransportError as exc:
                self.link_down(str(exc))
                await self._flush_status()
                await self._backoff.sleep()

    async def handle(self, message: InputMessage) -> None:
        """Apply a clock tick, or answer a status query."""
        if isinstance(message, Tick):
            for health in self._health.values():
                self._note(health.tick())
            await self._flush_status()
            return
        wanted = message.meter_id or next(iter(self._health))
        message.reply.send(self._health[wanted].status())

    # -- FrameSink ----------------------------------------------------------------------

    async def deliver(self, frame: RawFrame, *, must_journal: bool = False) -> int | None:
        """Journal the frame, run the pipeline, publish what it gave; its journal seq.

        Raises:
            JournalError: with ``must_journal``, the journal did not take the frame (an
                MQTT input then leaves the message unacknowledged for the broker to
                send again).
        """
        health = self._device(frame.meter_id)
        if health is None:
            return None
        health.frame()
        seq = self._journal(frame, health, must_journal=must_journal)
        bus = self.context.bus
        outcome: Outcome | None = None
        if frame.rejected is not None:
            # the framer already said why: framing the same bytes again live adds nothing
            # (replay and catch-up do, so a fixed framer gets its chance)
            why = frame.rejected
            self._note(health.rejected(why.reason, f"{why.reason}: {why.detail}"))
        else:
            try:
                outcome = self.setup.pipeline.run(frame, seq)
            except Exception as exc:  # noqa: BLE001 (a pipeline bug must not stop the input)
                self._internal_error(frame.meter_id, health, exc)
        if isinstance(outcome, DeviceNews):
            await self._device_news(outcome, health)
        elif isinstance(outcome, Reading):
            self._note(health.reading(frame.received_at, unmapped=outcome.unmapped))
            if self.setup.board is not None:
                self.setup.board.show(outcome)
            await READINGS.publish(bus, frame.meter_id, outcome)
        else:
            if isinstance(outcome, Duplicate):
                health.duplicate()
            elif outcome is not None and not isinstance(outcome, UnknownDevice):
                self._note(health.rejected(outcome.reason, str(outcome)))
            if seq is not None:
                # durable sinks see one message per journal record, so they know that
                # nothing is missing below their cursor
                await SKIPPED.publish(bus, frame.meter_id, Skipped(meter_id=frame.meter_id,
                                                                   seq=seq))  # fmt: skip
        await self._flush_status()
        return seq

    async def wait_durable(self, seq: int) -> None:
        """Until journal record ``seq`` is on disk (an MQTT input acks only then)."""
        if self.setup.journal is not None:
            await self.setup.journal.wait_durable(seq)

    async def _device_news(self, news: DeviceNews, health: MeterHealth) -> None:
        """Publish an MQTT payload's record for durable sinks, then its readings.

        The record goes first: the store writer takes the record whole and ignores the
        readings that follow it on their own topic.
        """
        bus, board = self.context.bus, self.setup.board
        await DEVICE_NEWS.publish(bus, news.device_id, news)
        for reading in news.readings:
            self._note(health.reading(reading.received_at or reading.ts))
            if board is not None:
                board.show(reading)
            await READINGS.publish(bus, news.device_id, reading)
        for _ in range(news.duplicates):
            health.duplicate()
        for event in news.events:
            if isinstance(event, DeadLetter):
                self._note(health.rejected(event.reason, f"{event.reason}: {event.detail}"))
            elif isinstance(event, DeviceLink):
                if event.online:
                    self._note(health.link_up())
                else:
                    self._note(health.link_down(f"the device says offline ({event.reason})"))

    def rejected(self, meter_id: str, error: DecodeError) -> None:
        """Count bytes that framed to nothing."""
        health = self._device(meter_id)
        if health is not None:
            self._note(health.rejected(error.reason, str(error)))

    def heard(self, meter_id: str) -> None:
        """The device is alive."""
        health = self._device(meter_id)
        if health is not None:
            health.heard()

    def link_up(self, meter_id: str | None = None) -> None:
        """The link works: the next failure starts the backoff afresh."""
        self._backoff.reset()
        for health in self._targets(meter_id):
            self._note(health.link_up())

    def link_down(self, reason: str, meter_id: str | None = None) -> None:
        """The link broke."""
        for health in self._targets(meter_id):
            self._note(health.link_down(reason))

    # -- helpers ------------------------------------------------------------------------

    def _device(self, meter_id: str) -> MeterHealth | None:
        health = self._health.get(meter_id)
        if health is None and self.setup.new_devices is not None:
            stale, offline = self.setup.new_devices
            health = self._health[meter_id] = MeterHealth(meter_id, stale, offline)
            if self.setup.board is not None:
                self.setup.board.attach(meter_id, health.status)
            return health
        if health is None and meter_id not in self._unknown_logged:
            self._unknown_logged.add(meter_id)
            _log.warning("input %s delivered a frame of unknown device %s; ignored",
                         self.setup.input.name, meter_id)  # fmt: skip
        return health

    def _targets(self, meter_id: str | None) -> list[MeterHealth]:
        if meter_id is None:
            return list(self._health.values())
        health = self._health.get(meter_id)
        return [health] if health is not None else []

    def _journal(
        self, frame: RawFrame, health: MeterHealth, *, must_journal: bool = False
    ) -> int | None:
        journal = self.setup.journal
        if journal is None:
            return None
        try:
            return journal.append(frame)
        except JournalError as exc:
            # readiness reports the journal; the live path goes on without it
            self._note(health.rejected("journal", str(exc)))
            if must_journal:
                raise
            return None

    def _internal_error(self, meter_id: str, health: MeterHealth, exc: Exception) -> None:
        self._note(health.rejected("internal", f"{type(exc).__name__}: {exc}"))
        if meter_id not in self._bug_logged:
            self._bug_logged.add(meter_id)
            _log.error("the pipeline failed on a frame of %s (journaled; counted as "
                       "'internal' from now on)", meter_id, exc_info=exc,
                       extra={"meter": meter_id})  # fmt: skip

    def _note(self, status: MeterStatus | None) -> None:
        if status is not None:
            self._changed.append(status)

    async def _flush_status(self) -> None:
        if not self._changed:
            return
        changed, self._changed = self._changed, []
        bus = self.context.bus
        for status in changed:
            await METER_STATUS.publish(bus, status.meter_id, status)
