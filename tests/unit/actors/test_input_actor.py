"""The input actor with an in-memory transport (a fake of our own Transport port)."""

from __future__ import annotations

import io
import logging
import zoneinfo
from pathlib import Path
from typing import Any, Self

import anyio
import msgspec
import pytest

from meterhub.actors import (
    DeviceCodec,
    DeviceDirectory,
    InputActor,
    InputMessage,
    InputSetup,
    Pipeline,
    StatusQuery,
    Validator,
)
from meterhub.adapters.codecs import MeterDecoder
from meterhub.adapters.inputs import StreamInput
from meterhub.adapters.transports import TransportError
from meterhub.model import MeterState, MeterStatus, RawFrame, Reading, Skipped
from meterhub.platform import (
    ActorSpec,
    ActorSystem,
    Mailbox,
    MailboxPolicy,
    RestartPolicy,
    ask,
    configure_logging,
)
from meterhub.topics import READINGS, SKIPPED

DATA = Path(__file__).parents[2] / "data"
VIENNA = zoneinfo.ZoneInfo("Europe/Vienna")


def vector(vector_id: str) -> dict[str, Any]:
    vectors = msgspec.json.decode((DATA / "mbus_dlms.json").read_bytes())
    return next(v for v in vectors if v["id"] == vector_id)


def frames_of(v: dict[str, Any]) -> bytes:
    return b"".join(bytes.fromhex(f) for f in v["frames_hex"])


class ScriptedTransport:
    """Delivers the given chunks, then stays quiet; or fails to open."""

    def __init__(self, chunks: list[bytes], *, fail: bool = False) -> None:
        self.chunks = list(chunks)
        self.fail = fail

    @property
    def name(self) -> str:
        return "script"

    async def __aenter__(self) -> Self:
        if self.fail:
            raise TransportError("script", "cannot open")
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        await anyio.sleep_forever()
        raise AssertionError


class ListJournal:
    """A journal fake that keeps what was appended."""

    def __init__(self) -> None:
        self.frames: list[RawFrame] = []

    def append(self, frame: RawFrame) -> int:
        self.frames.append(frame)
        return len(self.frames)


def meter(meter_id: str, chunks: list[bytes], key: bytes | None, *, fail: bool = False,
          reconnect: RestartPolicy | None = None,
          journal: ListJournal | None = None) -> ActorSpec[InputMessage]:  # fmt: skip
    """One meter's input actor over scripted chunks, with the real pipeline."""
    transport = ScriptedTransport(chunks, fail=fail)
    codec = DeviceCodec(make_decoder=lambda fmt: MeterDecoder(fmt, key),  # type: ignore[arg-type]
                        default_format="mbus", timezone=VIENNA)  # fmt: skip
    pipeline = Pipeline({meter_id: codec}, Validator(), DeviceDirectory)
    source = StreamInput(meter_id, lambda: transport, lambda: MeterDecoder("mbus", key), "script")
    setup = InputSetup(input=source, pipeline=pipeline, health={meter_id: (30.0, 120.0)},
                       journal=journal, **({"reconnect": reconnect} if reconnect else {}))  # fmt: skip
    return ActorSpec(f"meter:{meter_id}", lambda: InputActor(setup))


async def status_of(system: ActorSystem, meter_id: str) -> MeterStatus:
    return await ask(system.lookup(f"meter:{meter_id}"), StatusQuery)


async def until_status(system: ActorSystem, meter_id: str, check: Any) -> MeterStatus:
    with anyio.fail_after(10):
        while True:
            status = await status_of(system, meter_id)
            if check(status):
                return status
            await anyio.sleep(0.01)  # polling the actor's own state, not waiting for time


