"""DSMR 5.0.2 P1 telegrams (Netbeheer Nederland, "P1 Companion Standard" 5.0.2).

A telegram is ``/XXX5<identification>``, an empty line, COSEM lines ``obis(value*unit)``
and ``!`` followed by the CRC-16/ARC of everything from ``/`` to ``!`` inclusive as four
upper-case hex digits (§6.2); every line ends in CR LF. Value formats follow §6.12:
energy F9(3) kWh, power F5(3) kW, voltage F4(1) V, current F3(0) A, gas F8(3) m3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from meterhub.adapters.simulator._load import MeterState

DEFAULT_HEADER = "/MHB5\\2METERHUB-SIM"
"""Three-letter maker id, ``5`` for DSMR 5, then the meter's identification (§6.4)."""
_ENERGY_WRAP = 1_000_000_000
_GAS_WRAP = 100_000_000
_MAX_KW_W = 99_999
_PHASES = (1, 2, 3)


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_arc(data: bytes) -> int:
    """Return CRC-16/ARC (poly 0x8005 reflected as 0xA001, init 0, no final xor)."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


@dataclass(frozen=True, slots=True)
class DsmrReadings:
    """The integers a DSMR 5 telegram shows, in its own resolutions.

    Attributes:
        local_time: the meter clock (local, timezone-aware, whole seconds).
        tariff: tariff indicator, 1 (low) or 2 (normal).
        import_wh: delivered to the client per tariff (T1, T2), wrapping at 10^9 Wh.
        export_wh: delivered by the client per tariff (T1, T2).
        power_import_w: total power delivered, W (shown in kW with 3 decimals).
        power_export_w: total power received, W.
        voltage_dv: phase voltages in 0.1 V.
        current_a: phase currents in whole A.
        phase_import_w: power delivered per phase, W.
        phase_export_w: power received per phase, W.
        gas_time: local time of the last five-minute gas value.
        gas_l: the gas value in litres (shown in m3 with 3 decimals).
    """

    local_time: datetime
    tariff: int
    import_wh: tuple[int, int]
    export_wh: tuple[int, int]
    power_import_w: int
    power_export_w: int
    voltage_dv: tuple[int, int, int]
    current_a: tuple[int, int, int]
    phase_import_w: tuple[int, int, int]
    phase_export_w: tuple[int, int, int]
    gas_time: datetime
    gas_l: int


def _triple(values: list[int]) -> tuple[int, int, int]:
    return (values[0], values[1], values[2])


def dsmr_readings(state: MeterState, tz: ZoneInfo) -> DsmrReadings:
    """Round a meter state to what a DSMR 5 meter shows."""
    return DsmrReadings(
        local_time=state.ts.astimezone(tz).replace(microsecond=0),
        tariff=state.tariff,
        import_wh=(
            state.energy_import_tariff_wh[0] % _ENERGY_WRAP,
            state.energy_import_tariff_wh[1] % _ENERGY_WRAP,
        ),
        export_wh=(
            state.energy_export_tariff_wh[0] % _ENERGY_WRAP,
            state.energy_export_tariff_wh[1] % _ENERGY_WRAP,
        ),
        power_import_w=min(state.power_import_w, _MAX_KW_W),
        power_export_w=min(state.power_export_w, _MAX_KW_W),
        voltage_dv=state.voltage_dv,
        current_a=_triple([(ca + 50) // 100 for ca in state.current_ca]),
        phase_import_w=_triple([min(max(p, 0), _MAX_KW_W) for p in state.phase_power_w]),
        phase_export_w=_triple([min(max(-p, 0), _MAX_KW_W) for p in state.phase_power_w]),
        gas_time=state.gas_capture_ts.astimezone(tz),
        gas_l=state.gas_capture_l % _GAS_WRAP,
    )


def dsmr_values(readings: DsmrReadings) -> dict[str, float | int]:
    """Return the canonical values a telegram of ``readings`` carries."""
    values: dict[str, float | int] = {
        "energy_import_t1_wh": readings.import_wh[0],
        "energy_import_t2_wh": readings.import_wh[1],
        "energy_export_t1_wh": readings.export_wh[0],
        "energy_export_t2_wh": readings.export_wh[1],
        "power_import_w": readings.power_import_w,
        "power_export_w": readings.power_export_w,
    }
    for i in _PHASES:
        values[f"voltage_l{i}_v"] = readings.voltage_dv[i - 1] / 10
    for i in _PHASES:
        values[f"current_l{i}_a"] = readings.current_a[i - 1]
    for i in _PHASES:
        values[f"power_import_l{i}_w"] = readings.phase_import_w[i - 1]
    for i in _PHASES:
        values[f"power_export_l{i}_w"] = readings.phase_export_w[i - 1]
    values["mbus_1_volume_m3"] = readings.gas_l / 1000
    return values


def _timestamp(local: datetime) -> str:
    """Format TST (§6.12): YYMMDDhhmmss and S (summer) or W (winter)."""
    return local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")


def _kwh(wh: int) -> str:
    return f"{wh // 1000:06d}.{wh % 1000:03d}*kWh"


def _kw(w: int) -> str:
    return f"{w // 1000:02d}.{w % 1000:03d}*kW"


def _hex_id(text: str) -> str:
    return text.encode("ascii").hex().upper()


def _lines(readings: DsmrReadings, equipment_id: str, gas_id: str) -> list[str]:
    r = readings
    lines = [
        "1-3:0.2.8(50)",
        f"0-0:1.0.0({_timestamp(r.local_time)})",
        f"0-0:96.1.1({_hex_id(equipment_id)})",
        f"1-0:1.8.1({_kwh(r.import_wh[0])})",
        f"1-0:1.8.2({_kwh(r.import_wh[1])})",
        f"1-0:2.8.1({_kwh(r.export_wh[0])})",
        f"1-0:2.8.2({_kwh(r.export_wh[1])})",
        f"0-0:96.14.0({r.tariff:04d})",
        f"1-0:1.7.0({_kw(r.power_import_w)})",
        f"1-0:2.7.0({_kw(r.power_export_w)})",
        "0-0:96.7.21(00000)",
        "0-0:96.7.9(00000)",
        "1-0:99.97.0(0)(0-0:96.7.19)",
        *(f"1-0:{c}.32.0(00000)" for c in (32, 52, 72)),
        *(f"1-0:{c}.36.0(00000)" for c in (32, 52, 72)),
        "0-0:96.13.0()",
    ]
    lines += (
        f"1-0:{c}.7.0({dv // 10:03d}.{dv % 10}*V)"
        for c, dv in zip((32, 52, 72), r.voltage_dv, strict=True)
    )
    lines += (f"1-0:{c}.7.0({a:03d}*A)" for c, a in zip((31, 51, 71), r.current_a, strict=True))
    lines += (f"1-0:{c}.7.0({_kw(w)})" for c, w in zip((21, 41, 61), r.phase_import_w, strict=True))
    lines += (f"1-0:{c}.7.0({_kw(w)})" for c, w in zip((22, 42, 62), r.phase_export_w, strict=True))
    lines += [
        "0-1:24.1.0(003)",
        f"0-1:96.1.0({_hex_id(gas_id)})",
        f"0-1:24.2.1({_timestamp(r.gas_time)})({r.gas_l // 1000:05d}.{r.gas_l % 1000:03d}*m3)",
    ]
    return lines


def dsmr_telegram(
    readings: DsmrReadings,
    *,
    equipment_id: str,
    gas_equipment_id: str,
    header: str = DEFAULT_HEADER,
) -> bytes:
    """Render a DSMR 5.0.2 telegram, CRC included, as the bytes on the wire.

    Args:
        readings: the values to show.
        equipment_id: the electricity meter's id (sent hex-encoded in 0-0:96.1.1).
        gas_equipment_id: the gas meter's id (hex-encoded in 0-1:96.1.0).
        header: the identification line, starting with ``/``.

    Raises:
        ValueError: if the header does not start with ``/``.
    """
    if not header.startswith("/"):
        raise ValueError("a DSMR header starts with '/'")
    body = "\r\n".join([header, "", *_lines(readings, equipment_id, gas_equipment_id), "!"])
    data = body.encode("ascii")
    return data + f"{crc16_arc(data):04X}\r\n".encode("ascii")
