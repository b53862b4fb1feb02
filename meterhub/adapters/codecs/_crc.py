"""The two CRC-16 variants the meter formats use."""

from __future__ import annotations

import binascii

# Bit-reversal table: CRC-16/X-25 is the reflected form of CRC-CCITT, so running
# the C-speed non-reflected ``binascii.crc_hqx`` over bit-reversed bytes and then
# reversing the result gives it without a per-byte Python loop.
_REVERSE_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reverse16(value: int) -> int:
    return (_REVERSE_BITS[value & 0xFF] << 8) | _REVERSE_BITS[value >> 8]


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """Return CRC-16/X-25 (HDLC HCS/FCS, IEC 62056-46 §8.4.1.3 / ISO 13239)."""
    return _reverse16(binascii.crc_hqx(bytes(data).translate(_REVERSE_BITS), 0xFFFF)) ^ 0xFFFF


def _arc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_ARC_TABLE = _arc_table()


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """Return CRC-16/ARC (DSMR P1 telegram CRC, DSMR 5.0.2 §6.2).

    DSMR telegrams arrive once a second, so a table-driven loop is fast enough here.
    """
    crc = 0
    table = _ARC_TABLE
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