async def test_wrong_key_ends_in_auth_failed_logged_once_and_others_keep_going() -> None:
    noe, tinetz = vector("mbus_netznoe_doc_kaifa_ma309m"), vector("mbus_tinetz_doc_kaifa_ma309m")
    wrong = bytes(16)
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    events: Mailbox[object] = Mailbox("test", 100, MailboxPolicy.BLOCK)
    try:
        async with ActorSystem() as system:
            READINGS.subscribe(system.bus, events)
            await system.spawn(meter("bad", [frames_of(noe)] * 3, wrong))
            await system.spawn(meter("good", [frames_of(tinetz)], bytes.fromhex(tinetz["key_hex"])))
            bad = await until_status(system, "bad", lambda s: s.errors.get("wrong_key") == 3)
            with anyio.fail_after(10):
                (reading,) = await events.get_batch(10)
            good = await status_of(system, "good")
            restarts = {s.name: s.restarts for s in system.status()}
    finally:
        logging.getLogger().handlers.clear()
    assert bad.state is MeterState.AUTH_FAILED
    assert bad.readings == 0
    assert "wrong_key" in (bad.last_error or "")
    assert isinstance(reading, Reading)
    assert reading.meter_id == "good"
    assert good.state is MeterState.ONLINE
    assert restarts == {"meter:bad": 0, "meter:good": 0}
    lines = [msgspec.json.decode(line) for line in stream.getvalue().splitlines()]
    key_errors = [r for r in lines if r["level"] == "ERROR" and r.get("meter") == "bad"]
    assert len(key_errors) == 1
    assert "check its key" in key_errors[0]["msg"]
    assert key_errors[0]["actor"] == "meter:bad"


async def test_raw_frames_are_journaled_before_decoding_and_duplicates_are_dropped() -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    journal = ListJournal()
    skipped: Mailbox[object] = Mailbox("skipped", 100, MailboxPolicy.BLOCK)
    readings: Mailbox[object] = Mailbox("readings", 100, MailboxPolicy.BLOCK)
    async with ActorSystem() as system:
        SKIPPED.subscribe(system.bus, skipped)
        READINGS.subscribe(system.bus, readings, key="noe")
        await system.spawn(meter("noe", [frames_of(noe)] * 2, bytes.fromhex(noe["key_hex"]),
                                 journal=journal))  # fmt: skip
        status = await until_status(system, "noe", lambda s: s.duplicates == 1)
    assert (status.readings, status.received) == (1, 2)
    # both raw frames reach the journal, even the duplicate, with their format
    assert [(f.meter_id, f.format) for f in journal.frames] == [("noe", "mbus")] * 2
    assert skipped.take_nowait(10) == [Skipped(meter_id="noe", seq=2)]
    (reading,) = readings.take_nowait(10)
    assert reading.journal_seq == 1
    assert isinstance(reading, Reading)
    assert reading.ts_source == "meter"
    assert reading.seq == 35
    assert reading.values["energy_import_wh"] == 12937
    assert isinstance(reading.values["energy_import_wh"], int)
    assert reading.units["voltage_l1_v"] == "V"


async def test_corrupt_frames_are_counted_per_reason_without_a_crash() -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    good = frames_of(noe)
    bad_checksum = bytearray(good)
    first_len = len(bytes.fromhex(noe["frames_hex"][0]))
    bad_checksum[first_len - 2] ^= 0x01
    chunks = [b"\x00noise\xff", bytes(bad_checksum), good]
    async with ActorSystem() as system:
        await system.spawn(meter("noe", chunks, bytes.fromhex(noe["key_hex"])))
        status = await until_status(system, "noe", lambda s: s.readings == 1)
        restarts = next(s.restarts for s in system.status() if s.name == "meter:noe")
    assert status.errors.get("checksum", 0) >= 1
    assert status.state is MeterState.ONLINE  # the good telegram after the bad one decoded
    assert restarts == 0


async def test_a_port_that_cannot_open_makes_the_meter_offline_and_is_retried() -> None:
    async with ActorSystem() as system:
        await system.spawn(meter("gone", [], None, fail=True, reconnect=RestartPolicy(
            backoff_initial=0.01, backoff_max=0.02, jitter=0)))  # fmt: skip
        status = await until_status(system, "gone", lambda s: s.transport_failures >= 3)
        assert system.readiness().ready
        restarts = next(s.restarts for s in system.status() if s.name == "meter:gone")
    assert status.state is MeterState.OFFLINE
    assert "cannot open" in (status.last_error or "")
    assert restarts == 0  # retried by its own backoff, never given up on


@pytest.mark.parametrize("dst", [True, False])
def test_naive_dsmr_time_in_the_repeated_hour_uses_the_dst_flag(dst: bool) -> None:
    from datetime import UTC, datetime

    from meterhub.actors import to_reading
    from meterhub.adapters.codecs import Telegram

    naive_local = datetime(2026, 10, 25, 2, 30)  # noqa: DTZ001 (DSMR clocks carry no zone)
    telegram = Telegram(format="dsmr", meter_number="x", timestamp=naive_local,
                        values={"energy_import_wh": 1}, units={}, dst=dst)  # fmt: skip
    reading = to_reading("m", telegram, datetime.now(UTC), zoneinfo.ZoneInfo("Europe/Amsterdam"))
    assert reading.ts.hour == (0 if dst else 1)


