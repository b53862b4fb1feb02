"""Load shapes as data, per-meter traits from a seed, and the demand/PV/gas curves.

Everything here is a pure function of (traits, local time, slot index): the load model
in ``_load`` integrates it. The numbers are plausible rather than measured: a Central
European household uses 2-5 MWh a year with a night base load of a few hundred watts,
a morning peak and a larger evening peak; PV systems are 4-10 kWp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meterhub.adapters.simulator._noise import between, noise

if TYPE_CHECKING:
    from datetime import datetime

# Independent noise streams, one per quantity.
_TRAIT = 1
_DEMAND = 2
_SPIKE = 3
_SPIKE_SIZE = 4
_CLOUD_DAY = 5
_CLOUD_SLOT = 6
_PF = 7
_SHARE = 8
_GAS = 9

_HOURS_PER_DAY = 24.0
_DAYS_PER_YEAR = 365.25
_SPIKE_SLOTS = 5
"""An appliance (kettle, oven, washing machine heater) runs for five one-minute slots."""
_CLOUD_SLOTS = 15
_SLOTS_PER_DAY = 1440
_HEATING_DAY_START = 6.0
_HEATING_DAY_END = 22.0
"""Heating runs at full demand from 06:00 to 22:00 and set back at night."""
_WEEKEND = 5
"""``datetime.weekday()`` of Saturday."""


@dataclass(frozen=True, slots=True)
class Peak:
    """A Gaussian bump of demand in the daily pattern.

    Attributes:
        hour: local hour of the centre (0-24).
        width_h: standard deviation in hours.
        height_w: extra demand at the centre, before the meter's scale factor.
    """

    hour: float
    width_h: float
    height_w: float


@dataclass(frozen=True, slots=True)
class LoadShape:
    """The daily demand pattern of a class of consumer.

    Attributes:
        name: a label for the shape.
        base_w: range from which each meter draws its constant night base load.
        weekday: peaks on Monday to Friday.
        weekend: peaks on Saturday and Sunday.
        spike_probability: chance that a five-minute slot has a large appliance on.
        spike_w: typical power of that appliance.
    """

    name: str
    base_w: tuple[float, float]
    weekday: tuple[Peak, ...]
    weekend: tuple[Peak, ...]
    spike_probability: float
    spike_w: float


HOUSEHOLD = LoadShape(
    name="household",
    base_w=(100.0, 250.0),
    weekday=(Peak(6.9, 0.7, 650.0), Peak(12.5, 1.0, 250.0), Peak(19.2, 1.5, 950.0)),
    weekend=(Peak(9.3, 1.2, 700.0), Peak(12.8, 1.2, 550.0), Peak(19.0, 1.7, 1000.0)),
    spike_probability=0.03,
    spike_w=2000.0,
)
"""A family home: morning and evening peaks, a later and fuller day at weekends."""

COMMERCIAL = LoadShape(
    name="commercial",
    base_w=(900.0, 2500.0),
    weekday=(Peak(9.5, 1.8, 5500.0), Peak(14.5, 2.0, 5000.0), Peak(7.5, 0.6, 1500.0)),
    weekend=(Peak(11.0, 2.5, 700.0),),
    spike_probability=0.08,
    spike_w=4000.0,
)
"""A shop or office: a business-hours plateau on weekdays, close to base load at weekends."""


@dataclass(frozen=True, slots=True)
class MeterTraits:
    """What makes one simulated site differ from another with the same shape.

    Attributes:
        seed: the seed everything else is derived from.
        shape: the load shape.
        scale: multiplies the shape's peaks.
        base_w: constant base load.
        shift_h: shifts every peak by this many hours.
        shares: the three phases' shares of the load (sum 1).
        voltage_offset_v: each phase's offset from 230 V at this connection point.
        pv_kwp: installed PV peak power, 0 without PV.
        capacitive_var: reactive power of electronics that shows at low load.
        pf_base: typical power factor of the site.
        gas_scale: size of the gas heating.
    """

    seed: int
    shape: LoadShape
    scale: float
    base_w: float
    shift_h: float
    shares: tuple[float, float, float]
    voltage_offset_v: tuple[float, float, float]
    pv_kwp: float
    capacitive_var: float
    pf_base: float
    gas_scale: float


def traits_for(seed: int, shape: LoadShape, *, pv: bool) -> MeterTraits:
    """Draw a meter's traits from its seed."""
    raw = [between(seed, _SHARE, i, 0.29, 0.40) for i in range(3)]
    total = sum(raw)
    site_offset = between(seed, _TRAIT, 1, -2.0, 4.0)
    return MeterTraits(
        seed=seed,
        shape=shape,
        scale=between(seed, _TRAIT, 2, 0.7, 1.4),
        base_w=between(seed, _TRAIT, 3, *shape.base_w),
        shift_h=between(seed, _TRAIT, 4, -0.5, 0.5),
        shares=(raw[0] / total, raw[1] / total, raw[2] / total),
        voltage_offset_v=(
            site_offset + between(seed, _TRAIT, 5, -1.5, 1.5),
            site_offset + between(seed, _TRAIT, 6, -1.5, 1.5),
            site_offset + between(seed, _TRAIT, 7, -1.5, 1.5),
        ),
        pv_kwp=between(seed, _TRAIT, 8, 4.0, 10.0) if pv else 0.0,
        capacitive_var=between(seed, _TRAIT, 9, 15.0, 80.0),
        pf_base=between(seed, _TRAIT, 10, 0.93, 0.98),
        gas_scale=between(seed, _TRAIT, 11, 0.6, 1.5),
    )


