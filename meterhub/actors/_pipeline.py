"""The one pipeline: a journaled frame in, a validated and enriched reading out.

Decode, de-duplicate, build the reading, validate, enrich: plain synchronous code,
called by every path that turns frames into readings (the live inputs, the store
writer's catch-up from the journal, and ``meterhub replay``), so they cannot drift.
Each caller owns its ``Pipeline``: the per-device state (decoders, the last telegram
for de-duplication, the validator's counters) belongs to one ordered stream of frames.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Protocol, cast

import msgspec

from meterhub.actors._device_pipeline import IOT_FORMAT, DevicePipeline
from meterhub.actors._plugin_input import as_outcome
from meterhub.adapters.codecs import DECODE_REASONS, DecodeError, Telegram
from meterhub.model import DeviceNews, Reading

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from meterhub.actors._device_pipeline import DeviceRules
    from meterhub.actors._devices import DeviceDirectory
    from meterhub.actors._plugin_input import PluginDecoder
    from meterhub.actors._validation import Validator
    from meterhub.adapters.codecs import DecodeReason
    from meterhub.model import RawFrame, Rejection


class PayloadDecoder(Protocol):
    """What the pipeline needs of a codec: one complete payload to a telegram."""

    def decode_payload(self, payload: bytes) -> Telegram:
        """Decode one payload.

        Raises:
            DecodeError: it cannot be decoded.
        """
        ...

    def feed(self, chunk: bytes) -> list[Telegram | DecodeError]:
        """Frame and decode stream bytes (for records of bytes a framer skipped)."""
        ...

    def flush(self) -> list[Telegram | DecodeError]:
        """End the stream fed to ``feed``."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceCodec:
    """How one device's frames decode.

    Attributes:
        make_decoder: a fresh decoder for a format (``mbus``, ``dsmr``...); the format
            recorded with each frame, else ``default_format``.
        default_format: the configured format, for frames that carry none.
        timezone: the device's local zone, for timestamps without a UTC offset.
    """

    make_decoder: Callable[[str], PayloadDecoder]
    default_format: str
    timezone: tzinfo


class Duplicate(msgspec.Struct, frozen=True):
    """The frame repeats the device's previous telegram (same frame counter or clock)."""

    meter_id: str


class UnknownDevice(msgspec.Struct, frozen=True):
    """The frame belongs to no configured device (the journal of an older set-up)."""

    meter_id: str


Outcome = Reading | DecodeError | Duplicate | UnknownDevice | DeviceNews
"""A meter's frame gives one of the first four; an MQTT device's payload, ``DeviceNews``."""


class _DeviceState:
    __slots__ = ("codec", "decoders", "last_counter", "last_ts")

    def __init__(self, codec: DeviceCodec) -> None:
        self.codec = codec
        self.decoders: dict[str, PayloadDecoder] = {}
        self.last_counter: tuple[str | None, int] | None = None
        self.last_ts: datetime | None = None

    def decoder(self, fmt: str | None) -> PayloadDecoder:
        fmt = fmt or self.codec.default_format
        decoder = self.decoders.get(fmt)
        if decoder is None:
            decoder = self.decoders[fmt] = self.codec.make_decoder(fmt)
        return decoder

    def is_duplicate(self, telegram: Telegram) -> bool:
        if telegram.frame_counter is not None:
            counter = (telegram.system_title, telegram.frame_counter)
            if counter == self.last_counter:
                return True
            self.last_counter = counter
        if telegram.timestamp is not None:
            if telegram.timestamp == self.last_ts:
                return True
            self.last_ts = telegram.timestamp
        return False


