"""The load model: a site's power curve integrated exactly into energy counters.

Power is constant within one-minute slots aligned to the epoch, so integrating it is
exact integer arithmetic: counters are kept in W·µs and shown as whole Wh, rounded
down, so they never decrease. Voltages get a small per-second noise on top.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from meterhub.adapters.simulator._noise import between
from meterhub.adapters.simulator._shapes import (
    HOUSEHOLD,
    LoadShape,
    MeterTraits,
    demand_w,
    gas_l_per_h,
    power_factor,
    pv_w,
    traits_for,
)

SLOT_US = 60_000_000
"""Power is constant within a one-minute slot."""
CHECKPOINT_US = 86_400_000_000
"""The model remembers its integrals at every UTC midnight, so going back is cheap."""
GAS_CAPTURE_US = 300_000_000
"""DSMR 5 gas meters report the reading of the last whole five minutes."""
_UNIT_US_PER_H = 3_600_000_000
"""W·µs per Wh (and var·µs per varh, L/h·µs per L)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_VOLTAGE = 20
_INIT = 21
_NOMINAL_V = 230.0
_NORMAL_TARIFF_HOURS = range(7, 23)
_SATURDAY = 5


@dataclass(frozen=True, slots=True)
class MeterState:
    """What a meter measures at one instant, in the meter's own integer resolutions.

    Attributes:
        ts: the instant (UTC).
        tariff: 1 (low: nights 23-07 and weekends) or 2 (normal), DSMR numbering.
        energy_import_wh: total imported active energy.
        energy_export_wh: total exported active energy.
        energy_import_tariff_wh: imported energy per tariff (T1, T2).
        energy_export_tariff_wh: exported energy per tariff (T1, T2).
        reactive_energy_import_varh: total inductive reactive energy.
        reactive_energy_export_varh: total capacitive reactive energy.
        power_import_w: active power drawn from the grid (0 while exporting).
        power_export_w: active power fed into the grid (0 while importing).
        phase_power_w: net active power per phase, positive when importing.
        reactive_power_var: net reactive power, positive when inductive.
        voltage_dv: phase voltages in 0.1 V.
        current_ca: phase currents in 0.01 A.
        power_factor_milli: power factor in 0.001.
        gas_l: gas meter reading in litres.
        gas_capture_ts: the last whole five minutes (UTC), when the gas meter reported.
        gas_capture_l: the gas reading at ``gas_capture_ts``.
    """

    ts: datetime
    tariff: int
    energy_import_wh: int
    energy_export_wh: int
    energy_import_tariff_wh: tuple[int, int]
    energy_export_tariff_wh: tuple[int, int]
    reactive_energy_import_varh: int
    reactive_energy_export_varh: int
    power_import_w: int
    power_export_w: int
    phase_power_w: tuple[int, int, int]
    reactive_power_var: int
    voltage_dv: tuple[int, int, int]
    current_ca: tuple[int, int, int]
    power_factor_milli: int
    gas_l: int
    gas_capture_ts: datetime
    gas_capture_l: int


@dataclass(frozen=True, slots=True)
class _Slot:
    """The constant quantities of one one-minute slot."""

    index: int
    tariff: int
    phase_w: tuple[int, int, int]
    net_w: int
    reactive_var: int
    pf_milli: int
    gas_l_per_h: int


class _Totals:
    """Running integrals since the model's start, in unit·µs (integers, exact)."""

    __slots__ = ("export", "gas", "imp", "q_exp", "q_imp")

    def __init__(self) -> None:
        self.imp = [0, 0, 0]
        self.export = [0, 0, 0]
        self.q_imp = 0
        self.q_exp = 0
        self.gas = 0

    def add(self, slot: _Slot, dt_us: int) -> None:
        if slot.net_w >= 0:
            self.imp[slot.tariff] += slot.net_w * dt_us
        else:
            self.export[slot.tariff] -= slot.net_w * dt_us
        if slot.reactive_var >= 0:
            self.q_imp += slot.reactive_var * dt_us
        else:
            self.q_exp -= slot.reactive_var * dt_us
        self.gas += slot.gas_l_per_h * dt_us

    def copy(self) -> _Totals:
        twin = _Totals()
        twin.imp, twin.export = list(self.imp), list(self.export)
        twin.q_imp, twin.q_exp, twin.gas = self.q_imp, self.q_exp, self.gas
        return twin


