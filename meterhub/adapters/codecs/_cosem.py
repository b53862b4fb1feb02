"""COSEM value helpers: date-time, unit names, scaling and text forms."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meterhub.adapters.codecs._axdr import AxdrValue
    from meterhub.adapters.codecs._telegram import Scalar

_OBIS_LEN = 6
_DATETIME_LEN = 12
_DEVIATION_UNSPECIFIED = -0x8000
_YEAR_UNSPECIFIED = 0xFFFF
_MAX_DEVIATION = 15 * 60
_NOT_PRINTABLE = bytes(range(0x20)) + bytes(range(0x7F, 0x100))

# COSEM unit enumeration, IEC 62056-6-2 §4.5 Table 4 (the codes meters send in practice).
# fmt: off
UNIT_NAMES: dict[int, str] = {
    1: "a", 2: "mo", 3: "wk", 4: "d", 5: "h", 6: "min", 7: "s", 8: "°", 9: "°C",
    10: "currency", 11: "m", 12: "m/s", 13: "m3", 14: "m3", 15: "m3/h", 16: "m3/h",
    17: "m3/d", 18: "m3/d", 19: "l", 20: "kg", 21: "N", 22: "Nm", 23: "Pa", 24: "bar",
    25: "J", 26: "J/h", 27: "W", 28: "VA", 29: "var", 30: "Wh", 31: "VAh", 32: "varh",
    33: "A", 34: "C", 35: "V", 36: "V/m", 37: "F", 38: "Ω", 39: "Ωm2/m", 40: "Wb",
    41: "T", 42: "A/m", 43: "H", 44: "Hz", 45: "1/(Wh)", 46: "1/(varh)", 47: "1/(VAh)",
    48: "V2h", 49: "A2h", 50: "kg/s", 51: "S", 52: "K", 53: "1/(V2h)", 54: "1/(A2h)",
    55: "1/m3", 56: "%", 57: "Ah", 60: "Wh/m3", 61: "J/m3", 62: "Mol %", 63: "g/m3",
    64: "Pa s", 65: "J/kg", 70: "dBm", 71: "dBµV", 72: "dB",
}
# fmt: on
_POW10 = tuple(10**i for i in range(19))


def obis_text(obis: bytes) -> str:
    """Return the ``a.b.c.d.e.f`` form of a 6-byte logical name."""
    return "{}.{}.{}.{}.{}.{}".format(*obis)


def octets_text(raw: bytes) -> str:
    """Return printable-ASCII octet strings as text and anything else as upper hex."""
    if raw.translate(None, _NOT_PRINTABLE) != raw:
        return raw.hex().upper()
    return raw.decode("ascii")


# year(2) month day weekday hour minute second hundredths deviation(int16) clock-status
_DATETIME = struct.Struct(">HBBBBBBBhB")
_UNSPECIFIED = 0xFF
_ZONES: dict[int, timezone] = {}


def _zone(deviation: int) -> timezone | None:
    if deviation == _DEVIATION_UNSPECIFIED:
        return None
    zone = _ZONES.get(deviation)
    if zone is None:
        # At most 1801 deviations pass the range check, so the memo stays small.
        zone = _ZONES[deviation] = timezone(timedelta(minutes=-deviation))
    return zone


def _valid_fields(fields: tuple[int, ...]) -> bool:
    year, month, day, weekday, hour, minute, second, hundredths, deviation, _ = fields
    return (
        1 <= month <= 12  # noqa: PLR2004
        and 1 <= day <= 31  # noqa: PLR2004
        and (1 <= weekday <= 7 or weekday == _UNSPECIFIED)  # noqa: PLR2004
        and hour < 24  # noqa: PLR2004
        and minute < 60  # noqa: PLR2004
        and (second < 60 or second == _UNSPECIFIED)  # noqa: PLR2004
        and (hundredths < 100 or hundredths == _UNSPECIFIED)  # noqa: PLR2004
        and year != _YEAR_UNSPECIFIED
        and (deviation == _DEVIATION_UNSPECIFIED or abs(deviation) <= _MAX_DEVIATION)
    )


def cosem_datetime(raw: bytes) -> datetime | None:
    """Decode a COSEM date-time (IEC 62056-6-2 §4.1.6.1), or ``None`` if it is not one.

    Bytes: year(2) month day weekday hour minute second hundredths deviation(int16,
    minutes) clock-status. Local time = UTC - deviation, so the UTC offset is
    -deviation; deviation 0x8000 ("not specified") gives naive local time.
    """
    if len(raw) != _DATETIME_LEN:
        return None
    fields = _DATETIME.unpack(raw)
    if not _valid_fields(fields):
        return None
    year, month, day, _, hour, minute, second, hundredths, deviation, _ = fields
    try:
        return datetime(
            year,
            month,
            day,
            hour,
            minute,
            0 if second == _UNSPECIFIED else second,
            0 if hundredths == _UNSPECIFIED else hundredths * 10_000,
            tzinfo=_zone(deviation),
        )
    except ValueError:
        return None


def scale(raw: float, scaler: int) -> float:
    """Apply a power-of-ten scaler; integers stay integers for scalers >= 0."""
    factor: int = _POW10[abs(scaler)] if abs(scaler) < len(_POW10) else 10 ** abs(scaler)
    if scaler >= 0:
        return raw * factor
    # Divide rather than multiply by 10**-n: 2337 / 10 is exactly 233.7.
    return raw / factor


def plain(value: AxdrValue) -> Scalar | None:
    """Return a decoded value as a JSON-friendly scalar (octet strings as text/hex)."""
    if type(value) is bytes:
        return octets_text(value)
    if value is None or isinstance(value, list | bytes):
        return None
    if isinstance(value, bool):
        return int(value)
    return value
