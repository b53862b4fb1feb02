"""Device types as data: JSON paths of a device's measurements -> canonical metrics.

Built-in device types ship as TOML in ``profiles/`` (one file each); a site adds its
own files (``[mqtt] profiles``), a later type with the same name replacing the earlier.
The format is in ``docs/mqtt-protocol.md`` ("Device types").
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from meterhub.adapters.iot._units import conversion
from meterhub.platform._errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_MAX_DEPTH = 16
"""Objects nested deeper than this below ``measurements`` are not walked: no device
nests readings that deep, and the bound keeps a hostile payload's walk short."""
_MAX_NAME = 64
"""Derived names are cut to this length: a metric name is a key in every store index."""
_INT64 = 2**63


class DeviceProfileError(ConfigError, ValueError):
    """A device profile file is unreadable or invalid; names the file, type and key."""


class MetricDef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How one JSON path of a device's measurements becomes a canonical metric.

    Attributes:
        metric: the canonical metric name (``voltage_l1_v``).
        unit: the metric's unit; values in another unit of the same quantity are
            converted (``kWh`` to ``Wh``). Empty for a metric without a unit.
        scale: multiplies the converted value.
    """

    metric: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*$", max_length=_MAX_NAME)]
    unit: str = ""
    scale: float = 1.0


class Mapped(msgspec.Struct, frozen=True):
    """What a profile made of one reading's measurements.

    Attributes:
        values: canonical metric (or derived name) -> value, in the metric's unit.
        units: name -> unit, for the values that have one.
        text: string leaves, under their derived names.
        unnamed: the derived names of numeric paths no profile entry names.
    """

    values: dict[str, float | int]
    units: dict[str, str]
    text: dict[str, str]
    unnamed: list[str]


def derived_name(path: str) -> str:
    """Return the metric name of an unmapped path (``voltage.phase_n`` -> ``voltage_phase_n``)."""
    name = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
    return name[:_MAX_NAME].rstrip("_") or "value"


_Number = tuple[str, float | int, str | None]


def _walk(
    node: Mapping[str, Any] | list[Any],
    prefix: str,
    depth: int,
    unit: str | None,
    out: tuple[list[_Number], list[tuple[str, str]]],
) -> None:
    if isinstance(node, dict):
        given = node.get("unit")
        unit = given if isinstance(given, str) else None
        items: Iterable[tuple[str, Any]] = ((k, v) for k, v in node.items() if k != "unit")
    else:  # an array's numbers share the unit beside the array
        items = ((str(index), value) for index, value in enumerate(node))
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, bool):
            out[0].append((path, int(value), unit))
        elif isinstance(value, int | float):
            out[0].append((path, value, unit))
        elif isinstance(value, str):
            out[1].append((path, value))
        elif isinstance(value, dict | list) and depth < _MAX_DEPTH:
            _walk(value, path, depth + 1, unit, out)


def _fit(value: float) -> float | int | None:
    """Keep ints in int64 (a store column) and numbers finite; ``None`` if neither fits."""
    if isinstance(value, int):
        if -_INT64 <= value < _INT64:
            return value
        try:
            value = float(value)
        except OverflowError:
            return None
    return value if math.isfinite(value) else None


def _converted(value: float, given: str | None, entry: MetricDef) -> float | int | None:
    factor = conversion(given, entry.unit)
    if factor is None:
        return None
    if isinstance(value, int) and entry.scale == 1 and float(factor).is_integer():
        return _fit(value * int(factor))  # energy counters stay integers in Wh
    try:
        return _fit(value * factor * entry.scale)
    except OverflowError:  # a huge int times a float
        return None


def _unique(name: str, taken: set[str]) -> str:
    found, count = name, 1
    while found in taken:
        count += 1
        found = f"{name}_{count}"
    taken.add(found)
    return found


class DeviceProfile:
    """One device type: which of its JSON paths are which canonical metrics."""

    def __init__(self, name: str, metrics: Mapping[str, MetricDef], description: str = "") -> None:
        self.name = name
        self.description = description
        self.metrics: Mapping[str, MetricDef] = MappingProxyType(dict(metrics))
        self._canonical = frozenset(entry.metric for entry in metrics.values())

    def __repr__(self) -> str:
        return f"DeviceProfile({self.name!r}, {len(self.metrics)} metrics)"

    def map(self, measurements: Mapping[str, Any]) -> Mapped:
        """Map one reading's measurements; nothing is dropped but ``null`` leaves.

        A number the profile names is converted to the metric's unit and scaled; one it
        does not name, or whose unit does not convert, is kept under its derived name
        with the unit the device gave. Derived names never take a canonical name of
        this device type, so a kept value is never mistaken for a mapped one.
        """
        numbers: list[_Number] = []
        strings: list[tuple[str, str]] = []
        _walk(measurements, "", 0, None, (numbers, strings))
        values: dict[str, float | int] = {}
        units: dict[str, str] = {}
        kept: list[tuple[_Number, bool]] = []
        for number in numbers:
            entry = self.metrics.get(number[0])
            value = None if entry is None else _converted(number[1], number[2], entry)
            if entry is None or value is None or entry.metric in values:
                kept.append((number, entry is None))
                continue
            values[entry.metric] = value
            if entry.unit:
                units[entry.metric] = entry.unit
        taken = set(self._canonical)
        text: dict[str, str] = {}
        unnamed: list[str] = []
        for (path, raw, given), is_unnamed in kept:
            name = _unique(derived_name(path), taken)
            fitted = _fit(raw)
            if fitted is None:
                text[name] = str(raw)
            else:
                values[name] = fitted
                if given:
                    units[name] = given
            if is_unnamed:
                unnamed.append(name)
        for path, string in strings:
            text[_unique(derived_name(path), taken)] = string
        return Mapped(values=values, units=units, text=text, unnamed=unnamed)


class _TypeWire(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)]
    description: str = ""
    metrics: dict[str, Any] = msgspec.field(default_factory=dict)


class _FileWire(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device_type: list[dict[str, Any]]


def _split(exc: msgspec.ValidationError) -> tuple[str, str]:
    """Return msgspec's message and the path it names, relative (``.unit``) or empty."""
    message, _, where = str(exc).partition(" - at `$")
    return message, where.rstrip("`")


