"""Turn walked COSEM entries or positional lists into named, scaled values."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from meterhub.adapters.codecs._cosem import (
    UNIT_NAMES,
    cosem_datetime,
    obis_text,
    octets_text,
    plain,
    scale,
)
from meterhub.adapters.codecs._telegram import CosemObject

if TYPE_CHECKING:
    from datetime import datetime

    from meterhub.adapters.codecs._axdr import AxdrValue
    from meterhub.adapters.codecs._profiles import FieldDef, ObisDef, ObisTable
    from meterhub.adapters.codecs._telegram import Scalar
    from meterhub.adapters.codecs._walker import Entry

_CLOCK = "clock"
_METER_NUMBER = "meter_number"
# IEC 62056-6-1 §5.4: value group C = 24 with D = 2 are M-Bus channel values; B = channel.
_MBUS_C = 24
_MBUS_D = 2


class Mapped(NamedTuple):
    """Named values of one telegram body."""

    values: dict[str, Scalar]
    units: dict[str, str]
    objects: list[CosemObject]
    meter_number: str | None
    timestamp: datetime | None
    unnamed: int
    """Numbers that got no name (positions no profile describes)."""


class _Collector:
    __slots__ = ("meter_number", "objects", "timestamp", "units", "unnamed", "values")

    def __init__(self) -> None:
        self.values: dict[str, Scalar] = {}
        self.units: dict[str, str] = {}
        self.objects: list[CosemObject] = []
        self.meter_number: str | None = None
        self.timestamp: datetime | None = None
        self.unnamed = 0

    def result(self) -> Mapped:
        return Mapped(
            self.values, self.units, self.objects, self.meter_number, self.timestamp, self.unnamed
        )

    def text(self, name: str, text: str) -> None:
        self.values[name] = text
        if name == _METER_NUMBER:
            self.meter_number = text


def lookup(table: ObisTable, obis: bytes) -> ObisDef | None:
    """Find an OBIS code, falling back to channel B = 0 for electricity (Kamstrup's 1.1.x)."""
    found = table.get(obis)
    if found is None and obis[0] == 1 and obis[1] != 0:
        found = table.get(obis[:1] + b"\x00" + obis[2:])
    return found


class Resolution(NamedTuple):
    """How one (OBIS, scaler, unit) combination is named and scaled."""

    name: str
    scaler: int | None
    unit: str | None
    factor: int
    divide: bool


_CACHE_LIMIT = 4096


class Resolver:
    """Resolve OBIS codes against one merged table, memoising the answers.

    Push meters repeat the same few dozen (OBIS, scaler, unit) triples forever, so
    the per-telegram cost is one dict lookup per object.
    """

    def __init__(self, table: ObisTable, mbus: dict[str, str]) -> None:
        self.table = table
        self._mbus = mbus
        self.cache: dict[tuple[bytes, int | None, int | None], Resolution] = {}

    def resolve(self, obis: bytes, scaler: int | None, unit_code: int | None) -> Resolution:
        """Return the name, scaler and unit for an object (cached)."""
        key = (obis, scaler, unit_code)
        found = self.cache.get(key)
        if found is None:
            found = self._compute(obis, scaler, unit_code)
            if len(self.cache) < _CACHE_LIMIT:
                self.cache[key] = found
        return found

    def _compute(self, obis: bytes, scaler: int | None, unit_code: int | None) -> Resolution:
        definition = lookup(self.table, obis)
        final, unit = _scaling(scaler, unit_code, definition)
        name = _name(obis, definition, unit, self._mbus)
        if final is None:
            return Resolution(name, None, unit, 1, divide=False)
        return Resolution(name, final, unit, 10 ** abs(final), divide=final < 0)


def _scaling(
    scaler: int | None, unit_code: int | None, definition: ObisDef | None
) -> tuple[int | None, str | None]:
    if scaler is not None:
        return scaler, UNIT_NAMES.get(unit_code) if unit_code is not None else None
    if definition is not None and (definition.unit is not None or definition.scaler is not None):
        return definition.scaler or 0, definition.unit
    return None, None


def _name(obis: bytes, definition: ObisDef | None, unit: str | None, mbus: dict[str, str]) -> str:
    if definition is not None:
        return definition.name
    if obis[0] == 0 and obis[2] == _MBUS_C and obis[3] == _MBUS_D and unit in mbus:
        return f"mbus_{obis[1]}_{mbus[unit]}"
    return "obis_" + obis_text(obis)


def _loose(out: _Collector, value: AxdrValue, *, trailing: bool, keep: bool) -> None:
    name = ""
    if type(value) is bytes:
        stamp = cosem_datetime(value)
        if stamp is not None:
            out.timestamp = out.timestamp or stamp
        elif trailing:
            out.meter_number = out.meter_number or octets_text(value)
            name = _METER_NUMBER
    elif type(value) is str and trailing:
        out.meter_number = out.meter_number or value
        name = _METER_NUMBER
    elif type(value) is int or type(value) is float:
        out.unnamed += 1
    if name:
        out.values.setdefault(name, out.meter_number or "")
    if keep:
        raw = plain(value)
        out.objects.append(CosemObject(None, raw, None, None, raw, name))


def _string(out: _Collector, name: str, value: bytes | str) -> Scalar:
    if type(value) is bytes:
        stamp = cosem_datetime(value)
        if stamp is not None:
            if name == _CLOCK:
                out.timestamp = out.timestamp or stamp
                return stamp.isoformat()
            out.values[name] = stamp.isoformat()
            return stamp.isoformat()
        text = octets_text(value)
    else:
        text = str(value)
    out.text(name, text)
    return text


def _other(out: _Collector, resolver: Resolver, obis: bytes, value: AxdrValue, keep: bool) -> None:
    """Map a non-numeric object (strings, date-times, booleans)."""
    name = resolver.resolve(obis, None, None).name
    raw: Scalar | None
    if isinstance(value, bytes | str):
        raw = _string(out, name, value)
    else:
        raw = plain(value)
        if raw is not None:
            out.values[name] = raw
    if keep:
        out.objects.append(CosemObject(obis_text(obis), raw, None, None, raw, name))


def map_entries(
    entries: list[Entry], trailing: int, resolver: Resolver, *, keep_objects: bool
) -> Mapped:
    """Name and scale the entries found by the COSEM walker.

    ``trailing`` is the index of the body's trailing loose element (or -1).
    """
    out = _Collector()
    values = out.values
    units = out.units
    cache = resolver.cache
    for index, (obis, value, scaler, unit_code, _) in enumerate(entries):
        if obis is None:
            _loose(out, value, trailing=index == trailing, keep=keep_objects)
        elif type(value) is int or type(value) is float:
            found = cache.get((obis, scaler, unit_code)) or resolver.resolve(
                obis, scaler, unit_code
            )
            name = found.name
            if found.scaler is None:
                scaled = None
                values[name] = value
            else:
                # Divide for negative scalers: 2337 / 10 is exactly 233.7.
                scaled = value / found.factor if found.divide else value * found.factor
                values[name] = scaled
            if found.unit is not None:
                units[name] = found.unit
            if keep_objects:
                obj = CosemObject(obis_text(obis), value, found.scaler, found.unit, scaled, name)
                out.objects.append(obj)
        else:
            _other(out, resolver, obis, value, keep_objects)
    return out.result()


def map_layout(body: list[AxdrValue], layout: list[FieldDef], *, keep_objects: bool) -> Mapped:
    """Name and scale a list without OBIS codes by its position in the profile."""
    out = _Collector()
    for field, value in zip(layout, body, strict=False):
        name = field.name or ""
        scaled: Scalar | None
        scaler = unit = None
        if type(value) is int or type(value) is float:
            scaler = field.scaler if field.scaler is not None else (0 if field.unit else None)
            unit = field.unit
            scaled = value if scaler is None else scale(value, scaler)
            raw: Scalar | None = value
            if name:
                out.values[name] = scaled
                if unit is not None:
                    out.units[name] = unit
            else:
                out.unnamed += 1
        elif isinstance(value, bytes | str) and name:
            raw = scaled = _string(out, name, value)
        else:
            raw = scaled = plain(value)
        if keep_objects:
            out.objects.append(CosemObject(field.obis, raw, scaler, unit, scaled, name))
    return out.result()
