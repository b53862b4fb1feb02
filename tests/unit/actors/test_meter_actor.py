"""The meter actor with an in-memory transport (a fake of our own Transport port)."""

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
    MeterActor,
    MeterSetup,
    MeterState,
    MeterStatus,
    StatusQuery,
    decoded_topic,
)
from meterhub.adapters.codecs import MeterDecoder
from meterhub.adapters.transports import TransportError
from meterhub.model import RawFrame, Reading
from meterhub.platform import ActorSpec, ActorSystem, Mailbox, MailboxPolicy, ask, configure_logging

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


def setup_for(meter_id: str, chunks: list[bytes], key: bytes | None, **kw: Any) -> MeterSetup:
    transport = ScriptedTransport(chunks, fail=kw.pop("fail", False))
    return MeterSetup(meter_id=meter_id, open_transport=lambda: transport,
                      make_decoder=lambda: MeterDecoder("mbus", key), timezone=VIENNA, **kw)  # fmt: skip


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
            system.bus.subscribe("decoded/#", events)
            await system.spawn(ActorSpec("meter:bad", lambda: MeterActor(
                setup_for("bad", [frames_of(noe)] * 3, wrong))))  # fmt: skip
            await system.spawn(ActorSpec("meter:good", lambda: MeterActor(
                setup_for("good", [frames_of(tinetz)], bytes.fromhex(tinetz["key_hex"])))))  # fmt: skip
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


async def test_raw_frames_go_out_before_decoding_and_duplicates_are_dropped() -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    raw: Mailbox[object] = Mailbox("raw", 100, MailboxPolicy.BLOCK)
    readings: Mailbox[object] = Mailbox("readings", 100, MailboxPolicy.BLOCK)
    async with ActorSystem() as system:
        system.bus.subscribe("raw/noe", raw)
        system.bus.subscribe(decoded_topic("noe"), readings)
        await system.spawn(ActorSpec("meter:noe", lambda: MeterActor(
            setup_for("noe", [frames_of(noe)] * 2, bytes.fromhex(noe["key_hex"])))))  # fmt: skip
        status = await until_status(system, "noe", lambda s: s.duplicates == 1)
    assert status.readings == 1
    frames = raw.take_nowait(10)
    assert len(frames) == 2  # both raw frames reach the journal, even the duplicate
    assert all(isinstance(f, RawFrame) and f.meter_id == "noe" for f in frames)
    (reading,) = readings.take_nowait(10)
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
        await system.spawn(ActorSpec("meter:noe", lambda: MeterActor(
            setup_for("noe", chunks, bytes.fromhex(noe["key_hex"])))))  # fmt: skip
        status = await until_status(system, "noe", lambda s: s.readings == 1)
        restarts = next(s.restarts for s in system.status() if s.name == "meter:noe")
    assert status.errors.get("checksum", 0) >= 1
    assert status.state is MeterState.ONLINE  # the good telegram after the bad one decoded
    assert restarts == 0


async def test_a_port_that_cannot_open_makes_the_meter_offline_and_is_retried() -> None:
    from meterhub.platform import RestartPolicy

    async with ActorSystem() as system:
        await system.spawn(ActorSpec("meter:gone", lambda: MeterActor(setup_for(
            "gone", [], None, fail=True,
            reconnect=RestartPolicy(backoff_initial=0.01, backoff_max=0.02, jitter=0)))))  # fmt: skip
        status = await until_status(system, "gone", lambda s: s.transport_failures >= 3)
        assert system.readiness().ready
    assert status.state is MeterState.OFFLINE
    assert status.last_error is None


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
            delivered = await system.bus.publish("readings/m1", reading)
            await anyio.sleep(0.05)
    finally:
        logging.getLogger().handlers.clear()
    assert delivered == (1 if subscribed else 0)
    assert ('"reading"' in stream.getvalue()) is subscribed
