"""Meters nobody profiled are loud, and bytes a framer skips reach the journal."""

from __future__ import annotations

import io
import logging
import struct
from datetime import UTC, datetime

import anyio
import msgspec

from meterhub.actors import DeviceCodec, DeviceDirectory, Pipeline, Validator
from meterhub.adapters.codecs import DecodeError, MeterDecoder, decode_apdu
from meterhub.model import MeterState, RawFrame, Reading, Rejection
from meterhub.platform import ActorSystem, Mailbox, MailboxPolicy, configure_logging
from meterhub.topics import READINGS
from tests.unit.actors.test_input_actor import (
    VIENNA,
    ListJournal,
    frames_of,
    meter,
    until_status,
    vector,
)


def positional_list(energy: int, power: int) -> bytes:
    """A push list without OBIS codes that no built-in profile describes."""
    body = (
        b"\x02\x05"
         b"\x0a\x0890000001"  # visible-string: the meter number
         b"\x06" + struct.pack(">I", energy)  # double-long-unsigned
        + b"\x06" + struct.pack(">I", 0)
        + b"\x12" + struct.pack(">H", power)  # long-unsigned
        + b"\x12" + struct.pack(">H", 2301)
    )  # fmt: skip
    return b"\x0f" + struct.pack(">I", energy) + b"\x00" + body


def mbus_frames(apdu: bytes) -> bytes:
    """One M-Bus long frame (CI 0x10: the only and last segment) around an APDU."""
    inner = b"\x53\xff\x10\x01\x67" + apdu
    return b"\x68" + bytes((len(inner), len(inner))) + b"\x68" + inner + bytes(
        (sum(inner) & 0xFF, 0x16)
    )


def test_a_list_no_profile_maps_is_unmapped_on_both_decode_paths() -> None:
    telegram = decode_apdu(positional_list(1000, 50))
    assert telegram.unmapped
    # the numbers are not guessed at: they stay in the journal until a profile names them
    assert not [v for v in telegram.values.values() if isinstance(v, int | float)]
    decoder = MeterDecoder("apdu")
    # the layout cache learns the shape from the first; the later ones come from it
    cached = [decoder.decode_payload(positional_list(1000 + i, 50 + i)) for i in range(4)]
    assert decoder.statistics()["shape_hits"] >= 1
    assert all(t.unmapped for t in cached)


def test_a_profiled_list_is_not_unmapped() -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    decoder = MeterDecoder("mbus", bytes.fromhex(noe["key_hex"]))
    (telegram,) = decoder.feed(frames_of(noe))
    assert not isinstance(telegram, DecodeError)
    assert not telegram.unmapped


async def test_an_unmapped_meter_says_so_once_and_what_to_run() -> None:
    chunks = [mbus_frames(positional_list(1000 + i, 50)) for i in range(3)]
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    readings: Mailbox[object] = Mailbox("readings", 100, MailboxPolicy.BLOCK)
    try:
        async with ActorSystem() as system:
            READINGS.subscribe(system.bus, readings)
            await system.spawn(meter("odd", chunks, None))
            status = await until_status(system, "odd", lambda s: s.readings == 3)
    finally:
        logging.getLogger().handlers.clear()
    assert status.state is MeterState.UNMAPPED
    got = readings.take_nowait(10)
    assert len(got) == 3
    assert all(isinstance(r, Reading) and r.unmapped for r in got)
    lines = [msgspec.json.decode(line) for line in stream.getvalue().splitlines()]
    told = [r for r in lines if "unmapped" in r["msg"] and r.get("meter") == "odd"]
    assert len(told) == 1
    assert told[0]["level"] == "WARNING"
    assert "meterhub profile draft" in told[0]["msg"]


async def test_a_mapped_telegram_after_unmapped_ones_brings_the_meter_online() -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    chunks = [mbus_frames(positional_list(1000, 50)), frames_of(noe)]
    async with ActorSystem() as system:
        await system.spawn(meter("noe", chunks, bytes.fromhex(noe["key_hex"])))
        status = await until_status(system, "noe", lambda s: s.readings == 2)
    assert status.state is MeterState.ONLINE


AT = datetime(2026, 12, 4, 10, tzinfo=UTC)


def _pipeline(meter_id: str, key: bytes | None) -> Pipeline:
    codec = DeviceCodec(make_decoder=lambda fmt: MeterDecoder(fmt, key),  # type: ignore[arg-type]
                        default_format="mbus", timezone=VIENNA)  # fmt: skip
    return Pipeline({meter_id: codec}, Validator(), DeviceDirectory)


def test_a_rejected_record_is_framed_again_so_a_fixed_framer_gets_its_chance() -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    pipeline = _pipeline("noe", bytes.fromhex(noe["key_hex"]))
    # bytes an older framer rejected, although they hold a complete telegram
    frame = RawFrame(meter_id="noe", transport="serial", received_at=AT,
        payload=b"\x00\x01" + frames_of(noe), format="mbus",
        rejected=Rejection(reason="unsupported", detail="no frame found", offset=7))  # fmt: skip
    outcome = pipeline.run(frame, 12)
    assert isinstance(outcome, Reading)
    assert outcome.journal_seq == 12
    assert outcome.values["energy_import_wh"] == 12937


def test_a_rejected_record_of_noise_stays_rejected_with_a_reason() -> None:
    pipeline = _pipeline("noe", None)
    frame = RawFrame(meter_id="noe", transport="serial", received_at=AT,
                     payload=b"\x00\x01\x02", format="mbus",
                     rejected=Rejection(reason="weird_future_reason", detail="d", offset=3))  # fmt: skip
    outcome = pipeline.run(frame, 1)
    assert isinstance(outcome, DecodeError)
    assert outcome.reason in {"unsupported", "malformed", "truncated"}


async def test_skipped_bytes_are_journaled_as_rejected_records_in_stream_order() -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    good = frames_of(noe)
    noise = b"\x00noise\xff"
    journal = ListJournal()
    async with ActorSystem() as system:
        await system.spawn(meter("noe", [noise, good], bytes.fromhex(noe["key_hex"]),
                                 journal=journal))  # fmt: skip
        status = await until_status(system, "noe", lambda s: s.readings == 1)
        with anyio.fail_after(5):
            while len(journal.frames) < 2:  # noqa: ASYNC110 (polling a plain list)
                await anyio.sleep(0.01)
    rejected = [f for f in journal.frames if f.rejected is not None]
    assert b"".join(f.payload for f in rejected) == noise
    assert rejected[0].rejected is not None
    assert rejected[0].rejected.offset == 0
    assert rejected[0].rejected.reason == "unsupported"
    assert journal.frames[-1].rejected is None
    assert status.errors.get("unsupported") == 1