def test_non_finite_float_registers_become_text_not_numbers() -> None:
    from datetime import UTC, datetime

    from meterhub.actors import to_reading
    from meterhub.adapters.codecs import Telegram

    telegram = Telegram(format="mbus", meter_number="x", timestamp=None,
                        values={"power_import_w": float("nan"), "frequency_hz": float("inf"),
                                "voltage_l1_v": 230.5, "energy_import_wh": 7},
                        units={})  # fmt: skip
    reading = to_reading("m", telegram, datetime.now(UTC), UTC)
    assert reading.values == {"voltage_l1_v": 230.5, "energy_import_wh": 7}
    assert reading.text == {"power_import_w": "nan", "frequency_hz": "inf"}


@pytest.mark.parametrize(("level", "subscribed"), [("INFO", True), ("WARNING", False)])
async def test_reading_logger_listens_only_when_its_lines_are_logged(level: str,
                                                                     subscribed: bool) -> None:  # fmt: skip
    from datetime import UTC, datetime

    from meterhub.actors import ReadingLogger

    stream = io.StringIO()
    configure_logging(level, "json", stream)
    try:
        async with ActorSystem() as system:
            await system.spawn(ActorSpec("reading-log", ReadingLogger))
            reading = Reading(meter_id="m1", ts=datetime(2026, 1, 1, tzinfo=UTC),
                              values={"power_import_w": 5.0})  # fmt: skip
            delivered = await READINGS.publish(system.bus, "m1", reading)
            await anyio.sleep(0.05)
    finally:
        logging.getLogger().handlers.clear()
    assert delivered == (1 if subscribed else 0)
    assert ('"reading"' in stream.getvalue()) is subscribed


class FlakyPort:
    """A port that cannot be opened the first ``failures`` times, then delivers chunks."""

    def __init__(self, failures: int, chunks: list[bytes]) -> None:
        self.failures = failures
        self.opens = 0
        self.chunks = chunks

    def __call__(self) -> ScriptedTransport:
        self.opens += 1
        return ScriptedTransport(self.chunks if self.opens > self.failures else [],
                                 fail=self.opens <= self.failures)  # fmt: skip


async def test_a_port_that_keeps_failing_is_retried_and_reads_once_it_works() -> None:
    # more failures than the supervisor's restart limit: the input retries by itself
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    key = bytes.fromhex(noe["key_hex"])
    port = FlakyPort(8, [frames_of(noe)])
    codec = DeviceCodec(make_decoder=lambda fmt: MeterDecoder(fmt, key),  # type: ignore[arg-type]
                        default_format="mbus", timezone=VIENNA)  # fmt: skip
    setup = InputSetup(
        input=StreamInput("noe", port, lambda: MeterDecoder("mbus", key), "serial"),
        pipeline=Pipeline({"noe": codec}, Validator(), DeviceDirectory),
        health={"noe": (30.0, 120.0)},
        reconnect=RestartPolicy(backoff_initial=0.01, backoff_max=0.05, jitter=0),
    )
    async with ActorSystem() as system:
        await system.spawn(ActorSpec("meter:noe", lambda: InputActor(setup)))
        status = await until_status(system, "noe", lambda s: s.readings == 1)
    assert port.opens == 9
    assert status.transport_failures == 8
    assert status.state is MeterState.ONLINE


class BrokenValidator(Validator):
    def check(self, reading: Reading) -> Reading:  # noqa: ARG002 (it never gets that far)
        raise RuntimeError("a bug in a stage")


