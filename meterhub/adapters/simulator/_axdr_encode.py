"""A-XDR encoding of the few COSEM data types a Kaifa push uses (IEC 62056-6-2 / DLMS Green Book).

Each value is a type tag followed by its content; integers are big-endian and of
fixed size, octet strings and structures carry an A-XDR length.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

# Data type tags, IEC 62056-6-2 §4.1.5 (Data ::= CHOICE).
STRUCTURE = 0x02
DOUBLE_LONG_UNSIGNED = 0x06
OCTET_STRING = 0x09
INTEGER = 0x0F
LONG_UNSIGNED = 0x12
ENUM = 0x16

_SHORT_FORM_MAX = 0x80
_CLOCK_STATUS_DST = 0x80
"""COSEM clock status bit 7: daylight saving time active (IEC 62056-6-2 §4.1.6.1)."""
_HUNDREDTHS_US = 10_000


def length(n: int) -> bytes:
    """Encode a length: one byte below 128, else 0x81/0x82.. and big-endian bytes (BER)."""
    if n < 0:
        raise ValueError(f"negative length {n}")
    if n < _SHORT_FORM_MAX:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def octet_string(value: bytes) -> bytes:
    """Encode an octet-string (tag 0x09)."""
    return bytes((OCTET_STRING,)) + length(len(value)) + value


def structure(count: int) -> bytes:
    """Encode the header of a structure of ``count`` elements (tag 0x02)."""
    return bytes((STRUCTURE,)) + length(count)


def double_long_unsigned(value: int) -> bytes:
    """Encode an unsigned 32-bit integer (tag 0x06)."""
    return bytes((DOUBLE_LONG_UNSIGNED,)) + value.to_bytes(4, "big")


def long_unsigned(value: int) -> bytes:
    """Encode an unsigned 16-bit integer (tag 0x12)."""
    return bytes((LONG_UNSIGNED,)) + value.to_bytes(2, "big")


def integer(value: int) -> bytes:
    """Encode a signed 8-bit integer (tag 0x0F)."""
    return bytes((INTEGER,)) + value.to_bytes(1, "big", signed=True)


def enum(value: int) -> bytes:
    """Encode an enum (tag 0x16)."""
    return bytes((ENUM,)) + value.to_bytes(1, "big")


def scaler_unit(scaler: int, unit: int) -> bytes:
    """Encode a register's scaler_unit: {integer, enum} (IEC 62056-6-2 §4.3.2)."""
    return structure(2) + integer(scaler) + enum(unit)


def cosem_datetime(local: datetime) -> bytes:
    """Encode a timezone-aware local time as the 12-byte COSEM date-time.

    Layout (IEC 62056-6-2 §4.1.6.1): year(2) month day weekday(1 = Monday) hour
    minute second hundredths deviation(int16, minutes) clock-status. The deviation
    is local time minus UTC with the sign flipped (local = UTC - deviation), so
    Austrian meters send -60 in winter and -120 with status 0x80 in summer.

    Raises:
        ValueError: if ``local`` is naive.
    """
    offset = local.utcoffset()
    if offset is None:
        raise ValueError("COSEM date-time needs a timezone-aware local time")
    deviation = -int(offset.total_seconds() // 60)
    dst = local.dst()
    status = _CLOCK_STATUS_DST if dst else 0x00
    return (
        local.year.to_bytes(2, "big")
        + bytes(
            (
                local.month,
                local.day,
                local.isoweekday(),
                local.hour,
                local.minute,
                local.second,
                local.microsecond // _HUNDREDTHS_US,
            )
        )
        + deviation.to_bytes(2, "big", signed=True)
        + bytes((status,))
    )
