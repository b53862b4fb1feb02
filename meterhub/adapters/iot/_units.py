"""The units a device may give beside its numbers, and how to convert between them."""

from __future__ import annotations

# unit -> (quantity, factor to the quantity's base unit). Temperatures are Celsius only:
# a Fahrenheit or kelvin value needs an offset, so it is kept as the device gave it.
_UNITS: dict[str, tuple[str, float]] = {
    "Wh": ("energy", 1),
    "kWh": ("energy", 1e3),
    "MWh": ("energy", 1e6),
    "W": ("power", 1),
    "kW": ("power", 1e3),
    "MW": ("power", 1e6),
    "var": ("reactive power", 1),
    "kvar": ("reactive power", 1e3),
    "VA": ("apparent power", 1),
    "kVA": ("apparent power", 1e3),
    "V": ("voltage", 1),
    "kV": ("voltage", 1e3),
    "mV": ("voltage", 1e-3),
    "A": ("current", 1),
    "mA": ("current", 1e-3),
    "Hz": ("frequency", 1),
    "kHz": ("frequency", 1e3),
    "%": ("ratio", 1),
    "°C": ("temperature", 1),
    "C": ("temperature", 1),
    "degC": ("temperature", 1),
}
# Case is ignored (kwh, KVAR, hz) except for a leading m/M: mW is milli, MW mega.
_FOLDED = {unit.lower(): found for unit, found in _UNITS.items() if not unit.startswith("m")}


def _lookup(unit: str) -> tuple[str, float] | None:
    found = _UNITS.get(unit)
    if found is None and not unit.lower().startswith("m"):
        found = _FOLDED.get(unit.lower())
    return found


def known_unit(unit: str) -> bool:
    """Whether meterhub converts values in ``unit``."""
    return _lookup(unit) is not None


def conversion(given: str | None, wanted: str) -> float | None:
    """Return the factor from the device's unit ``given`` to the profile's ``wanted``.

    ``None`` when they do not convert: an unknown unit, another quantity (kWh for a W
    metric), or a unit given for a metric that has none.
    """
    if given is None or given == wanted:
        return 1
    source, target = _lookup(given), _lookup(wanted)
    if source is None or target is None or source[0] != target[0]:
        return None
    return source[1] / target[1]