async def test_a_pipeline_bug_is_counted_and_the_input_keeps_reading() -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    key = bytes.fromhex(noe["key_hex"])
    journal = ListJournal()
    transport = ScriptedTransport([frames_of(noe)] * 3)
    codec = DeviceCodec(make_decoder=lambda fmt: MeterDecoder(fmt, key),  # type: ignore[arg-type]
                        default_format="mbus", timezone=VIENNA)  # fmt: skip
    setup = InputSetup(
        input=StreamInput("noe", lambda: transport, lambda: MeterDecoder("mbus", key), "serial"),
        pipeline=Pipeline({"noe": codec}, BrokenValidator(), DeviceDirectory),
        health={"noe": (30.0, 120.0)},
        journal=journal,
    )
    async with ActorSystem() as system:
        await system.spawn(ActorSpec("meter:noe", lambda: InputActor(setup)))
        status = await until_status(system, "noe", lambda s: s.received == 3)
        restarts = next(s.restarts for s in system.status() if s.name == "meter:noe")
    # the first telegram hits the bug; the two repeats are duplicates before the stage
    assert status.errors == {"internal": 1}
    assert "a bug in a stage" in (status.last_error or "")
    assert len(journal.frames) == 3  # journaled all the same: a fixed release replays them
    assert restarts == 0


class SharedConnection:
    """An input serving several devices over one link (as one MQTT client would).

    It delivers frames of three devices, one of them unknown to the site, then breaks
    once and delivers again after the reconnect.
    """

    def __init__(self, frames: list[RawFrame]) -> None:
        self.frames = frames
        self.runs = 0

    @property
    def name(self) -> str:
        return "shared:test"

    @property
    def devices(self) -> tuple[str, ...]:
        return ("noe", "tinetz")

    async def run(self, sink: Any) -> None:
        self.runs += 1
        sink.link_up()
        if self.runs == 1:
            for frame in self.frames:
                await sink.deliver(frame)
            sink.link_down("broker went away", "tinetz")
            raise TransportError("broker", "connection lost")
        await anyio.sleep_forever()


async def test_one_input_can_serve_many_devices() -> None:
    from datetime import UTC, datetime

    noe, tinetz = vector("mbus_netznoe_doc_kaifa_ma309m"), vector("mbus_tinetz_doc_kaifa_ma309m")
    framer = {"noe": MeterDecoder("mbus"), "tinetz": MeterDecoder("mbus")}
    now = datetime.now(UTC)

    def frames(meter_id: str, v: dict[str, Any]) -> list[RawFrame]:
        payloads = [p for p in framer[meter_id].frame(frames_of(v)) if isinstance(p, bytes)]
        return [RawFrame(meter_id=meter_id, transport="shared", received_at=now, payload=p,
                         format="mbus") for p in payloads]  # fmt: skip

    stranger = RawFrame(meter_id="stranger", transport="shared", received_at=now,
                        payload=b"x", format="mbus")  # fmt: skip
    source = SharedConnection([*frames("noe", noe), stranger, *frames("tinetz", tinetz)])

    def codec(key_hex: str) -> DeviceCodec:
        key = bytes.fromhex(key_hex)
        return DeviceCodec(make_decoder=lambda fmt: MeterDecoder(fmt, key),  # type: ignore[arg-type]
                           default_format="mbus", timezone=VIENNA)  # fmt: skip

    codecs = {"noe": codec(noe["key_hex"]), "tinetz": codec(tinetz["key_hex"])}
    journal = ListJournal()
    setup = InputSetup(input=source, pipeline=Pipeline(codecs, Validator(), DeviceDirectory),
                       health={"noe": (30.0, 120.0), "tinetz": (30.0, 120.0)}, journal=journal,
                       reconnect=RestartPolicy(backoff_initial=0.01, jitter=0))  # fmt: skip
    readings: Mailbox[object] = Mailbox("readings", 100, MailboxPolicy.BLOCK)
    async with ActorSystem() as system:
        READINGS.subscribe(system.bus, readings)
        await system.spawn(ActorSpec("input:shared", lambda: InputActor(setup)))
        ref = system.lookup("input:shared")
        with anyio.fail_after(5):
            while source.runs < 2:  # noqa: ASYNC110 (the input's own progress)
                await anyio.sleep(0.01)
        noe_status = await ask(ref, lambda reply: StatusQuery(reply, "noe"))
        tinetz_status = await ask(ref, lambda reply: StatusQuery(reply, "tinetz"))
    got = sorted(r.meter_id for r in readings.take_nowait(10) if isinstance(r, Reading))
    assert got == ["noe", "tinetz"]
    assert [f.meter_id for f in journal.frames] == ["noe", "tinetz"]  # not the stranger
    assert noe_status.readings == tinetz_status.readings == 1
    # the link went down for both: the input's one failure is every device's
    assert tinetz_status.transport_failures == 2  # its own report, then the input's
    assert noe_status.transport_failures == 1
    assert noe_status.state is tinetz_status.state is MeterState.STALE  # up again, no data
