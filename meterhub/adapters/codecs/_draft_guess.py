"""The guessing rules of a profile draft: what type, value and order make likely.

Each rule names a position only where the evidence points one way (a date-time is the
clock, a value near 2300 is a voltage in 0.1 V, a register that only grows is an
energy); the draft marks every guess for the user to confirm.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, NamedTuple

from meterhub.adapters.codecs._cosem import cosem_datetime
from meterhub.adapters.codecs._profiles import first_text

if TYPE_CHECKING:
    from meterhub.adapters.codecs._axdr import AxdrValue

NUMBERS = frozenset((0x05, 0x06, 0x0F, 0x10, 0x11, 0x12, 0x14, 0x15, 0x17, 0x18))
_OBIS_LEN = 6
_COUNTER_TYPES = frozenset((0x06, 0x15))  # energy registers: unsigned 32/64 bit
# A register this high in W would be a 100 kW household: it is an energy in Wh.
_COUNTER_FLOOR = 100_000
_PHASES = 3
_INSTANT = 7  # OBIS value group D: instantaneous value
_INTEGRAL = 8  # time integral 1: an energy register
# IEC 62056-6-1 §7.5.2 value group C: phase-wise quantities (21.. L1, 41.. L2, 61.. L3).
_PHASE_OF = {21: 1, 41: 2, 61: 3, 22: 1, 42: 2, 62: 3}
_INSTANT_NAMES: dict[int, tuple[str, str | None]] = {
    32: ("voltage_l1_v", "V"), 52: ("voltage_l2_v", "V"), 72: ("voltage_l3_v", "V"),
    31: ("current_l1_a", "A"), 51: ("current_l2_a", "A"), 71: ("current_l3_a", "A"),
    13: ("power_factor", None), 33: ("power_factor_l1", None),
    53: ("power_factor_l2", None), 73: ("power_factor_l3", None), 14: ("frequency_hz", "Hz"),
}  # fmt: skip
_ENERGIES = ("energy_import_wh", "energy_export_wh",
             "reactive_energy_import_varh", "reactive_energy_export_varh")  # fmt: skip
_POWERS = ("power_import_w", "power_export_w",
           "reactive_power_import_var", "reactive_power_export_var")  # fmt: skip
_UNITS = {"wh": "Wh", "varh": "varh", "w": "W", "var": "var", "v": "V", "a": "A", "hz": "Hz"}
# Voltage ranges (230 V +-20 %) by scaler: a raw 2385 is 238.5 V in 0.1 V.
_VOLTS = ((-1, 1800, 2800), (0, 180, 280), (-2, 18000, 28000))


class Slot(NamedTuple):
    """One position (or OBIS object) of a list, with its value in every telegram."""

    tag: int
    values: list[AxdrValue]
    obis: bytes | None = None


Guesses = dict[int, dict[str, str | int | bool]]


def guess_texts(slots: list[Slot]) -> Guesses:
    """Name the clock, the list id, the meter number and the meter type."""
    guesses: Guesses = {}
    names = iter(("meter_number", "meter_type"))
    for index, slot in enumerate(slots):
        value = slot.values[0]
        if type(value) is bytes and cosem_datetime(value) is not None:
            if "clock" not in {g.get("name") for g in guesses.values()}:
                guesses[index] = {"name": "clock"}
        elif index == 0 and list_id(value) is not None:
            guesses[index] = {"name": "list_id"}
        elif index < 6 and isinstance(value, bytes | str) and _is_text(value):  # noqa: PLR2004
            name = next(names, None)
            if name is not None:
                guesses[index] = {"name": name}
    return guesses


def _is_text(value: bytes | str) -> bool:
    """Tell a printable identifier with digits (a serial or model number) from binary."""
    if type(value) is bytes and not all(0x20 <= b < 0x7F for b in value):  # noqa: PLR2004
        return False
    text = value.decode("ascii") if type(value) is bytes else str(value)
    has_digit = any(c.isdigit() for c in text)
    return 4 <= len(text) <= 32 and has_digit and text.isalnum()  # noqa: PLR2004


def _numbers(slots: list[Slot], guesses: Guesses) -> list[list[int]]:
    """Return runs of consecutive positions holding numbers not named yet."""
    runs: list[list[int]] = []
    for index, slot in enumerate(slots):
        if index in guesses or slot.tag not in NUMBERS:
            continue
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _volt_scaler(slot: Slot) -> int | None:
    live = [v for v in slot.values if isinstance(v, int | float) and v]
    for scaler, low, high in _VOLTS:
        if live and all(low <= v <= high for v in live):
            return scaler
    return None


def _zero(slot: Slot) -> bool:
    return all(v == 0 for v in slot.values)


def guess_numbers(slots: list[Slot], guesses: Guesses) -> None:
    """Name voltages, the currents beside them, then energy and power runs in order."""
    volts: list[int] = []
    for run in _numbers(slots, guesses):
        for at, index in enumerate(run):
            scaler = _volt_scaler(slots[index])
            between = volts and _zero(slots[index]) and at + 1 < len(run)
            if scaler is not None or (between and _volt_scaler(slots[run[at + 1]]) is not None):
                volts.append(index)
            elif volts:
                break
            if len(volts) == _PHASES:
                break
        if volts:
            break
    for phase, index in enumerate(volts, 1):
        scaler = next(s for s in map(_volt_scaler, (slots[i] for i in volts)) if s is not None)
        guesses[index] = {"name": f"voltage_l{phase}_v", "unit": "V", "scaler": scaler}
    amps = _currents(slots, guesses, volts)
    clock = next((i for i, g in guesses.items() if g.get("name") == "clock"), len(slots))
    energies, powers = iter(_ENERGIES), iter(_POWERS)
    for run in _numbers(slots, guesses):
        counters = _counters(slots, run, after_clock=run[0] > clock)
        for index in run[:counters]:
            _named(guesses, index, next(energies, None), counter=True)
        for index in run[counters:]:
            _named(guesses, index, next(powers, None), counter=False)
    named = {str(g["name"]): (slots[i].values[0], g.get("scaler", 0))
             for i, g in guesses.items() if "unit" in g}  # fmt: skip
    scaler = current_scaler(named)
    for index in amps:
        guesses[index]["scaler"] = scaler


def _currents(slots: list[Slot], guesses: Guesses, volts: list[int]) -> list[int]:
    """Name the numbers just before the voltages (or just after) as their currents."""
    if not volts:
        return []
    for start in (volts[0] - len(volts), volts[-1] + 1):
        span = range(start, start + len(volts))
        if start >= 0 and all(
            i < len(slots) and i not in guesses and slots[i].tag in NUMBERS for i in span
        ):
            for phase, index in enumerate(span, 1):
                guesses[index] = {"name": f"current_l{phase}_a", "unit": "A", "scaler": -2}
            return list(span)
    return []


def _named(guesses: Guesses, index: int, name: str | None, *, counter: bool) -> None:
    if name is not None:
        guesses[index] = {"name": name, "unit": _UNITS[name.rsplit("_", 1)[1]], "scaler": 0}
        if counter:
            guesses[index]["counter"] = True


def _counters(slots: list[Slot], run: list[int], *, after_clock: bool) -> int:
    """Return how many positions at the start of ``run`` are energy registers (+A -A +R -R)."""
    prefix = 0
    grows = False
    for index in run[: len(_ENERGIES)]:
        values = [v for v in slots[index].values if isinstance(v, int)]
        if slots[index].tag not in _COUNTER_TYPES or any(
            b < a for a, b in itertools.pairwise(values)
        ):
            break
        grows = grows or len(set(values)) > 1
        prefix += 1
    if grows:
        return prefix  # registers only count up; an instantaneous value falls too
    # One telegram (or nothing moved): energies follow the clock (Kaifa list 3) or are
    # larger than any power (Wiener Netze).
    peak = max((v for i in run[:prefix] for v in slots[i].values if isinstance(v, int)), default=0)
    return prefix if after_clock or peak >= _COUNTER_FLOOR else 0


def current_scaler(named: dict[str, tuple[AxdrValue, str | int | bool]]) -> int:
    """Pick the current scaler that makes the sum of U*I closest to the apparent power."""

    def raw(name: str) -> float:
        value = named.get(name, (0, 0))[0]
        return float(value) if isinstance(value, int | float) else 0.0

    def volts(phase: int) -> float:
        scaler = named.get(f"voltage_l{phase}_v", (0, 0))[1]
        return raw(f"voltage_l{phase}_v") * 10.0 ** int(scaler)

    active = raw("power_import_w") + raw("power_export_w")
    apparent = math.hypot(
        active, raw("reactive_power_import_var") + raw("reactive_power_export_var")
    )
    load = sum(volts(p) * raw(f"current_l{p}_a") for p in range(1, _PHASES + 1))
    if apparent <= 0 or load <= 0:
        return -2  # 0.01 A: the usual current resolution of these lists
    error, best = min((abs(math.log10(load * 10.0**s / apparent)), s) for s in (-3, -2, -1, 0))
    return best if error < 0.5 else -2  # noqa: PLR2004 (within a factor of about 3)


def obis_guess(slot: Slot, known: str | None) -> dict[str, str | int | bool]:
    """Guess name and scaling from OBIS value groups C, D and E (IEC 62056-6-1 §7.5)."""
    assert slot.obis is not None  # noqa: S101 - only OBIS slots reach here
    value = slot.values[0]
    if type(value) is bytes and cosem_datetime(value) is not None:
        return {} if known else {"name": "clock"}
    c, d, e = slot.obis[2], slot.obis[3], slot.obis[4]
    if slot.tag not in NUMBERS or d not in (_INSTANT, _INTEGRAL):
        return {}
    if d == _INTEGRAL:
        fields = _register(c, e)
    elif c in _INSTANT_NAMES:
        name, unit = _INSTANT_NAMES[c]
        fields = {"name": name, "unit": unit} if unit else {"name": name}
        fields["scaler"] = _instant_scaler(unit, slot)
    else:
        fields = _register(c, e, instant=True)
    if fields and known:
        fields["name"] = known
    return fields


def _register(c: int, e: int, *, instant: bool = False) -> dict[str, str | int | bool]:
    """Name +A -A +R -R (C 1-4, tariff E) and per-phase energies; ``instant``: powers."""
    phase = _PHASE_OF.get(c)
    if 1 <= c <= len(_ENERGIES):
        base = (_POWERS if instant else _ENERGIES)[c - 1]
        stem, unit = base.rsplit("_", 1)
        name = f"{stem}_t{e}_{unit}" if e else base
    elif phase is not None and not instant and e == 0:
        unit = "wh"
        name = f"energy_{'import' if c % 20 == 1 else 'export'}_l{phase}_wh"
    else:
        return {}
    fields: dict[str, str | int | bool] = {"name": name, "unit": _UNITS[unit], "scaler": 0}
    return fields if instant else {**fields, "counter": True}


def _instant_scaler(unit: str | None, slot: Slot) -> int:
    peak = max(abs(v) for v in slot.values if isinstance(v, int | float))
    if unit == "V":
        return _volt_scaler(slot) or 0
    if unit == "A":
        return -2  # refined by the power fit
    if unit == "Hz":
        return -round(math.log10(peak / 50)) if peak else 0  # about 50 Hz
    return 0 if peak <= 1 else -2 if peak <= 100 else -3  # noqa: PLR2004 - power factor


def list_id(first: AxdrValue) -> str | None:
    """Return the first element's text when it names the list (not a time or meter number)."""
    if not isinstance(first, bytes | str) or (type(first) is bytes and cosem_datetime(first)):
        return None
    text = first_text(first)
    if text is None:
        return None
    if type(first) is bytes and len(first) == _OBIS_LEN and text == first.hex().upper():
        return text  # an OBIS code: the list's logical name (Wiener Netze 0.6.25.9.0.255)
    # A list id has letters ("KFM_001", "Kamstrup_V0001"); all digits is a meter number.
    return text if any(c.isalpha() for c in text) and len(text) <= 32 else None  # noqa: PLR2004
