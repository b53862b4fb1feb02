"""Property tests: no input makes a decoder raise anything but DecodeError."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterhub.adapters.codecs import (
    DecodeError,
    MeterDecoder,
    Telegram,
    decode_apdu,
    decode_dsmr,
    default_registry,
    iter_decode,
)
from tests.unit.adapters._vectors import key, load, stream

VECTORS = load("mbus_dlms.json") + load("hdlc_dlms.json")
FRAMED = [v for v in VECTORS if v["frames_hex"]]
DSMR_PLAIN = [v for v in load("dsmr_p1.json") if "encrypted" not in v]
FORMATS = st.sampled_from(["mbus", "hdlc", "dsmr", "apdu", "auto"])
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(fmt: str, data: bytes, chunk: int, vector: dict[str, Any] | None = None) -> list[Any]:
    decoder = MeterDecoder(
        fmt,  # type: ignore[arg-type]
        key(vector) if vector else None,
        key(vector, "auth_key_hex") if vector else None,
    )
    out: list[Any] = []
    for pos in range(0, len(data), chunk):
        out += decoder.feed(data[pos : pos + chunk])
    out += decoder.flush()
    assert all(isinstance(item, Telegram | DecodeError) for item in out)
    return out


@SETTINGS
@given(data=st.binary(max_size=600), fmt=FORMATS, chunk=st.integers(1, 64))
def test_random_bytes_never_raise(data: bytes, fmt: str, chunk: int) -> None:
    _run(fmt, data, chunk)


@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_apdus_never_raise(data: bytes) -> None:
    for apdu in (data, b"\x0f" + data, b"\xdb\x08" + data, b"\xe0" + data):
        with contextlib.suppress(DecodeError):
            decode_apdu(apdu, key=bytes(16), auth_key=bytes(16))
    with contextlib.suppress(DecodeError):
        decode_dsmr(b"/" + data, registry=default_registry())


@SETTINGS
@given(vector=st.sampled_from(FRAMED), cut=st.integers(0, 10_000), chunk=st.integers(1, 300))
def test_truncated_frames_never_raise(vector: dict[str, Any], cut: int, chunk: int) -> None:
    data = stream(vector)
    fmt = "mbus" if data[0] == 0x68 else "hdlc"
    out = _run(fmt, data[: cut % len(data)], chunk, vector)
    assert not any(isinstance(item, Telegram) for item in out)


@SETTINGS
@given(vector=st.sampled_from(FRAMED), bit=st.integers(0, 100_000), chunk=st.integers(1, 300))
def test_bit_flipped_frames_never_raise(vector: dict[str, Any], bit: int, chunk: int) -> None:
    data = bytearray(stream(vector))
    position = bit % (len(data) * 8)
    data[position // 8] ^= 1 << (position % 8)
    fmt = "mbus" if data[0] == 0x68 else "hdlc"
    _run(fmt, bytes(data), chunk, vector)


@SETTINGS
@given(
    vector=st.sampled_from(FRAMED),
    garbage=st.binary(max_size=300),
    chunk=st.integers(1, 300),
)
def test_valid_frame_after_garbage_is_found(
    vector: dict[str, Any], garbage: bytes, chunk: int
) -> None:
    data = stream(vector)
    fmt = "mbus" if data[0] == 0x68 else "hdlc"
    decoded = iter_decode(data, key=key(vector), auth_key=key(vector, "auth_key_hex"))
    expected = [t for t in decoded if isinstance(t, Telegram)]
    out = _run(fmt, garbage + data, chunk, vector)
    assert [t for t in out if isinstance(t, Telegram)][-1:] == expected


@SETTINGS
@given(
    vector=st.sampled_from(DSMR_PLAIN),
    garbage=st.binary(max_size=200).filter(lambda g: b"!" not in g),
    chunk=st.integers(1, 300),
)
def test_dsmr_after_garbage_is_found(vector: dict[str, Any], garbage: bytes, chunk: int) -> None:
    data = vector["telegram"].encode()
    out = _run("dsmr", garbage + data, chunk)
    telegrams = [t for t in out if isinstance(t, Telegram)]
    assert telegrams
    assert telegrams[-1].values == next(iter_decode(data, fmt="dsmr")).values  # type: ignore[union-attr]