def _metric(source: str, key: str, path: str, data: object) -> MetricDef:
    parts = path.split(".")
    if not all(parts):
        raise DeviceProfileError(source, key, "a path is JSON keys joined by '.', none empty")
    if parts[-1] == "unit":
        raise DeviceProfileError(source, key, "a 'unit' key is the unit of its siblings")
    try:
        entry = msgspec.convert(data, MetricDef)
    except msgspec.ValidationError as exc:
        message, where = _split(exc)
        raise DeviceProfileError(source, key + where, message) from exc
    if not math.isfinite(entry.scale):
        raise DeviceProfileError(source, f"{key}.scale", "must be a finite number")
    return entry


def _device_type(source: str, index: int, data: dict[str, Any]) -> DeviceProfile:
    named = data.get("name")
    label = f"device_type {named!r}" if isinstance(named, str) else f"device_type[{index}]"
    try:
        wire = msgspec.convert(data, _TypeWire)
    except msgspec.ValidationError as exc:
        message, where = _split(exc)
        raise DeviceProfileError(source, label + where, message) from exc
    metrics = {
        path: _metric(source, f'{label}.metrics."{path}"', path, entry)
        for path, entry in wire.metrics.items()
    }
    return DeviceProfile(wire.name, metrics, wire.description)


def load_device_types(path: Path) -> list[DeviceProfile]:
    """Read the device types of one TOML file.

    Raises:
        DeviceProfileError: when the file cannot be read or a device type is invalid.
    """
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DeviceProfileError(source, "", str(exc)) from exc
    try:
        wire = msgspec.convert(data, _FileWire)
    except msgspec.ValidationError as exc:
        message, where = _split(exc)
        raise DeviceProfileError(source, where.lstrip(".") or "device_type", message) from exc
    found = [_device_type(source, index, entry) for index, entry in enumerate(wire.device_type)]
    names = [profile.name for profile in found]
    for name in names:
        if names.count(name) > 1:
            raise DeviceProfileError(source, f"device_type {name!r}", "defined twice")
    return found


class DeviceProfiles:
    """The device types a site knows: the built-ins plus the files it adds."""

    def __init__(self, profiles: Iterable[DeviceProfile] = ()) -> None:
        self._profiles = {profile.name: profile for profile in profiles}

    def add(self, path: str | Path) -> None:
        """Add or replace the device types of a TOML file (all of them, or none).

        Raises:
            DeviceProfileError: a ``ValueError`` naming the file, device type and key.
        """
        for profile in load_device_types(Path(path)):
            self._profiles[profile.name] = profile

    def get(self, device_type: str) -> DeviceProfile | None:
        """Return the profile of ``device_type``, ``None`` if the site has none."""
        return self._profiles.get(device_type)

    def names(self) -> list[str]:
        """Return the known device types, sorted."""
        return sorted(self._profiles)


@functools.cache
def _builtin() -> tuple[DeviceProfile, ...]:
    folder = resources.files("meterhub.adapters.iot").joinpath("profiles")
    found: list[DeviceProfile] = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                found.extend(load_device_types(Path(path)))
    return tuple(found)


def default_device_profiles() -> DeviceProfiles:
    """Return a new registry of the built-in device types (the files are read once)."""
    return DeviceProfiles(_builtin())
