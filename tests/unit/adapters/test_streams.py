"""Framers find telegrams in streams cut anywhere, with noise and torn frames."""

from __future__ import annotations

import random
from typing import Any

import pytest

from meterhub.adapters.codecs import (
    DecodeError,
    DsmrFramer,
    HdlcFramer,
    MbusFramer,
    MeterDecoder,
    Telegram,
)
from tests.unit.adapters._vectors import key, load, stream

MBUS = [v for v in load("mbus_dlms.json") if v["frames_hex"]]
HDLC = load("hdlc_dlms.json")
DSMR_PLAIN = [v for v in load("dsmr_p1.json") if "encrypted" not in v]
NOE = MBUS[0]
NOISE = bytes.fromhex("00FF6810E5166868FA") + b"noise\r\n"


def _feed(decoder: MeterDecoder, data: bytes, sizes: list[int]) -> list[Telegram | DecodeError]:
    out: list[Telegram | DecodeError] = []
    pos = 0
    for size in sizes:
        out += decoder.feed(data[pos : pos + size])
        pos += size
    out += decoder.feed(data[pos:])
    return out + decoder.flush()


def _telegrams(results: list[Telegram | DecodeError]) -> list[Telegram]:
    return [r for r in results if isinstance(r, Telegram)]


def _chunks(data: bytes, seed: int) -> list[int]:
    rng = random.Random(seed)  # noqa: S311 - chunk sizes, not secrets
    sizes = []
    left = len(data)
    while left > 0:
        size = rng.randint(1, 64)
        sizes.append(size)
        left -= size
    return sizes


@pytest.mark.parametrize(("fmt", "vectors"), [("mbus", MBUS), ("hdlc", HDLC)], ids=["mbus", "hdlc"])
def test_byte_by_byte_equals_whole(fmt: str, vectors: list[dict[str, Any]]) -> None:
    for vector in vectors:
        data = stream(vector)
        whole = MeterDecoder(fmt, key(vector), key(vector, "auth_key_hex"))  # type: ignore[arg-type]
        expected = _telegrams(_feed(whole, data, []))
        bytewise = MeterDecoder(fmt, key(vector), key(vector, "auth_key_hex"))  # type: ignore[arg-type]
        got = _feed(bytewise, data, [1] * len(data))
        assert got == expected, vector["id"]
        assert len(expected) == 1


@pytest.mark.parametrize("seed", range(5))
def test_random_chunks_with_noise_between_frames(seed: int) -> None:
    data = NOISE + b"".join(stream(v) + NOISE for v in MBUS)
    results = _feed(MeterDecoder("mbus", None), data, _chunks(data, seed))
    # Different meters, different keys: feed each with its own decoder instead.
    assert not _telegrams(results)
    for vector in MBUS:
        data = NOISE + stream(vector) + NOISE + stream(vector) + NOISE
        decoder = MeterDecoder("mbus", key(vector))
        telegrams = _telegrams(_feed(decoder, data, _chunks(data, seed)))
        assert len(telegrams) == 2, vector["id"]
        assert telegrams[0] == telegrams[1]


def test_torn_mbus_frame_is_reported_and_the_next_frame_survives() -> None:
    data = stream(NOE)
    torn = data[:120]  # first segment cut in the middle
    decoder = MeterDecoder("mbus", key(NOE))
    results = _feed(decoder, torn + data, _chunks(torn + data, 1))
    errors = [r for r in results if isinstance(r, DecodeError)]
    assert errors
    assert {e.reason for e in errors} <= {"checksum", "malformed", "truncated"}
    telegrams = _telegrams(results)
    assert len(telegrams) == 1
    assert telegrams[0].values["energy_import_wh"] == 12937


def test_torn_hdlc_frame_is_reported_and_the_next_frame_survives() -> None:
    vector = HDLC[0]
    data = stream(vector)
    decoder = MeterDecoder("hdlc")
    results = _feed(decoder, data[:60] + data, [])
    assert any(isinstance(r, DecodeError) for r in results)
    assert len(_telegrams(results)) == 1


def test_mbus_framer_reports_checksum_with_stream_offset() -> None:
    frames = [bytes.fromhex(f) for f in NOE["frames_hex"]]
    broken = bytearray(frames[0])
    broken[-2] ^= 0x01
    framer = MbusFramer()
    out = framer.feed(b"\x00\x01\x02" + bytes(broken))
    # The three bytes before the frame are reported too (they were dropped silently).
    assert len(out) == 2
    noise = out[0]
    assert isinstance(noise, DecodeError)
    assert (noise.reason, noise.offset, noise.data) == ("unsupported", 0, b"\x00\x01\x02")
    error = out[1]
    assert isinstance(error, DecodeError)
    assert error.reason == "checksum"
    assert error.offset == 3
    assert "byte 3" in error.detail


def test_mbus_framer_rejects_non_dlms_ci() -> None:
    body = bytes([0x08, 0x05, 0x72]) + bytes(12)
    frame = bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])
    out = MbusFramer().feed(frame)
    assert len(out) == 1
    assert isinstance(out[0], DecodeError)
    assert out[0].reason == "unsupported"


def test_mbus_framer_reassembles_in_order_only() -> None:
    frames = [bytes.fromhex(f) for f in NOE["frames_hex"]]
    framer = MbusFramer()
    out = framer.feed(frames[1] + frames[0] + frames[1])
    assert isinstance(out[0], DecodeError)
    assert out[0].reason == "truncated"
    assert isinstance(out[1], bytes)
    assert out[1].startswith(b"\xdb\x08KFM")


def test_hdlc_framer_shares_flags_between_frames() -> None:
    frames = [bytes.fromhex(f) for f in HDLC[2]["frames_hex"]]
    # Back-to-back frames may share one flag between them (IEC 62056-46 §6.3).
    joined = frames[0] + b"".join(f[1:] for f in frames[1:])
    out = HdlcFramer().feed(joined)
    assert len(out) == 1
    assert isinstance(out[0], bytes)
    assert out[0].startswith(b"\x0f")


def test_dsmr_framer_finds_telegrams_among_noise() -> None:
    data = b"".join(b"garbage/ \x00\xdb" + v["telegram"].encode() for v in DSMR_PLAIN)
    framer = DsmrFramer(ciphered=False)
    out = [item for chunk in _split(data, 7) for item in framer.feed(chunk)] + framer.flush()
    telegrams = [item for item in out if isinstance(item, bytes)]
    assert telegrams == [v["telegram"].encode() for v in DSMR_PLAIN]


def test_dsmr_truncated_telegram_followed_by_a_complete_one() -> None:
    text = DSMR_PLAIN[2]["telegram"].encode()
    decoder = MeterDecoder("dsmr")
    results = _feed(decoder, text[:300] + text, [])
    assert [r.reason for r in results if isinstance(r, DecodeError)] == ["truncated"]
    assert len(_telegrams(results)) == 1


def test_auto_detection_buffers_until_a_frame_is_seen() -> None:
    decoder = MeterDecoder("auto", key(NOE))
    data = NOISE + stream(NOE)
    results = _feed(decoder, data, [1] * len(data))
    assert decoder.format == "mbus"
    assert len(_telegrams(results)) == 1


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]
