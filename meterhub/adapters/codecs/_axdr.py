"""A-XDR decoding of DLMS ``Data`` values and the data-notification APDU.

Type tags follow IEC 62056-6-2 §4.1.5 (the ``Data`` CHOICE); the length and count
encoding is the A-XDR/BER short/long form of IEC 62056-5-3 / ISO 8825-1 §8.1.3.
Decoded values are plain Python objects so the COSEM walker stays simple and fast:
``None``, ``bool``, ``int``, ``float``, ``str`` (visible/UTF-8 strings, bit strings),
``bytes`` (octet strings, date-time) and ``list`` (array and structure).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from meterhub.adapters.codecs._errors import DecodeError

AxdrValue = None | bool | int | float | str | bytes | list["AxdrValue"]

MAX_DEPTH = 32
_U16 = struct.Struct(">H")
_I16 = struct.Struct(">h")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")

# Fixed-size numeric types: tag -> decoder (IEC 62056-6-2 §4.1.5 Table 2).
_FIXED: dict[int, struct.Struct] = {
    0x05: _I32,  # double-long
    0x06: _U32,  # double-long-unsigned
    0x10: _I16,  # long
    0x12: _U16,  # long-unsigned
    0x14: _I64,  # long64
    0x15: _U64,  # long64-unsigned
    0x17: _F32,  # float32
    0x18: _F64,  # float64
}
# Fixed-size types kept as raw bytes: date-time, date, time.
FIXED_TYPES = _FIXED
"""Tag -> struct for the fixed-size numeric A-XDR types."""
_RAW_SIZES: dict[int, int] = {0x19: 12, 0x1A: 5, 0x1B: 4}
_COMPACT_ARRAY = 0x13
_ARRAY = 0x01
_STRUCTURE = 0x02
_BOOLEAN = 0x03
_BIT_STRING = 0x04
_OCTET_STRING = 0x09
_VISIBLE_STRING = 0x0A
_UTF8_STRING = 0x0C
_INTEGER = 0x0F
_ENUM = 0x16
_LONG_FORM = 0x80
_MAX_LENGTH_BYTES = 4
_INT8_MAX = 127
_DATE_TIME_LEN = 0x0C
DATA_NOTIFICATION = 0x0F


def malformed(detail: str, offset: int) -> DecodeError:
    """Build a ``malformed`` error at ``offset``."""
    return DecodeError("malformed", detail, offset)


def read_length(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a BER/A-XDR length at ``pos``; return ``(length, next_pos)``.

    Raises:
        DecodeError: ``malformed`` when the length runs past the buffer.
    """
    if pos >= len(buf):
        raise malformed("length field missing", pos)
    first = buf[pos]
    if first < _LONG_FORM:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or size > _MAX_LENGTH_BYTES or pos + 1 + size > len(buf):
        raise malformed(f"bad long-form length 0x{first:02X}", pos)
    return int.from_bytes(buf[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


def _take(buf: bytes, pos: int, size: int, what: str) -> int:
    end = pos + size
    if end > len(buf):
        raise malformed(f"{what} needs {size} bytes, {len(buf) - pos} left", pos)
    return end


def scaler_unit_at(buf: bytes, pos: int) -> bool:
    """Tell whether ``pos`` starts ``02 02 0F <int8> 16 <enum>``, a COSEM {scaler, unit}."""
    return buf[pos + 1 : pos + 3] == b"\x02\x0f" and pos + 5 < len(buf) and buf[pos + 4] == _ENUM


def _parse_sequence(buf: bytes, pos: int, depth: int, tag: int) -> tuple[AxdrValue, int]:
    count, pos = read_length(buf, pos)
    size = len(buf)
    if count > size - pos:
        kind = "array" if tag == _ARRAY else "structure"
        raise malformed(f"{kind} of {count} elements cannot fit", pos)
    items: list[AxdrValue] = []
    append = items.append
    # Fast paths for the types that make up almost every push list; everything
    # else goes through parse_data, which checks the same rules.
    for _ in range(count):
        tag = buf[pos] if pos < size else -1
        fixed = _FIXED.get(tag)
        if fixed is not None and pos + fixed.size < size:
            append(fixed.unpack_from(buf, pos + 1)[0])
            pos += 1 + fixed.size
        elif tag == _OCTET_STRING and pos + 1 < size and buf[pos + 1] < _LONG_FORM:
            end = pos + 2 + buf[pos + 1]
            if end > size:
                raise malformed(f"octet-string needs {end - pos - 2} bytes", pos)
            append(buf[pos + 2 : end])
            pos = end
        elif tag == _STRUCTURE and scaler_unit_at(buf, pos):
            # {scaler int8, unit enum}: IEC 62056-6-2 §4.3.2 (register scaler_unit)
            scaler = buf[pos + 3]
            append([scaler - 256 if scaler > _INT8_MAX else scaler, buf[pos + 5]])
            pos += 6
        else:
            item, pos = parse_data(buf, pos, depth + 1)
            append(item)
    return items, pos


def _parse_string(buf: bytes, pos: int, tag: int) -> tuple[AxdrValue, int]:
    size, start = read_length(buf, pos)
    end = _take(buf, start, size, "string")
    raw = buf[start:end]
    if tag == _OCTET_STRING:
        return raw, end
    if tag == _VISIBLE_STRING:
        return raw.decode("latin-1"), end
    return raw.decode("utf-8", errors="replace"), end


def _parse_bit_string(buf: bytes, pos: int) -> tuple[AxdrValue, int]:
    bits, start = read_length(buf, pos)
    end = _take(buf, start, (bits + 7) // 8, "bit-string")
    text = "".join(f"{byte:08b}" for byte in buf[start:end])
    return text[:bits], end


def _parse_small(buf: bytes, pos: int, tag: int) -> tuple[AxdrValue, int]:
    """Parse the one-byte types and null-data."""
    if tag == 0x00:
        return None, pos
    end = _take(buf, pos, 1, "value")
    byte = buf[pos]
    if tag == _BOOLEAN:
        return byte != 0, end
    if tag == _INTEGER:
        return byte - 256 if byte > _INT8_MAX else byte, end
    return byte, end  # unsigned (0x11), enum (0x16), bcd (0x0D)


_SMALL_TAGS = frozenset((0x00, 0x03, 0x0D, 0x0F, 0x11, 0x16))


def parse_data(buf: bytes, pos: int, depth: int = 0) -> tuple[AxdrValue, int]:
    """Parse one A-XDR ``Data`` element at ``pos``; return ``(value, next_pos)``.

    Raises:
        DecodeError: ``malformed`` (with the offset) for any encoding error.
    """
    if pos >= len(buf):
        raise malformed("data element missing", pos)
    tag = buf[pos]
    pos += 1
    fixed = _FIXED.get(tag)
    if fixed is not None:
        end = _take(buf, pos, fixed.size, "number")
        return fixed.unpack_from(buf, pos)[0], end
    if tag in (_ARRAY, _STRUCTURE):
        if depth >= MAX_DEPTH:
            raise malformed("data nested too deeply", pos - 1)
        return _parse_sequence(buf, pos, depth, tag)
    if tag in (_OCTET_STRING, _VISIBLE_STRING, _UTF8_STRING):
        return _parse_string(buf, pos, tag)
    if tag in _SMALL_TAGS:
        return _parse_small(buf, pos, tag)
    if tag == _BIT_STRING:
        return _parse_bit_string(buf, pos)
    size = _RAW_SIZES.get(tag)
    if size is not None:
        end = _take(buf, pos, size, "date/time")
        return buf[pos:end], end
    if tag == _COMPACT_ARRAY:
        raise DecodeError("unsupported", "compact-array (tag 0x13) is not supported", pos - 1)
    raise malformed(f"unknown data type tag 0x{tag:02X}", pos - 1)


class DataNotification(NamedTuple):
    """A parsed data-notification APDU (IEC 62056-5-3 §9.3, tag 0x0F)."""

    invoke_id: int
    date_time: bytes | None
    body: AxdrValue


class NotificationHeader(NamedTuple):
    """The fields before the body of a data-notification, and where the body starts."""

    invoke_id: int
    date_time: bytes | None
    body_offset: int


def _parse_header_time(apdu: bytes, pos: int) -> tuple[bytes | None, int]:
    # date-time is an OCTET STRING: 0x00 (empty), 0x0C + 12 bytes, or, on some Kaifa
    # meters, a full Data element 0x09 0x0C + 12 bytes.
    if pos >= len(apdu):
        raise malformed("data-notification ends before its date-time", pos)
    first = apdu[pos]
    if first == 0x00:
        return None, pos + 1
    if first == _DATE_TIME_LEN:
        end = _take(apdu, pos + 1, 12, "date-time")
        return apdu[pos + 1 : end], end
    if first == _OCTET_STRING and pos + 1 < len(apdu) and apdu[pos + 1] == _DATE_TIME_LEN:
        end = _take(apdu, pos + 2, 12, "date-time")
        return apdu[pos + 2 : end], end
    raise malformed(f"bad date-time field 0x{first:02X} in data-notification", pos)


def parse_notification_header(apdu: bytes) -> NotificationHeader:
    """Parse long-invoke-id and date-time of a data-notification (IEC 62056-5-3 §9.3).

    Raises:
        DecodeError: ``unsupported`` when it is another APDU type, ``malformed``
            (with the offset) when its header is broken.
    """
    if not apdu or apdu[0] != DATA_NOTIFICATION:
        tag = f"0x{apdu[0]:02X}" if apdu else "nothing"
        raise DecodeError("unsupported", f"expected a data-notification (0x0F), got {tag}")
    end = _take(apdu, 1, 4, "long-invoke-id")
    invoke_id = _U32.unpack_from(apdu, 1)[0]
    date_time, pos = _parse_header_time(apdu, end)
    return NotificationHeader(invoke_id, date_time, pos)


def check_end(apdu: bytes, pos: int) -> None:
    """Reject bytes after the notification body.

    Raises:
        DecodeError: ``malformed`` at the first unexpected byte.
    """
    if pos != len(apdu):
        raise malformed(f"{len(apdu) - pos} unexpected bytes after the notification body", pos)


def peek_body(apdu: bytes, pos: int) -> tuple[int | None, AxdrValue]:
    """Return the element count (``None`` if not a sequence) and first element of a body.

    Raises:
        DecodeError: ``malformed`` when the start of the body is broken.
    """
    if pos < len(apdu) and apdu[pos] in (_ARRAY, _STRUCTURE):
        count, first = read_length(apdu, pos + 1)
        return count, parse_data(apdu, first, 1)[0] if count else None
    return None, parse_data(apdu, pos)[0]


def parse_data_notification(apdu: bytes) -> DataNotification:
    """Parse a plaintext data-notification APDU into its header and body tree.

    Raises:
        DecodeError: ``unsupported`` when it is another APDU type, ``malformed``
            (with the offset) when its encoding is broken.
    """
    header = parse_notification_header(apdu)
    body, pos = parse_data(apdu, header.body_offset)
    check_end(apdu, pos)
    return DataNotification(header.invoke_id, header.date_time, body)
