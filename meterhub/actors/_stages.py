"""The pipeline stages between the meters and the bus: validate, then enrich.

Meters publish decoded readings on ``decoded/<meter>``; the validator sets each
reading's quality and hands it to the enricher, which adds the device's metadata and
publishes the result on ``readings/<meter>`` for everyone downstream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from meterhub.model import DeviceMeta, Reading
from meterhub.platform import Actor, ActorRef

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from meterhub.actors._validation import Validator

DECODED = "decoded/#"
ENRICHER = "enricher"


class ValidatorActor(Actor[Reading]):
    """Sets ``quality`` and ``quality_rules`` on every reading; never drops one."""

    def __init__(self, validator: Validator, enricher: str = ENRICHER) -> None:
        self._validator = validator
        self._enricher_name = enricher
        self._enricher: ActorRef[Reading] | None = None

    async def on_start(self) -> None:
        """Subscribe to decoded readings and find the next stage."""
        self._enricher = self.context.system.lookup(self._enricher_name)
        self.context.bus.subscribe(DECODED, self.context.ref)

    async def handle_batch(self, messages: list[Reading]) -> None:
        """Judge and forward a batch, in order."""
        enricher = self._enricher
        assert enricher is not None  # noqa: S101 (set in on_start)
        check = self._validator.check
        for reading in messages:
            checked = check(reading)
            if not enricher.send_nowait(checked):
                await enricher.send(checked)

    async def handle(self, message: Reading) -> None:
        """One reading (unused: the runtime prefers ``handle_batch``)."""
        await self.handle_batch([message])


class DeviceDirectory:
    """Meter id -> what the registry knows of it; replaced whole, never edited in place."""

    def __init__(self, devices: Mapping[str, DeviceMeta] | None = None) -> None:
        self.devices = dict(devices or {})

    def enrich(self, reading: Reading) -> Reading:
        """The reading with its device's metadata, when the registry knows the meter."""
        meta = self.devices.get(reading.meter_id)
        if meta is None:
            return reading
        return msgspec.structs.replace(reading, device=meta)


class ReloadDevices(msgspec.Struct, frozen=True):
    """The device registry changed: load it again."""


class EnricherActor(Actor[Reading | ReloadDevices]):
    """Adds device metadata and registered applications, then publishes the reading."""

    def __init__(self, load: Callable[[], Awaitable[DeviceDirectory]]) -> None:
        self._load = load
        self._directory = DeviceDirectory()

    async def on_start(self) -> None:
        """Load the registry."""
        self._directory = await self._load()

    async def handle_batch(self, messages: list[Reading | ReloadDevices]) -> None:
        """Enrich and publish a batch, in order."""
        bus = self.context.bus
        for message in messages:
            if isinstance(message, ReloadDevices):
                self._directory = await self._load()
                continue
            reading = self._directory.enrich(message)
            await bus.publish(f"readings/{reading.meter_id}", reading)

    async def handle(self, message: Reading | ReloadDevices) -> None:
        """One message (unused: the runtime prefers ``handle_batch``)."""
        await self.handle_batch([message])