def to_us(ts: datetime) -> int:
    """Return a timezone-aware instant as integer microseconds since the epoch.

    Raises:
        ValueError: if ``ts`` is naive.
    """
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"timestamp {ts.isoformat()} must be timezone-aware")
    return (ts - _EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    """Return the UTC instant ``us`` microseconds after the epoch."""
    return _EPOCH + timedelta(microseconds=us)


class LoadModel:
    """A site's deterministic power curve and the meter counters it drives.

    ``state_at`` is a pure function of (seed, pv, shape, tz, start, ts): asking for
    instants in any order gives the same answers. It is cheap for non-decreasing
    instants; an earlier instant re-integrates from the last UTC midnight before it
    (exact integer arithmetic, so the result equals integrating from ``start``).
    """

    def __init__(
        self,
        seed: int,
        *,
        start: datetime,
        pv: bool = False,
        shape: LoadShape = HOUSEHOLD,
        tz: str = "Europe/Vienna",
    ) -> None:
        self._traits = traits_for(seed, shape, pv=pv)
        self._tz = ZoneInfo(tz)
        self._start_us = to_us(start)
        self._init = _initial_counters(seed, pv=pv)
        self._cached: _Slot | None = None
        self._reset()

    @property
    def traits(self) -> MeterTraits:
        """The site's traits drawn from the seed."""
        return self._traits

    @property
    def tz(self) -> ZoneInfo:
        """The site's local time zone (daily pattern, tariffs, meter clock)."""
        return self._tz

    def state_at(self, ts: datetime) -> MeterState:
        """Return what the meter measures at ``ts``.

        Raises:
            ValueError: if ``ts`` is naive or before the model's start.
        """
        t_us = to_us(ts)
        if t_us < self._start_us:
            raise ValueError(f"{ts.isoformat()} is before the simulation start")
        if t_us < self._cursor_us:
            self._rewind(t_us)
        self._advance(t_us)
        return self._state(t_us, self._slot(t_us // SLOT_US))

    def _reset(self) -> None:
        self._cursor_us = self._start_us
        self._totals = _Totals()
        self._gas_capture = (self._start_us - self._start_us % GAS_CAPTURE_US, self._init[6])
        self._checkpoints: list[tuple[int, _Totals, tuple[int, int]]] = []

    def _rewind(self, t_us: int) -> None:
        """Go back to the last checkpoint at or before ``t_us`` (or to the start)."""
        index = bisect_right(self._checkpoints, t_us, key=lambda c: c[0])
        if index == 0:
            self._reset()
            return
        del self._checkpoints[index:]
        cursor_us, totals, capture = self._checkpoints[-1]
        self._cursor_us, self._totals, self._gas_capture = cursor_us, totals.copy(), capture

    def _advance(self, t_us: int) -> None:
        totals = self._totals
        while self._cursor_us < t_us:
            index = self._cursor_us // SLOT_US
            end = min(t_us, (index + 1) * SLOT_US)
            totals.add(self._slot(index), end - self._cursor_us)
            self._cursor_us = end
            if end % GAS_CAPTURE_US == 0:
                self._gas_capture = (end, self._init[6] + totals.gas // _UNIT_US_PER_H)
            if end % CHECKPOINT_US == 0:
                self._checkpoints.append((end, totals.copy(), self._gas_capture))

    def _slot(self, index: int) -> _Slot:
        cached = self._cached
        if cached is not None and cached.index == index:
            return cached
        traits = self._traits
        local = datetime.fromtimestamp(index * (SLOT_US // 1_000_000), self._tz)
        demand = demand_w(traits, local, index)
        solar = pv_w(traits, local, index)
        pf = power_factor(traits, index)
        per_phase_pv = solar / 3.0
        phase_w = (
            round(demand * traits.shares[0] - per_phase_pv),
            round(demand * traits.shares[1] - per_phase_pv),
            round(demand * traits.shares[2] - per_phase_pv),
        )
        inductive = demand * math.tan(math.acos(pf))
        slot = _Slot(
            index=index,
            tariff=_tariff(local),
            phase_w=phase_w,
            net_w=sum(phase_w),
            reactive_var=round(inductive - traits.capacitive_var),
            pf_milli=round(pf * 1000.0),
            gas_l_per_h=round(gas_l_per_h(traits, local, index)),
        )
        self._cached = slot
        return slot

    def _state(self, t_us: int, slot: _Slot) -> MeterState:
        totals, init = self._totals, self._init
        voltage_dv = _voltages_dv(self._traits, t_us, slot.phase_w)
        current_ca = tuple(
            round(100.0 * abs(p) / (0.1 * u * slot.pf_milli / 1000.0))
            for p, u in zip(slot.phase_w, voltage_dv, strict=True)
        )
        imp_t = (
            init[0] + totals.imp[1] // _UNIT_US_PER_H,
            init[1] + totals.imp[2] // _UNIT_US_PER_H,
        )
        exp_t = (
            init[2] + totals.export[1] // _UNIT_US_PER_H,
            init[3] + totals.export[2] // _UNIT_US_PER_H,
        )
        capture_us, capture_l = self._gas_capture
        return MeterState(
            ts=from_us(t_us),
            tariff=slot.tariff,
            energy_import_wh=init[0] + init[1] + (totals.imp[1] + totals.imp[2]) // _UNIT_US_PER_H,
            energy_export_wh=init[2]
            + init[3]
            + (totals.export[1] + totals.export[2]) // _UNIT_US_PER_H,
            energy_import_tariff_wh=imp_t,
            energy_export_tariff_wh=exp_t,
            reactive_energy_import_varh=init[4] + totals.q_imp // _UNIT_US_PER_H,
            reactive_energy_export_varh=init[5] + totals.q_exp // _UNIT_US_PER_H,
            power_import_w=max(slot.net_w, 0),
            power_export_w=max(-slot.net_w, 0),
            phase_power_w=slot.phase_w,
            reactive_power_var=slot.reactive_var,
            voltage_dv=voltage_dv,
            current_ca=(current_ca[0], current_ca[1], current_ca[2]),
            power_factor_milli=slot.pf_milli,
            gas_l=init[6] + totals.gas // _UNIT_US_PER_H,
            gas_capture_ts=from_us(capture_us),
            gas_capture_l=capture_l,
        )


def _tariff(local: datetime) -> int:
    """Dutch tariffs: 2 (normal) on weekdays 07-23 local time, 1 (low) otherwise."""
    if local.weekday() < _SATURDAY and local.hour in _NORMAL_TARIFF_HOURS:
        return 2
    return 1


def _voltages_dv(
    traits: MeterTraits, t_us: int, phase_w: tuple[int, int, int]
) -> tuple[int, int, int]:
    """Phase voltages in 0.1 V: 230 V, the connection's offset, load drop, noise per second."""
    second = t_us // 1_000_000
    volts = [
        _NOMINAL_V
        + traits.voltage_offset_v[i]
        - 0.6 * phase_w[i] / 1000.0
        + between(traits.seed, _VOLTAGE, second * 4 + i, -1.2, 1.2)
        for i in range(3)
    ]
    return (round(volts[0] * 10.0), round(volts[1] * 10.0), round(volts[2] * 10.0))


def _initial_counters(seed: int, *, pv: bool) -> tuple[int, int, int, int, int, int, int]:
    """Register readings at the start, so meters do not all read zero.

    Returns import T1, import T2, export T1, export T2 (Wh), reactive import and
    export (varh) and gas (litres).
    """
    imported = round(between(seed, _INIT, 0, 1.0e6, 2.0e7))
    low_share = between(seed, _INIT, 1, 0.35, 0.55)
    exported = round(between(seed, _INIT, 2, 1.0e6, 1.5e7)) if pv else 0
    export_low = round(exported * between(seed, _INIT, 3, 0.1, 0.3))
    return (
        round(imported * low_share),
        imported - round(imported * low_share),
        export_low,
        exported - export_low,
        round(imported * between(seed, _INIT, 4, 0.01, 0.05)),
        round(imported * between(seed, _INIT, 5, 0.02, 0.2)),
        round(between(seed, _INIT, 6, 1.0e5, 9.0e6)),
    )
