"""Record framing, sans-IO: ``u32 length | u32 crc32 | u64 seq | payload``.

All integers are little-endian. ``length`` counts the payload only; the CRC-32
(zlib's polynomial) covers the seq bytes and the payload, so a record that verifies
also carries its own position. The payload is the msgpack encoding of a ``RawFrame``.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import TYPE_CHECKING

import msgspec

from meterhub.model import RawFrame

if TYPE_CHECKING:
    import mmap

    Buffer = bytes | bytearray | mmap.mmap

HEADER = struct.Struct("<IIQ")
HEADER_SIZE = HEADER.size
SEQ = struct.Struct("<Q")
MAX_PAYLOAD = 16 * 1024 * 1024
"""Larger lengths are treated as damage: no meter frame comes near this size."""

# Built once and reused: building a msgspec encoder per call costs more than encoding.
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(RawFrame)

# A seq stays below 2**48 (44 years at 200,000 appends/s), so the two high bytes of its
# u64 field are zero: a cheap C-speed anchor for finding record starts after damage.
_SEQ_HIGH_ZERO = b"\x00\x00"
_SEQ_HIGH_AT = 14
_NONZERO = re.compile(rb"[^\x00]")

encode_frame = _ENCODER.encode
"""Encode a ``RawFrame`` to its msgpack payload."""


def decode_frame(payload: Buffer) -> RawFrame:
    """Decode a record payload back into the ``RawFrame`` it was made from."""
    return _DECODER.decode(payload)


def frame_record(seq: int, payload: bytes) -> bytes:
    """Return the complete record (header and payload) for ``payload`` at ``seq``."""
    crc = zlib.crc32(payload, zlib.crc32(SEQ.pack(seq)))
    return HEADER.pack(len(payload), crc, seq) + payload


def probe(buf: Buffer, offset: int, size: int) -> tuple[int, int] | str:
    """Check the record starting at ``offset`` within ``buf[:size]``.

    Returns:
        ``(seq, end)`` when the record is whole and its checksum verifies, ``end``
        being the offset just past it; otherwise the reason it is not a record.
    """
    if size - offset < HEADER_SIZE:
        return "short header"
    length, crc, seq = HEADER.unpack_from(buf, offset)
    if length == 0 or length > MAX_PAYLOAD:
        return f"implausible length {length}"
    end = offset + HEADER_SIZE + length
    if end > size:
        return "short payload"
    if zlib.crc32(buf[offset + 8 : end]) != crc:
        return "bad checksum"
    return seq, end


def resync(buf: Buffer, start: int, size: int, after_seq: int) -> int | None:
    """Find the next offset from ``start`` holding a verifying record with seq > ``after_seq``.

    Used to step over damage: candidates come from ``find`` (C speed), and only those
    whose seq field looks plausible are checksummed.
    """
    pos = start
    while pos + HEADER_SIZE <= size:
        hit = buf.find(_SEQ_HIGH_ZERO, pos + _SEQ_HIGH_AT, size)
        if hit < 0:
            return None
        cand = hit - _SEQ_HIGH_AT
        length, _, seq = HEADER.unpack_from(buf, cand)
        if length == 0:
            # a zeroed region: a record's length has a non-zero byte, so the next
            # candidate starts at most 3 bytes before the next non-zero byte
            match = _NONZERO.search(buf, cand, size)
            if match is None:
                return None
            pos = max(cand + 1, match.start() - 3)
            continue
        if seq > after_seq and isinstance(probe(buf, cand, size), tuple):
            return cand
        pos = cand + 1
    return None