class Pipeline:
    """Turns raw frames of the configured devices into readings, in their order.

    Args:
        codecs: device id -> how its frames decode.
        validator: judges readings (keeps per-device state for the jump rule).
        directory: the device registry; read at every frame, so a registry change
            reaches the next reading on every path.
        devices: how MQTT device payloads are taken in (None: MQTT is not configured,
            and such journal records belong to no known device).
        plugins: journal format (``plugin:<name>``) -> the input plugin that decodes
            it; records of a plugin that is not enabled belong to no known device.
    """

    def __init__(
        self,
        codecs: Mapping[str, DeviceCodec],
        validator: Validator,
        directory: Callable[[], DeviceDirectory],
        devices: DeviceRules | None = None,
        plugins: Mapping[str, PluginDecoder] | None = None,
    ) -> None:
        self._codecs = codecs
        self._plugins = dict(plugins or {})
        # an input plugin device's last reading time: its de-duplication, per pipeline
        self._plugin_last: dict[str, datetime] = {}
        self._devices: dict[str, _DeviceState] = {}
        self._validator = validator
        self._directory = directory
        self._iot = None if devices is None else DevicePipeline(devices, validator, directory)

    def knows(self, meter_id: str, fmt: str | None = None) -> bool:
        """Whether frames of ``meter_id`` (in format ``fmt``) can be decoded.

        Any MQTT device's can with MQTT on; any input plugin's with the plugin enabled.
        """
        if fmt is not None and fmt.startswith("plugin:"):
            return fmt in self._plugins
        return meter_id in self._codecs or self._iot is not None

    def run(self, frame: RawFrame, seq: int | None) -> Outcome:
        """Decode one frame (journal record ``seq``) into its reading, or say why not."""
        if frame.format == IOT_FORMAT:
            if self._iot is None:
                return UnknownDevice(frame.meter_id)
            return self._iot.run(frame, seq)
        plugin = self._plugins.get(frame.format) if frame.format else None
        if plugin is not None:
            return self._run_plugin(plugin, frame, seq)
        return self._run_meter(frame, seq)

    def _run_plugin(self, plugin: PluginDecoder, frame: RawFrame, seq: int | None) -> Outcome:
        decoded = plugin.decode(frame, seq)
        if isinstance(decoded, DecodeError):
            return decoded
        directory, last = self._directory(), self._plugin_last
        readings: list[Reading] = []
        for reading in decoded:
            if last.get(reading.meter_id) != reading.ts:  # else: a payload delivered twice
                last[reading.meter_id] = reading.ts
                readings.append(directory.enrich(self._validator.check(reading)))
        if not readings:
            # a payload without samples (a poll with nothing new) is no error: skipped
            return Duplicate(frame.meter_id) if decoded else UnknownDevice(frame.meter_id)
        return as_outcome(frame.meter_id, seq, readings)

    def _run_meter(self, frame: RawFrame, seq: int | None) -> Outcome:
        meter_id = frame.meter_id
        state = self._devices.get(meter_id)
        if state is None:
            codec = self._codecs.get(meter_id)
            if codec is None:
                return UnknownDevice(meter_id)
            state = self._devices[meter_id] = _DeviceState(codec)
        if frame.rejected is not None:
            found = self._reframe(state, frame, frame.rejected)
            if not isinstance(found, Telegram):
                return found
            telegram = found
        else:
            try:
                telegram = state.decoder(frame.format).decode_payload(frame.payload)
            except DecodeError as exc:
                return exc
        if state.is_duplicate(telegram):
            return Duplicate(meter_id)
        reading = to_reading(meter_id, telegram, frame.received_at, state.codec.timezone, seq)
        return self._directory().enrich(self._validator.check(reading))


    def _reframe(
        self, state: _DeviceState, frame: RawFrame, why: Rejection
    ) -> Telegram | DecodeError:
        """Frame a rejected record's bytes again: a fixed framer may find a telegram now.

        Its first telegram counts; without one, the error found now (else the one
        recorded when the bytes arrived) is the outcome.
        """
        decoder = state.codec.make_decoder(frame.format or "auto")
        errors: list[DecodeError] = []
        for item in (*decoder.feed(frame.payload), *decoder.flush()):
            if not isinstance(item, DecodeError):
                return item
            errors.append(item)
        if errors:
            return errors[0]
        # a reason recorded by another meterhub version may be unknown to this one
        reason = cast("DecodeReason", why.reason if why.reason in DECODE_REASONS else "unsupported")
        return DecodeError(reason, why.detail, why.offset)


def to_reading(
    meter_id: str,
    telegram: Telegram,
    received_at: datetime,
    zone: tzinfo,
    journal_seq: int | None = None,
) -> Reading:
    """A decoded telegram as a ``Reading``: UTC timestamp, numbers and text apart."""
    ts = telegram.timestamp
    source = "meter"
    if ts is None:
        ts, source = received_at, "received"
    elif ts.tzinfo is None:
        # DSMR's S/W suffix settles the hour that occurs twice when clocks go back
        ts = ts.replace(tzinfo=zone, fold=0 if telegram.dst in (None, True) else 1)
    values: dict[str, float | int] = {}
    text: dict[str, str] = {}
    for name, value in telegram.values.items():
        if isinstance(value, str):
            text[name] = value
        elif isinstance(value, float) and not math.isfinite(value):
            # a DLMS float register may carry NaN or infinity: kept as text, so no
            # average, counter or database column ever sees it as a number
            text[name] = str(value)
        else:
            values[name] = value
    return Reading(
        meter_id=meter_id,
        ts=ts.astimezone(UTC),
        values=values,
        units=dict(telegram.units),
        received_at=received_at,
        ts_source=source,
        seq=telegram.frame_counter,
        meter_number=telegram.meter_number,
        text=text,
        journal_seq=journal_seq,
        unmapped=telegram.unmapped,
    )