def _clock_hours(local: datetime) -> float:
    return local.hour + local.minute / 60.0 + local.second / 3600.0


def _circular_gap(a: float, b: float) -> float:
    gap = abs(a - b) % _HOURS_PER_DAY
    return min(gap, _HOURS_PER_DAY - gap)


def demand_w(traits: MeterTraits, local: datetime, slot: int) -> float:
    """Return the site's consumption in W during one-minute slot ``slot``."""
    shape = traits.shape
    hour = _clock_hours(local) - traits.shift_h
    peaks = shape.weekend if local.weekday() >= _WEEKEND else shape.weekday
    pattern = sum(
        p.height_w * math.exp(-0.5 * (_circular_gap(hour, p.hour) / p.width_h) ** 2) for p in peaks
    )
    seed = traits.seed
    watts = (traits.base_w + traits.scale * pattern) * between(seed, _DEMAND, slot, 0.85, 1.15)
    spike_slot = slot // _SPIKE_SLOTS
    if noise(seed, _SPIKE, spike_slot) < shape.spike_probability:
        watts += shape.spike_w * between(seed, _SPIKE_SIZE, spike_slot, 0.6, 1.2)
    return watts


def pv_w(traits: MeterTraits, local: datetime, slot: int) -> float:
    """Return the PV output in W during ``slot``: a bell between sunrise and sunset.

    Day length and peak height follow the season (about 47 degrees north); clouds
    vary per day and per quarter hour.
    """
    if traits.pv_kwp <= 0.0:
        return 0.0
    dst = local.dst()
    solar_h = _clock_hours(local) - (dst.total_seconds() / 3600.0 if dst else 0.0)
    season = math.sin(2.0 * math.pi * (local.timetuple().tm_yday - 80) / _DAYS_PER_YEAR)
    day_h = 12.1 + 3.7 * season
    x = (solar_h - (12.0 - day_h / 2.0)) / day_h
    if not 0.0 < x < 1.0:
        return 0.0
    height = 0.55 + 0.45 * season
    seed = traits.seed
    cloud = between(seed, _CLOUD_DAY, slot // _SLOTS_PER_DAY, 0.35, 1.0) * between(
        seed, _CLOUD_SLOT, slot // _CLOUD_SLOTS, 0.85, 1.0
    )
    return traits.pv_kwp * 850.0 * height * math.pow(math.sin(math.pi * x), 1.6) * cloud


def power_factor(traits: MeterTraits, slot: int) -> float:
    """Return the power factor during ``slot`` (0.90-0.999)."""
    pf = traits.pf_base + between(traits.seed, _PF, slot, -0.03, 0.03)
    return min(0.999, max(0.9, pf))


def gas_l_per_h(traits: MeterTraits, local: datetime, slot: int) -> float:
    """Return the gas flow in litres per hour: heating in the cold season, hot water daily."""
    heating = max(0.0, math.cos(2.0 * math.pi * (local.timetuple().tm_yday - 15) / _DAYS_PER_YEAR))
    hour = _clock_hours(local)
    daytime = 1.0 if _HEATING_DAY_START <= hour < _HEATING_DAY_END else 0.3
    hot_water = 350.0 * math.exp(-0.5 * (_circular_gap(hour, 7.0) / 0.5) ** 2)
    flow = 20.0 + 900.0 * heating * daytime + hot_water
    return traits.gas_scale * flow * between(traits.seed, _GAS, slot, 0.8, 1.2)
