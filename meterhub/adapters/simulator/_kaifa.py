"""The Kaifa MA309M data-notification in its two real payload layouts, as data.

A push is a DLMS Data-Notification (IEC 62056-5-3 §8.4 / Green Book: tag 0x0F,
long-invoke-id-and-priority, date-time octet string, notification body). Kaifa meters
send the same registers in two layouts:

* **flat** (Netz NÖ / EVN): one structure of datetime, (OBIS, value, scaler_unit)
  triples and the meter number as a trailing octet string without OBIS;
* **nested** (TINETZ, Salzburg, Vorarlberg): one structure of the clock OBIS and
  datetime, {OBIS, string} pairs for serial and logical device name, then one
  {OBIS, value, scaler_unit} structure per register.

Register objects follow IEC 62056-6-2 §4.3.2 (value, scaler_unit); OBIS codes follow
IEC 62056-6-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from meterhub.adapters.simulator._axdr_encode import (
    DOUBLE_LONG_UNSIGNED,
    LONG_UNSIGNED,
    double_long_unsigned,
    long_unsigned,
    octet_string,
    scaler_unit,
    structure,
)
from meterhub.adapters.simulator._glo_cipher import SC_ENCRYPTED_EVN, SC_ENCRYPTED_SUITE1
from meterhub.adapters.simulator._identity import logical_device_name

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from meterhub.adapters.simulator._load import MeterState

DATA_NOTIFICATION = 0x0F
_DATETIME_LEN = 0x0C
_INVOKE_ID_MASK = 0x00FFFFFF
PRIORITY_HIGH = 0x80000000
"""Bit 31 of long-invoke-id-and-priority; set by EVN meters, clear on the others."""

CLOCK = bytes((0, 0, 1, 0, 0, 255))
SERIAL = bytes((0, 0, 96, 1, 0, 255))
DEVICE_NAME = bytes((0, 0, 42, 0, 0, 255))

# Unit enum, IEC 62056-6-2 §4.3.2 table 4.
UNIT_W = 27
UNIT_WH = 30
UNIT_VARH = 32
UNIT_A = 33
UNIT_V = 35
UNIT_NONE = 255


@dataclass(frozen=True, slots=True)
class Register:
    """One register of a push: where it is, how it is typed and scaled, what it means.

    Attributes:
        name: canonical metric name (``energy_import_wh`` ...).
        obis: six-byte logical name.
        type_tag: A-XDR type of the value (0x06 uint32 or 0x12 uint16).
        scaler: power-of-ten exponent; value = raw * 10**scaler.
        unit: COSEM unit enum.
    """

    name: str
    obis: bytes
    type_tag: int
    scaler: int
    unit: int

    def encode_value(self, raw: int) -> bytes:
        """Encode ``raw`` with this register's A-XDR type."""
        if self.type_tag == LONG_UNSIGNED:
            return long_unsigned(raw)
        return double_long_unsigned(raw)

    def scaled(self, raw: int) -> float | int:
        """Return ``raw`` scaled as a decoder does: divide for negative scalers, exact."""
        factor: int = 10 ** abs(self.scaler)
        if self.scaler >= 0:
            return raw * factor
        return raw / factor


@dataclass(frozen=True, slots=True)
class KaifaLayout:
    """How one grid operator's Kaifa MA309M lays out its push.

    Attributes:
        name: a label for the layout.
        nested: nested (TINETZ style) or flat (EVN style) body.
        registers: the registers in the order the meter sends them.
        security_control: the security control byte of the ciphered APDU.
        invoke_flags: bits OR-ed into the long-invoke-id (priority).
    """

    name: str
    nested: bool
    registers: tuple[Register, ...]
    security_control: int
    invoke_flags: int


def _obis(a: int, b: int, c: int, d: int) -> bytes:
    """Return the logical name a-b:c.d.0.255 (instantaneous or total register)."""
    return bytes((a, b, c, d, 0, 255))


_ENERGY_IMPORT = Register("energy_import_wh", _obis(1, 0, 1, 8), DOUBLE_LONG_UNSIGNED, 0, UNIT_WH)
_ENERGY_EXPORT = Register("energy_export_wh", _obis(1, 0, 2, 8), DOUBLE_LONG_UNSIGNED, 0, UNIT_WH)
_POWER_IMPORT = Register("power_import_w", _obis(1, 0, 1, 7), DOUBLE_LONG_UNSIGNED, 0, UNIT_W)
_POWER_EXPORT = Register("power_export_w", _obis(1, 0, 2, 7), DOUBLE_LONG_UNSIGNED, 0, UNIT_W)
_REACTIVE_IMPORT = Register(
    "reactive_energy_import_varh", _obis(1, 0, 3, 8), DOUBLE_LONG_UNSIGNED, 0, UNIT_VARH
)
_REACTIVE_EXPORT = Register(
    "reactive_energy_export_varh", _obis(1, 0, 4, 8), DOUBLE_LONG_UNSIGNED, 0, UNIT_VARH
)
_VOLTAGES = tuple(
    Register(f"voltage_l{i + 1}_v", _obis(1, 0, c, 7), LONG_UNSIGNED, -1, UNIT_V)
    for i, c in enumerate((32, 52, 72))
)
_CURRENTS = tuple(
    Register(f"current_l{i + 1}_a", _obis(1, 0, c, 7), LONG_UNSIGNED, -2, UNIT_A)
    for i, c in enumerate((31, 51, 71))
)
_POWER_FACTOR = Register("power_factor", _obis(1, 0, 13, 7), LONG_UNSIGNED, -3, UNIT_NONE)

