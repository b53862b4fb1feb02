"""DSMR P1 telegrams (DSMR 2.2 to 5.0.2, Belgian e-MUCS, Austrian P1 variants).

Telegram (DSMR 5.0.2 §6.2): ``/XXX5ident CR LF CR LF (data lines) ! CRC CR LF``;
CRC-16/ARC over ``/`` .. ``!`` inclusive, printed as hex (sometimes unpadded); DSMR
2.2/3 send ``!`` alone. Data lines are ``A-B:C.D.E(value[*unit])...`` (IEC 62056-21
§6.3.14 data sets). DSMR 2.2/3 M-Bus values sit on a continuation line after a
``0-n:24.3.0`` header that names their OBIS code and unit.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from meterhub.adapters.codecs._cosem import obis_text, octets_text
from meterhub.adapters.codecs._crc import crc16_arc
from meterhub.adapters.codecs._errors import DecodeError
from meterhub.adapters.codecs._mapping import lookup
from meterhub.adapters.codecs._telegram import CosemObject, Telegram, is_unmapped

if TYPE_CHECKING:
    from meterhub.adapters.codecs._profiles import ObisTable, ProfileRegistry
    from meterhub.adapters.codecs._telegram import Scalar

# IEC 62056-21 §6.3.14 data set "A-B:C.D.E" with an optional "*F" or "&F" (billing
# period); trailing spaces are tolerated, as some meters pad their lines.
_LINE = re.compile(r"(\d+)-(\d+):(\d+)\.(\d+)\.(\d+)(?:[*&](\d+))?((?:\([^()]*\))+)\s*$")
_NEWLINES = re.compile(r"[\r\n]+")
_GROUP = re.compile(r"\(([^()]*)\)")
_OBIS_REF = re.compile(r"\d+-\d+:\d+\.\d+\.\d+$")
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?$")
_STAMP = re.compile(r"(\d{12})([SW]?)$")
_MAX_CRC_DIGITS = 4
_OBIS_MAX = 255
# kilo-units are reported in base units so energy counters are integer Wh.
_CONVERSIONS: dict[str, tuple[str, int]] = {
    "kWh": ("Wh", 1000),
    "kW": ("W", 1000),
    "kvarh": ("varh", 1000),
    "kvar": ("var", 1000),
    "kVAh": ("VAh", 1000),
    "kVA": ("VA", 1000),
}
_INTEGER_UNITS = frozenset(("Wh", "W", "varh", "var", "VAh", "VA"))
_TIMESTAMP_OBIS = bytes((0, 0, 1, 0, 0, 255))
_EQUIPMENT_ID = bytes((0, 0, 96, 1, 1, 255))
_LEGACY_MBUS = (24, 3, 0)  # 0-n:24.3.0 header of DSMR 2.2/3 M-Bus values
_MBUS_UNIT_GROUP = 5
_MBUS_DEVICE = (24, 1)  # 0-n:24.1.0 device type (EN 13757-3 medium code, decimal)
_MBUS_VALUE = (24, 2)  # 0-n:24.2.x: (capture time)(reading*unit)
_MBUS_LEGACY_VALUE = (24, 3)
# Units the standards fix for values that a meter may send without "*unit", keyed by
# OBIS (A, C, D): DSMR 5.0.2 §6.12 (energies F9(3,3) kWh, powers F5(3,3) kW, voltages
# V, currents A, threshold 0-0:17.0.0 kW), Belgian e-MUCS 1.7.1 §6 (1-0:1.4.0 and
# 1-0:1.6.0 demand kW, 1-0:31.4.0 fuse limit A) and the Swedish HAN recommendation
# (Energiföretagen 2019: reactive energy kvarh, reactive power kvar). An explicit unit
# always wins, so the Austrian Steiermark Wh/W/varh lines keep their own units.
_STANDARD_UNITS: dict[tuple[int, int, int], str] = {
    **dict.fromkeys(((1, c, 8) for c in (1, 2, 15, 16)), "kWh"),
    **dict.fromkeys(((1, c, 8) for c in (3, 4, 5, 6, 7, 8)), "kvarh"),
    **dict.fromkeys(((1, c, 7) for c in (1, 2, 21, 22, 41, 42, 61, 62)), "kW"),
    **dict.fromkeys(((1, c, 7) for c in (3, 4, 23, 24, 43, 44, 63, 64)), "kvar"),
    **dict.fromkeys(((1, c, 7) for c in (32, 52, 72)), "V"),
    **dict.fromkeys(((1, c, 7) for c in (31, 51, 71)), "A"),
    (1, 1, 4): "kW",
    (1, 1, 6): "kW",
    (1, 31, 4): "A",
    (0, 17, 0): "kW",
}
# The reading's unit by M-Bus device type (EN 13757-3 table 3), for channels that
# send none: DSMR 5.0.2 §6.12 fixes m3 for gas; water volumes are m3, heat GJ.
_MBUS_DEVICE_UNITS: dict[int, str] = {
    3: "m3",  # gas
    6: "m3",  # warm water
    7: "m3",  # water
    21: "m3",  # hot water
    22: "m3",  # cold water
    4: "GJ",  # heat (outlet)
    12: "GJ",  # heat (inlet)
}


def parse_timestamp(text: str) -> tuple[datetime, bool | None] | None:
    """Parse ``YYMMDDhhmmss[S|W]`` into naive local time and the DST flag."""
    match = _STAMP.match(text)
    if match is None:
        return None
    try:
        stamp = datetime.strptime(match.group(1), "%y%m%d%H%M%S")  # noqa: DTZ007 - local time
    except ValueError:
        return None
    flag = match.group(2)
    return stamp, (flag == "S") if flag else None


def _number(text: str) -> tuple[Scalar, str | None] | None:
    value, _, unit = text.partition("*")
    if not _NUMBER.match(value):
        return None
    factor = 1
    if unit in _CONVERSIONS:
        unit, factor = _CONVERSIONS[unit]
    try:
        number = Decimal(value) * factor
    except InvalidOperation:
        return None
    if unit in _INTEGER_UNITS and number == number.to_integral_value():
        return int(number), unit
    return float(number), unit or None


def _check_crc(data: bytes) -> bytes:
    """Verify the CRC line; return the telegram body up to and including ``!``."""
    bang = data.rfind(b"!")
    if bang < 0:
        raise DecodeError("truncated", "DSMR telegram has no '!' end line")
    printed = data[bang + 1 :].strip()
    if printed:
        if len(printed) > _MAX_CRC_DIGITS or not all(
            chr(c) in "0123456789abcdefABCDEF" for c in printed
        ):
            raise DecodeError("malformed", f"bad DSMR CRC line {printed!r}", bang)
        computed = crc16_arc(data[: bang + 1])
        if computed != int(printed, 16):
            detail = f"DSMR CRC {printed.decode()} != computed {computed:04X}"
            raise DecodeError("checksum", detail, bang)
    return data[: bang + 1]


def _lines(text: str) -> list[str]:
    """Split data lines, joining DSMR 2.2/3 continuation lines that start with '('."""
    lines: list[str] = []
    # CR LF per DSMR 5.0.2 §6.2; LF alone, CR CR LF and mixed endings occur in the field.
    for raw in _NEWLINES.split(text)[1:]:
        line = raw.strip()
        if line.startswith("(") and lines:
            lines[-1] += line
        elif line and line != "!":
            lines.append(line)
    return lines


class _Result:
    __slots__ = ("devices", "dst", "meter_number", "objects", "timestamp", "units", "values")

    def __init__(self) -> None:
        self.values: dict[str, Scalar] = {}
        self.units: dict[str, str] = {}
        self.objects: list[CosemObject] = []
        self.meter_number: str | None = None
        self.timestamp: datetime | None = None
        self.dst: bool | None = None
        self.devices: dict[int, int] = {}  # M-Bus channel -> device type


def _name(table: ObisTable, mbus: dict[str, str], obis: bytes, unit: str | None) -> str:
    definition = lookup(table, obis)
    if definition is not None:
        return definition.name
    if obis[0] == 0 and obis[2] == 24 and obis[3] == 2 and unit in mbus:  # noqa: PLR2004
        return f"mbus_{obis[1]}_{mbus[unit]}"
    return "obis_" + obis_text(obis)


def _byte(text: str) -> bool:
    """Tell whether ``text`` is a decimal 0..255 (``isdigit`` alone also takes "²")."""
    return text.isascii() and text.isdigit() and int(text) <= 255  # noqa: PLR2004


def _resolve(obis: bytes, groups: list[str]) -> tuple[bytes, str, str | None]:
    """Return the OBIS code, the value text and an explicit unit for one line."""
    if tuple(obis[2:5]) == _LEGACY_MBUS and len(groups) > _MBUS_UNIT_GROUP + 1:
        ref = groups[4].replace("-", ".").replace(":", ".").split(".")
        if len(ref) == 5 and all(_byte(p) for p in ref):  # noqa: PLR2004
            return bytes(int(p) for p in ref) + b"\xff", groups[-1], groups[_MBUS_UNIT_GROUP]
    if len(groups) > 1 and _OBIS_REF.match(groups[1]):
        return obis, "".join(f"({g})" for g in groups), None  # a log buffer: keep as text
    return obis, groups[-1], None


def _default_unit(obis: bytes, out: _Result) -> str | None:
    """Return the unit the standard fixes for ``obis`` when the line has none."""
    if obis[0] == 0 and tuple(obis[2:4]) in (_MBUS_VALUE, _MBUS_LEGACY_VALUE):
        return _MBUS_DEVICE_UNITS.get(out.devices.get(obis[1], -1))
    return _STANDARD_UNITS.get((obis[0], obis[2], obis[3]))


def _mbus_line(obis: bytes, groups: list[str], out: _Result) -> None:
    """Keep what an M-Bus channel line says besides its reading (DSMR 5.0.2 §6.12)."""
    if obis[0] != 0 or obis[1] == 0:
        return
    kind = tuple(obis[2:4])
    if kind == _MBUS_DEVICE and _byte(groups[0]):
        out.devices[obis[1]] = int(groups[0])
    elif kind in (_MBUS_VALUE, _MBUS_LEGACY_VALUE) and len(groups) > 1:
        # (YYMMDDhhmmssX)(reading): the time the meter captured the reading, as sent.
        out.values[f"mbus_{obis[1]}_capture_time"] = groups[0]


def _line(line: str, table: ObisTable, mbus: dict[str, str], out: _Result, keep: bool) -> None:
    match = _LINE.match(line)
    if match is None:
        return
    parts = [int(match.group(i)) for i in range(1, 6)]
    parts.append(255 if match.group(6) is None else int(match.group(6)))
    if max(parts) > _OBIS_MAX:
        return
    obis = bytes(parts)
    groups = _GROUP.findall(match.group(7))
    if obis == _TIMESTAMP_OBIS:
        parsed = parse_timestamp(groups[0])
        if parsed is not None:
            out.timestamp, out.dst = parsed
        return
    _mbus_line(obis, groups, out)
    obis, text, unit = _resolve(obis, groups)
    if unit is None and "*" not in text:
        unit = _default_unit(obis, out)
    number = _number(text if unit is None else f"{text}*{unit}")
    value: Scalar = text
    if number is not None and ("*" in text or unit is not None):
        value, unit = number
    else:
        unit = None
    name = _name(table, mbus, obis, unit)
    if name == "meter_number" or obis == _EQUIPMENT_ID:
        value = _equipment_id(text)
        out.meter_number = value
    out.values[name] = value
    if unit is not None:
        out.units[name] = unit
    if keep:
        out.objects.append(CosemObject(obis_text(obis), text, None, unit, value, name))


def _equipment_id(text: str) -> str:
    """Equipment ids are hex-encoded ASCII (DSMR 5.0.2 §6.12); keep them as sent otherwise."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return text
    decoded = octets_text(raw)
    return decoded if raw and decoded != raw.hex().upper() else text


def decode_dsmr(
    data: bytes, *, registry: ProfileRegistry, include_objects: bool = False
) -> Telegram:
    """Decode one DSMR P1 telegram (``/`` .. ``!CRC``), checking the CRC when present.

    Raises:
        DecodeError: ``truncated`` without ``!``, ``checksum`` on a CRC mismatch,
            ``malformed`` when it does not start with ``/``.
    """
    if not data.startswith(b"/"):
        raise DecodeError("malformed", "a DSMR telegram starts with '/'", 0)
    body = _check_crc(data)
    profile = registry.select("dsmr", None, None)
    table = registry.table(profile)
    mbus = registry.mbus_units()
    out = _Result()
    for line in _lines(body.decode("latin-1")):
        _line(line, table, mbus, out, include_objects)
    return Telegram(
        format="dsmr",
        meter_number=out.meter_number,
        timestamp=out.timestamp,
        values=out.values,
        units=out.units,
        objects=out.objects,
        profile=profile.name if profile is not None else "cosem",
        dst=out.dst,
        unmapped=is_unmapped(out.values),
    )
