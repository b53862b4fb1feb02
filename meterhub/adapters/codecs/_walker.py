"""Find COSEM objects in a notification body straight from its A-XDR bytes.

The rule (the same for every push list): inside any array or structure, an octet
string of 6 bytes followed by a value that is not itself an array/structure is an
``(OBIS, value)`` pair, optionally followed by a ``{scaler, unit}`` structure
(IEC 62056-6-2 §4.3.2). This covers the flat Netz NÖ list, the nested
TINETZ/Salzburg/VKW, Aidon and Iskra lists and the bare pairs of Kamstrup and E450.
Everything else is a loose element (date-time, meter number, list id).

Walking the bytes instead of a parsed tree halves the work on the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meterhub.adapters.codecs._axdr import (
    FIXED_TYPES,
    MAX_DEPTH,
    malformed,
    parse_data,
    read_length,
)

if TYPE_CHECKING:
    from meterhub.adapters.codecs._axdr import AxdrValue

Entry = tuple[bytes | None, "AxdrValue", int | None, int | None, int]
"""``(obis, value, scaler, unit_code, offset)``; ``obis`` is ``None`` for loose elements.

``offset`` is where the value's type tag sits, so a layout cache can find it again.
"""

_ARRAY = 0x01
_STRUCTURE = 0x02
_OCTET_STRING = 0x09
_OBIS_LEN = 6
_LONG_FORM = 0x80
_INT8_MAX = 127
_ENUM = 0x16


def _value(buf: bytes, pos: int) -> tuple[AxdrValue, int]:
    """Parse one element, with fast paths for numbers and short octet strings."""
    tag = buf[pos] if pos < len(buf) else -1
    fixed = FIXED_TYPES.get(tag)
    if fixed is not None and pos + fixed.size < len(buf):
        return fixed.unpack_from(buf, pos + 1)[0], pos + 1 + fixed.size
    if tag == _OCTET_STRING and pos + 1 < len(buf) and buf[pos + 1] < _LONG_FORM:
        end = pos + 2 + buf[pos + 1]
        if end <= len(buf):
            return buf[pos + 2 : end], end
    return parse_data(buf, pos, 1)


_PAIR_HEAD = b"\x09\x06"  # octet-string of 6 bytes: an OBIS code
_SCALER_UNIT_HEAD = b"\x02\x02\x0f"  # structure {int8 scaler, enum unit}
_SEQUENCES = (_ARRAY, _STRUCTURE)


def _sequence(buf: bytes, pos: int, depth: int, out: list[Entry]) -> int:
    """Walk the array or structure whose tag is at ``pos``; return its end."""
    if depth >= MAX_DEPTH:
        raise malformed("data nested too deeply", pos)
    inner, start = read_length(buf, pos + 1)
    if inner > len(buf) - start:
        raise malformed(f"sequence of {inner} elements cannot fit", pos)
    return _walk(buf, start, inner, depth + 1, out)[0]


def _walk(buf: bytes, pos: int, count: int, depth: int, out: list[Entry]) -> tuple[int, bool]:
    """Walk ``count`` elements; return the end and whether the last one was loose."""
    index = 0
    loose = False
    size = len(buf)
    append = out.append
    while index < count:
        if (
            buf[pos : pos + 2] == _PAIR_HEAD
            and count - index > 1
            and pos + 8 < size
            and buf[pos + 8] not in _SEQUENCES
        ):
            obis = buf[pos + 2 : pos + 8]
            at = pos + 8
            value, pos = _value(buf, at)
            index += 2
            if (
                index < count
                and buf[pos : pos + 3] == _SCALER_UNIT_HEAD
                and pos + 5 < size
                and buf[pos + 4] == _ENUM
            ):
                # {scaler, unit}: IEC 62056-6-2 §4.3.2 (register attribute 3).
                scaler = buf[pos + 3]
                scaler = scaler - 256 if scaler > _INT8_MAX else scaler
                append((obis, value, scaler, buf[pos + 5], at))
                pos += 6
                index += 1
                loose = False
                continue
            append((obis, value, None, None, at))
            loose = False
        elif pos < size and buf[pos] in _SEQUENCES:
            pos = _sequence(buf, pos, depth, out)
            index += 1
            loose = False
        else:
            at = pos
            value, pos = _value(buf, pos)
            append((None, value, None, None, at))
            index += 1
            loose = True
    return pos, loose


def walk_body(buf: bytes, pos: int) -> tuple[list[Entry], int, int]:
    """Collect the objects of the body that starts at ``pos``.

    Returns:
        The entries in order, the index of the body's trailing loose element (the
        meter number of flat lists such as Netz NÖ's) or -1, and the end offset.

    Raises:
        DecodeError: ``malformed`` (with the offset) when the encoding is broken.
    """
    out: list[Entry] = []
    if pos < len(buf) and buf[pos] in (_ARRAY, _STRUCTURE):
        count, start = read_length(buf, pos + 1)
        if count > len(buf) - start:
            raise malformed(f"body of {count} elements cannot fit", pos)
        end, loose = _walk(buf, start, count, 1, out)
        return out, (len(out) - 1 if loose else -1), end
    value, end = parse_data(buf, pos)
    out.append((None, value, None, None, pos))
    return out, -1, end
