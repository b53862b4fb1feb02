"""EN 13757-2 long frames carrying a segmented DLMS APDU, as the Kaifa MA309M sends them.

Each frame (EN 13757-2 §5): ``68 L L 68 C A CI <data> CS 16``. L counts C to the end of
the data; CS is the byte sum of C..data mod 256. The Austrian customer interfaces use
C = 0x53 (SND_UD), A = 0xFF (broadcast) and put the transport bytes STSAP 0x01 and
DTSAP 0x67 in front of every segment. CI carries the segment sequence number in its low
nibble and sets bit 4 on the last segment (0x00, 0x01, ..., 0x1n).
"""

from __future__ import annotations

START = 0x68
STOP = 0x16
C_SND_UD = 0x53
A_BROADCAST = 0xFF
TRANSPORT = b"\x01\x67"
"""STSAP 0x01, DTSAP 0x67 (DLMS wrapper over M-Bus, as the Kaifa meters send)."""
MAX_L = 0xFA
"""The meter fills frames to L = 250, like the first frame of every recorded telegram."""
_HEADER_LEN = 5
"""C, A, CI and the two transport bytes, counted in L."""
MAX_SEGMENT = MAX_L - _HEADER_LEN
_LAST_SEGMENT = 0x10
_MAX_SEGMENTS = 16


def long_frame(ci: int, segment: bytes) -> bytes:
    """Return one long frame carrying ``segment`` with control information ``ci``.

    Raises:
        ValueError: if the segment does not fit one frame.
    """
    if len(segment) > MAX_SEGMENT:
        raise ValueError(f"segment of {len(segment)} bytes exceeds {MAX_SEGMENT}")
    body = bytes((C_SND_UD, A_BROADCAST, ci)) + TRANSPORT + segment
    size = len(body)
    return bytes((START, size, size, START)) + body + bytes((sum(body) & 0xFF, STOP))


def mbus_frames(apdu: bytes, *, max_segment: int = MAX_SEGMENT) -> list[bytes]:
    """Split an APDU into long frames: CI = sequence number, 0x10 added on the last.

    Raises:
        ValueError: if the APDU is empty or needs more than 16 segments.
    """
    if not apdu:
        raise ValueError("nothing to frame")
    if not 0 < max_segment <= MAX_SEGMENT:
        raise ValueError(f"max_segment must be 1..{MAX_SEGMENT}")
    segments = [apdu[i : i + max_segment] for i in range(0, len(apdu), max_segment)]
    if len(segments) > _MAX_SEGMENTS:
        raise ValueError(f"APDU of {len(apdu)} bytes needs more than 16 segments")
    last = len(segments) - 1
    return [
        long_frame(seq | (_LAST_SEGMENT if seq == last else 0), segment)
        for seq, segment in enumerate(segments)
    ]
