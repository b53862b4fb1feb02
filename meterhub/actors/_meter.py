"""One actor per meter: owns its transport, frames, decodes, de-duplicates, reports."""

from __future__ import annotations

import dataclasses
import math
import random
import time
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Protocol

import anyio
import msgspec

from meterhub.actors._meter_status import MeterState, MeterStatus
from meterhub.adapters.codecs import DecodeError, MeterDecoder, Telegram
from meterhub.adapters.journal import JournalError
from meterhub.adapters.transports import Transport, TransportError
from meterhub.model import RawFrame, Reading, Skipped
from meterhub.platform import Actor, Reply, RestartPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

    from meterhub.actors._live_board import LiveBoard

_KEY_REASONS = frozenset({"wrong_key", "auth_tag"})
RECONNECT = RestartPolicy(backoff_initial=0.5, backoff_max=30.0)


def raw_topic(meter_id: str) -> str:
    """Bus topic of a meter's raw frames."""
    return f"raw/{meter_id}"


def reading_topic(meter_id: str) -> str:
    """Bus topic of a meter's validated and enriched readings."""
    return f"readings/{meter_id}"


def decoded_topic(meter_id: str) -> str:
    """Bus topic of a meter's readings straight from the decoder, before validation."""
    return f"decoded/{meter_id}"


def status_topic(meter_id: str) -> str:
    """Bus topic of a meter's status changes."""
    return f"status/{meter_id}"


class JournalAppender(Protocol):
    """The journal as a meter sees it: append before decoding, get the record's seq."""

    def append(self, frame: RawFrame) -> int:
        """Buffer one frame for the disk.

        Raises:
            JournalError: the journal cannot take more (its disk is full or gone).
        """
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class MeterSetup:
    """Everything a meter actor needs, built by the site from the configuration.

    Attributes:
        meter_id: the configured id, unique in the site.
        open_transport: makes a fresh (unopened) transport for every connection.
        make_decoder: makes the framing and decoding state (keys and profiles inside)
            for each incarnation of the actor.
        timezone: the meter's local zone, for timestamps that carry no UTC offset.
        stale_after: seconds without a reading before the meter is ``stale``.
        offline_after: seconds without any bytes before the meter is ``offline``.
        transport_name: recorded with every raw frame (``serial``, ``simulator``).
        reconnect: backoff between attempts to reopen a broken transport.
        journal: where raw frames go before decoding (None: not journaled).
        board: where the meter's live state is shown to the API (None: nowhere).
    """

    meter_id: str
    open_transport: Callable[[], Transport]
    make_decoder: Callable[[], MeterDecoder]
    timezone: tzinfo
    stale_after: float = 30.0
    offline_after: float = 120.0
    transport_name: str = "serial"
    reconnect: RestartPolicy = RECONNECT
    journal: JournalAppender | None = None
    board: LiveBoard | None = None


class Tick(msgspec.Struct, frozen=True):
    """Time to re-check ``stale`` and ``offline``."""


@dataclasses.dataclass(frozen=True, slots=True)
class StatusQuery:
    """Asks for the meter's ``MeterStatus`` (use ``platform.ask``)."""

    reply: Reply[MeterStatus]


MeterMessage = Tick | StatusQuery
Output = tuple[str, object]  # (bus topic, message)


