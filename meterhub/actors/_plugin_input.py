"""Input plugins in the one pipeline: their payloads journaled, decoded by their ``decode``.

An input plugin's payloads are journaled as ``RawFrame`` records of format
``plugin:<name>``; the pipeline hands each record to the plugin's pure ``decode``, so
the live path, the store's catch-up and ``meterhub replay`` read a payload alike.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from meterhub.adapters.codecs import DecodeError
from meterhub.adapters.transports import TransportError
from meterhub.model import DeviceNews, RawFrame, Reading
from meterhub.plugins import InputBroken, PayloadError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from meterhub.adapters.inputs import FrameSink
    from meterhub.plugins import DeviceInfo, InputPlugin, Sample

PREFIX = "plugin:"


def plugin_format(name: str) -> str:
    """The journal format (and transport) of the payloads of input plugin ``name``."""
    return f"{PREFIX}{name}"


class PluginDecoder:
    """One input plugin's ``decode``, as the pipeline calls it.

    Never raises: a payload the plugin refuses, or a bug in its ``decode``, is a
    ``DecodeError`` naming the plugin, so no path that decodes (the store's catch-up
    among them) can be stopped by a plugin. Stateless: one serves every pipeline.
    """

    def __init__(self, name: str, plugin: InputPlugin[Any]) -> None:
        self.name = name
        self._plugin = plugin

    def decode(self, frame: RawFrame, seq: int | None) -> list[Reading] | DecodeError:
        """The frame's readings (before validation), or why there are none."""
        try:
            samples = self._plugin.decode(frame.meter_id, frame.payload)
        except PayloadError as exc:
            return DecodeError("malformed", f"plugin {self.name}: {exc}", 0)
        except Exception as exc:  # noqa: BLE001 (a plugin's bug is this payload's error)
            return DecodeError("malformed", f"plugin {self.name} failed to decode: "
                               f"{type(exc).__name__}: {exc}", 0)  # fmt: skip
        readings: list[Reading] = []
        for index, sample in enumerate(samples):
            reading = self._reading(frame, seq, sample, index)
            if isinstance(reading, DecodeError):
                return reading
            readings.append(reading)
        return readings

    def _reading(
        self, frame: RawFrame, seq: int | None, sample: Sample, index: int
    ) -> Reading | DecodeError:
        if sample.ts.tzinfo is None:
            return DecodeError("malformed", f"plugin {self.name}: sample {index} has a naive "
                               "timestamp (give it a time zone)", 0)  # fmt: skip
        values = {k: v for k, v in sample.values.items()
                  if not (isinstance(v, float) and not math.isfinite(v))}  # fmt: skip
        return Reading(meter_id=frame.meter_id, ts=sample.ts.astimezone(UTC), values=values,
                       units=dict(sample.units), received_at=frame.received_at,
                       journal_seq=seq)  # fmt: skip


def as_outcome(
    device_id: str, seq: int | None, readings: Sequence[Reading]
) -> Reading | DeviceNews:
    """One reading as itself; several as one record (the store takes a record whole)."""
    if len(readings) == 1:
        return readings[0]
    return DeviceNews(device_id=device_id, journal_seq=seq, readings=list(readings))


class _Feed:
    """The ``InputFeed`` an input plugin delivers to: frames for the input actor."""

    def __init__(self, name: str, sink: FrameSink) -> None:
        self._format = plugin_format(name)
        self._sink = sink

    async def deliver(
        self, device_id: str, payload: bytes, *, received_at: datetime | None = None
    ) -> None:
        if received_at is not None and received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        frame = RawFrame(meter_id=device_id, transport=self._format,
                         received_at=received_at or datetime.now(UTC), payload=bytes(payload),
                         format=self._format)  # fmt: skip
        await self._sink.deliver(frame)

    def link_up(self, device_id: str | None = None) -> None:
        self._sink.link_up(device_id)

    def link_down(self, reason: str, device_id: str | None = None) -> None:
        self._sink.link_down(reason, device_id)


class PluginInput:
    """An input plugin as an ``Input`` of the input actor.

    Args:
        name: the plugin's name.
        make: a fresh plugin instance (one per run, so a restart starts clean).
        devices: the devices it declared.
    """

    def __init__(
        self, name: str, make: Callable[[], InputPlugin[Any]], devices: Sequence[DeviceInfo]
    ) -> None:
        self._name = name
        self._make = make
        self._devices = tuple(devices)

    @property
    def name(self) -> str:
        """``plugin:<name>``."""
        return plugin_format(self._name)

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices the plugin declared."""
        return tuple(device.id for device in self._devices)

    async def run(self, sink: FrameSink) -> None:
        """Run the plugin; its ``InputBroken`` is a broken link (retried with backoff).

        Raises:
            TransportError: the plugin said its source is unreachable, or ``run``
                returned (an input runs until it is cancelled).
        """
        sink.link_up()
        try:
            await self._make().run(_Feed(self._name, sink))
        except InputBroken as exc:
            raise TransportError(self.name, str(exc) or "the source is unreachable") from exc
        raise TransportError(self.name, "the plugin's run() returned")