KAIFA_FLAT = KaifaLayout(
    name="kaifa_flat",
    nested=False,
    registers=(
        _ENERGY_IMPORT,
        _ENERGY_EXPORT,
        _POWER_IMPORT,
        _POWER_EXPORT,
        *_VOLTAGES,
        *_CURRENTS,
        _POWER_FACTOR,
    ),
    security_control=SC_ENCRYPTED_EVN,
    invoke_flags=PRIORITY_HIGH,
)
"""Netz NÖ / EVN: 11 registers, meter number last (the Netz NÖ documentation sample)."""

KAIFA_NESTED = KaifaLayout(
    name="kaifa_nested",
    nested=True,
    registers=(
        *_VOLTAGES,
        *_CURRENTS,
        _POWER_IMPORT,
        _POWER_EXPORT,
        _ENERGY_IMPORT,
        _ENERGY_EXPORT,
        _REACTIVE_IMPORT,
        _REACTIVE_EXPORT,
    ),
    security_control=SC_ENCRYPTED_SUITE1,
    invoke_flags=0,
)
"""Three-phase TINETZ / Salzburg / Vorarlberg: 12 registers (the VKW and Salzburg captures)."""

KAIFA_NESTED_SINGLE_PHASE = KaifaLayout(
    name="kaifa_nested_single_phase",
    nested=True,
    registers=(
        _VOLTAGES[0],
        _CURRENTS[0],
        _POWER_IMPORT,
        _POWER_EXPORT,
        _ENERGY_IMPORT,
        _ENERGY_EXPORT,
        _REACTIVE_IMPORT,
        _REACTIVE_EXPORT,
    ),
    security_control=SC_ENCRYPTED_SUITE1,
    invoke_flags=0,
)
"""Single-phase nested layout, 8 registers (the TINETZ documentation sample)."""

_RAW: dict[str, Callable[[MeterState], int]] = {
    "energy_import_wh": lambda s: s.energy_import_wh,
    "energy_export_wh": lambda s: s.energy_export_wh,
    "power_import_w": lambda s: s.power_import_w,
    "power_export_w": lambda s: s.power_export_w,
    "reactive_energy_import_varh": lambda s: s.reactive_energy_import_varh,
    "reactive_energy_export_varh": lambda s: s.reactive_energy_export_varh,
    "voltage_l1_v": lambda s: s.voltage_dv[0],
    "voltage_l2_v": lambda s: s.voltage_dv[1],
    "voltage_l3_v": lambda s: s.voltage_dv[2],
    "current_l1_a": lambda s: s.current_ca[0],
    "current_l2_a": lambda s: s.current_ca[1],
    "current_l3_a": lambda s: s.current_ca[2],
    "power_factor": lambda s: s.power_factor_milli,
}
"""Raw register values in the resolution the registers' scalers declare (V 0.1, A 0.01 ...)."""


def raw_registers(layout: KaifaLayout, state: MeterState) -> dict[str, int]:
    """Return the raw integer of every register of ``layout`` for ``state``."""
    return {r.name: _RAW[r.name](state) for r in layout.registers}


def scaled_registers(layout: KaifaLayout, raws: Mapping[str, int]) -> dict[str, float | int]:
    """Return the canonical (scaled) values of raw register values."""
    return {r.name: r.scaled(raws[r.name]) for r in layout.registers}


def data_notification(
    layout: KaifaLayout,
    *,
    invoke_id: int,
    local_time: bytes,
    meter_number: str,
    raws: Mapping[str, int],
) -> bytes:
    """Encode the plaintext Data-Notification APDU of one push.

    Args:
        layout: flat or nested layout and its registers.
        invoke_id: the 24-bit invoke id; the layout's priority flags are added.
        local_time: the 12-byte COSEM date-time (see ``cosem_datetime``), used in the
            header and as the clock value in the body.
        meter_number: the meter number (flat) or serial (nested), ASCII.
        raws: raw register values by canonical name.
    """
    invoke = layout.invoke_flags | (invoke_id & _INVOKE_ID_MASK)
    header = (
        bytes((DATA_NOTIFICATION,))
        + invoke.to_bytes(4, "big")
        + bytes((_DATETIME_LEN,))
        + local_time
    )
    number = meter_number.encode("ascii")
    if layout.nested:
        return header + _nested_body(layout, local_time, number, raws)
    return header + _flat_body(layout, local_time, number, raws)


def _flat_body(
    layout: KaifaLayout, local_time: bytes, number: bytes, raws: Mapping[str, int]
) -> bytes:
    parts = [structure(2 + 3 * len(layout.registers)), octet_string(local_time)]
    for reg in layout.registers:
        parts += (
            octet_string(reg.obis),
            reg.encode_value(raws[reg.name]),
            scaler_unit(reg.scaler, reg.unit),
        )
    parts.append(octet_string(number))
    return b"".join(parts)


def _nested_body(
    layout: KaifaLayout, local_time: bytes, number: bytes, raws: Mapping[str, int]
) -> bytes:
    device_name = logical_device_name(number.decode("ascii")).encode("ascii")
    parts = [
        structure(4 + len(layout.registers)),
        octet_string(CLOCK),
        octet_string(local_time),
        structure(2) + octet_string(SERIAL) + octet_string(number),
        structure(2) + octet_string(DEVICE_NAME) + octet_string(device_name),
    ]
    parts += (
        structure(3)
        + octet_string(reg.obis)
        + reg.encode_value(raws[reg.name])
        + scaler_unit(reg.scaler, reg.unit)
        for reg in layout.registers
    )
    return b"".join(parts)
