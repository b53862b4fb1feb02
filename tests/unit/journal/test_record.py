"""The sans-IO record framing: probing and resynchronising over raw bytes."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from meterhub.adapters.journal._record import (
    HEADER,
    HEADER_SIZE,
    decode_frame,
    encode_frame,
    frame_record,
    probe,
    resync,
)
from tests.unit.journal._frames import frame


def test_layout_is_length_crc_seq_payload() -> None:
    payload = encode_frame(frame(1))
    record = frame_record(7, payload)
    length, crc, seq = HEADER.unpack_from(record)
    assert (length, seq, HEADER_SIZE) == (len(payload), 7, 16)
    assert crc == zlib.crc32(record[8:])  # seq bytes and payload
    assert record[HEADER_SIZE:] == payload
    assert decode_frame(payload) == frame(1)
    assert probe(record, 0, len(record)) == (7, len(record))


def test_probe_names_what_is_wrong() -> None:
    record = frame_record(3, encode_frame(frame(3)))
    assert probe(record, 0, 10) == "short header"
    assert probe(record, 0, len(record) - 1) == "short payload"
    flipped = bytearray(record)
    flipped[-1] ^= 1
    assert probe(bytes(flipped), 0, len(record)) == "bad checksum"
    renumbered = bytearray(record)
    renumbered[8] ^= 1  # another seq: the checksum covers the position too
    assert probe(bytes(renumbered), 0, len(record)) == "bad checksum"
    assert probe(bytes(16), 0, 16) == "implausible length 0"


@given(junk=st.binary(max_size=200), seq=st.integers(1, 2**40))
def test_resync_finds_the_next_record_after_any_junk(junk: bytes, seq: int) -> None:
    record = frame_record(seq, encode_frame(frame(seq % 1000)))
    data = junk + record
    assert resync(data, 0, len(data), seq - 1) == len(junk)
    assert resync(data, 0, len(data), seq) is None  # only later seqs count


def test_resync_skips_long_zero_runs() -> None:
    record = frame_record(5, encode_frame(frame(5)))
    data = bytes(1_000_000) + record
    assert resync(data, 0, len(data), 4) == 1_000_000