class MeterActor(Actor[MeterMessage]):
    """Reads one meter and publishes its raw frames, readings and status on the bus.

    A background reader owns the transport and reopens it with backoff when it breaks
    (a USB adapter unplugged). It frames, journals and decodes what it reads in place
    rather than sending it to the actor's mailbox: that hop and task switch per
    telegram were a large share of ingest. The state below still has one writer at a
    time: everything that changes it (the reader's ``_take`` and link changes, the
    actor's clock ticks) is synchronous up to the point where it publishes, so they
    never interleave half-way; and only the reader touches the decoder.
    """

    def __init__(self, setup: MeterSetup) -> None:
        self.setup = setup
        self._decoder = setup.make_decoder()
        self._state = MeterState.STARTING
        self._since = datetime.now(UTC)
        self._last_reading_at: datetime | None = None
        self._last_reading_mono = time.monotonic()
        self._last_bytes_mono = time.monotonic()
        self._readings = 0
        self._duplicates = 0
        self._errors: dict[str, int] = {}
        self._last_error: str | None = None
        self._transport_failures = 0
        self._last_counter: tuple[str | None, int] | None = None
        self._last_ts: datetime | None = None
        meter_id = setup.meter_id
        self._topics = (raw_topic(meter_id), decoded_topic(meter_id), f"skipped/{meter_id}",
                        status_topic(meter_id))  # fmt: skip

    async def on_start(self) -> None:
        """Show the meter on the live board, start reading and the health timer."""
        if self.setup.board is not None:
            self.setup.board.attach(self.setup.meter_id, self.status)
        self.context.start_background(self._read_forever, "reader")
        self.context.start_background(self._tick_forever, "ticker")

    async def _read_forever(self) -> None:
        setup = self.setup
        attempt = 0
        while True:
            try:
                async with setup.open_transport() as transport:
                    attempt = 0
                    await self._publish(self._link_up())
                    while True:
                        data = await transport.read()
                        await self._publish(self._take(data, datetime.now(UTC)))
            except TransportError as exc:
                attempt += 1
                await self._publish(self._link_down(str(exc)))
                await anyio.sleep(setup.reconnect.backoff(attempt, random.random()))  # noqa: S311

    async def _tick_forever(self) -> None:
        period = min(self.setup.stale_after, self.setup.offline_after) / 4
        while True:
            await anyio.sleep(period)
            await self.context.ref.send(Tick())

    async def _publish(self, outputs: list[Output]) -> None:
        publish = self.context.bus.publish
        for topic, message in outputs:
            await publish(topic, message)

    async def handle(self, message: MeterMessage) -> None:
        """Apply one event from the reader or the timer."""
        outputs: list[Output] = []
        if isinstance(message, Tick):
            self._on_tick(outputs)
        else:
            message.reply.send(self.status())
        await self._publish(outputs)

    def _link_up(self) -> list[Output]:
        """The transport is open (again)."""
        outputs: list[Output] = []
        if self._state in (MeterState.STARTING, MeterState.OFFLINE):
            self._last_bytes_mono = time.monotonic()
            self._set_state(MeterState.STALE, "transport open, waiting for telegrams", outputs)
        return outputs

    def _link_down(self, reason: str) -> list[Output]:
        """The transport broke or could not be opened."""
        outputs: list[Output] = []
        self._transport_failures += 1
        # a torn telegram must not join the next one; count it like any rejection
        for error in self._decoder.reset_framing():
            self._errors[error.reason] = self._errors.get(error.reason, 0) + 1
        self._set_state(MeterState.OFFLINE, reason, outputs)
        return outputs

    def _take(self, data: bytes, received_at: datetime) -> list[Output]:
        """Frame, journal and decode bytes from the transport; what to publish."""
        outputs: list[Output] = []
        self._last_bytes_mono = time.monotonic()
        for item in self._decoder.frame(data):
            if isinstance(item, DecodeError):
                self._reject(item, outputs)
            else:
                self._on_payload(item, received_at, outputs)
        return outputs

    def _on_payload(self, payload: bytes, received_at: datetime, outputs: list[Output]) -> None:
        raw_at, decoded_at, skipped_at, _ = self._topics
        meter_id = self.setup.meter_id
        raw = RawFrame(meter_id=meter_id, transport=self.setup.transport_name,
                       received_at=received_at, payload=payload)  # fmt: skip
        # the raw frame is journaled before decoding: the journal must hold it even when
        # this meterhub cannot decode it yet (wrong key, unknown profile)
        seq = self._journal(raw)
        outputs.append((raw_at, raw))
        try:
            telegram = self._decoder.decode_payload(payload)
        except DecodeError as exc:
            self._reject(exc, outputs)
            if seq is not None:
                outputs.append((skipped_at, Skipped(meter_id=meter_id, seq=seq)))
            return
        if self._is_duplicate(telegram):
            self._duplicates += 1
            if seq is not None:
                outputs.append((skipped_at, Skipped(meter_id=meter_id, seq=seq)))
            return
        reading = to_reading(meter_id, telegram, received_at, self.setup.timezone, seq)
        self._readings += 1
        self._last_reading_at = received_at
        self._last_reading_mono = time.monotonic()
        self._set_state(MeterState.ONLINE, None, outputs)
        if self.setup.board is not None:
            self.setup.board.show(reading)
        outputs.append((decoded_at, reading))

    def _journal(self, raw: RawFrame) -> int | None:
        journal = self.setup.journal
        if journal is None:
            return None
        try:
            return journal.append(raw)
        except JournalError as exc:
            # readiness reports the journal; the live path goes on without it
            self._errors["journal"] = self._errors.get("journal", 0) + 1
            self._last_error = str(exc)
            return None

    def _is_duplicate(self, telegram: Telegram) -> bool:
        if telegram.frame_counter is not None:
            counter = (telegram.system_title, telegram.frame_counter)
            if counter == self._last_counter:
                return True
            self._last_counter = counter
        if telegram.timestamp is not None:
            if telegram.timestamp == self._last_ts:
                return True
            self._last_ts = telegram.timestamp
        return False

    def _reject(self, error: DecodeError, outputs: list[Output]) -> None:
        self._errors[error.reason] = self._errors.get(error.reason, 0) + 1
        self._last_error = str(error)
        if error.reason in _KEY_REASONS:
            self._set_state(MeterState.AUTH_FAILED, str(error), outputs)
        elif self._state is not MeterState.AUTH_FAILED:
            self._set_state(MeterState.ERRORS, str(error), outputs)

    def _on_tick(self, outputs: list[Output]) -> None:
        now = time.monotonic()
        if self._state is MeterState.OFFLINE:
            return
        if now - self._last_bytes_mono > self.setup.offline_after:
            self._set_state(MeterState.OFFLINE, "no bytes from the meter", outputs)
        elif self._state is MeterState.ONLINE and (
            now - self._last_reading_mono > self.setup.stale_after
        ):
            self._set_state(MeterState.STALE, "no reading", outputs)

    def _set_state(self, state: MeterState, reason: str | None, outputs: list[Output]) -> None:
        if state is self._state:
            return
        previous, self._state = self._state, state
        self._since = datetime.now(UTC)
        log = self.context.logger
        fields = {"meter": self.setup.meter_id, "state": state.value, "was": previous.value}
        if state is MeterState.AUTH_FAILED:
            # once per transition, not per telegram: a wrong key must not flood the log
            log.error("meter %s: telegrams do not decrypt, check its key (%s)",
                      self.setup.meter_id, reason, extra=fields)  # fmt: skip
        elif state in (MeterState.OFFLINE, MeterState.ERRORS) or previous is MeterState.ONLINE:
            log.warning("meter %s is %s: %s", self.setup.meter_id, state.value, reason,
                        extra=fields)  # fmt: skip
        else:
            log.info("meter %s is %s: %s", self.setup.meter_id, state.value,
                     reason or "reading", extra=fields)  # fmt: skip
        outputs.append((self._topics[3], self.status()))

    def status(self) -> MeterStatus:
        """The meter's current health."""
        return MeterStatus(
            meter_id=self.setup.meter_id,
            state=self._state,
            since=self._since,
            last_reading_at=self._last_reading_at,
            readings=self._readings,
            duplicates=self._duplicates,
            errors=dict(self._errors),
            last_error=self._last_error,
            transport_failures=self._transport_failures,
        )


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
    )
