"""The costs plugin's settings: tariffs, bands and where dynamic prices come from.

Decoded from ``[plugins.costs]`` by the plugin loader; ``CostSettings.check`` refuses what
a type cannot say, naming the key path (``tariffs[1].bands[0].start: ...``).
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date
from decimal import Decimal

import msgspec

_MINUTES_PER_DAY = 1440
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY = "holiday"
DAY_GROUPS = {name: frozenset({number}) for number, name in enumerate(_DAY_NAMES)} | {
    "weekday": frozenset(range(5)),
    "weekend": frozenset({5, 6}),
}
_DAY_TEXT = "mon..sun, weekday, weekend or holiday"
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_CURRENCY = re.compile(r"[A-Z]{3}")


class Band(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A time-of-use band: its price applies on its days between two local wall-clock times.

    A band is matched against the local date of the instant itself, so a wrapping band such
    as 22:00-06:00 on ``mon`` covers Monday 00:00-06:00 and Monday 22:00-24:00. On a date in
    `CostSettings.holidays` only bands that list ``holiday`` match: the holiday replaces the
    weekday, and ``mon``, ``weekday`` or ``weekend`` do not match it. The default days are
    every day, holidays included.
    """

    name: str
    price: Decimal
    """Per kWh."""
    days: list[str] = msgspec.field(default_factory=lambda: [*_DAY_NAMES, HOLIDAY])
    """``mon`` .. ``sun``, ``weekday`` (mon-fri), ``weekend`` (sat, sun), ``holiday``."""
    start: str = "00:00"
    """Local HH:MM, inclusive."""
    end: str = "24:00"
    """Local HH:MM, exclusive; before `start` the band wraps past midnight."""


class Tariff(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The prices from a local date on, until the next tariff's `valid_from`."""

    valid_from: date
    energy_price: Decimal | None = None
    """Per kWh where no band matches."""
    bands: list[Band] = []
    """The first band that matches an instant wins."""
    dynamic: bool = False
    """The import price is the dynamic price of the time slot plus `dynamic_markup`."""
    dynamic_markup: Decimal = Decimal(0)
    feed_in_price: Decimal | None = None
    """Per kWh exported; None: export earns nothing."""
    fixed_per_day: Decimal = Decimal(0)
    fixed_per_month: Decimal = Decimal(0)
    """Spread over the days of each month, so a tariff change mid-month prorates by day."""


class CostSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings of the costs plugin; call `check` after decoding them."""

    currency: str = "EUR"
    """ISO 4217."""
    timezone: str = "Europe/Vienna"
    holidays: list[date] = []
    """Local dates on which only bands listing ``holiday`` match (see `Band`)."""
    tariffs: list[Tariff]
    """In any order; at least one."""
    prices_file: str | None = None
    """A CSV of dynamic prices (see `load_price_csv`)."""
    prices_meter: str | None = None
    """Or: a meter whose readings carry the dynamic price (fed by an input plugin)."""
    prices_metric: str = "price_per_kwh"
    meters: list[str] = []
    """The meters to cost; empty: every meter."""
    import_metric: str = "energy_import_wh"
    export_metric: str = "energy_export_wh"

    def check(self) -> None:
        """Rules the types cannot say; each message starts with the key path.

        Raises:
            ValueError: a rule is broken, e.g. ``tariffs[1].bands[0].start: expected HH:MM,
                got '25:00'``.
        """
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from None
        if not _CURRENCY.fullmatch(self.currency):
            raise ValueError(
                f"currency: expected 3 upper-case letters (ISO 4217), got {self.currency!r}"
            )
        if self.prices_file is not None and self.prices_meter is not None:
            raise ValueError("prices_file: set prices_file or prices_meter, not both")
        if not self.tariffs:
            raise ValueError("tariffs: at least one tariff is needed")
        has_prices = self.prices_file is not None or self.prices_meter is not None
        first_index: dict[date, int] = {}
        for index, tariff in enumerate(self.tariffs):
            where = f"tariffs[{index}]"
            earlier = first_index.setdefault(tariff.valid_from, index)
            if earlier != index:
                raise ValueError(
                    f"{where}.valid_from: {tariff.valid_from} is also the valid_from of "
                    f"tariffs[{earlier}]"
                )
            _check_tariff(tariff, where, has_prices=has_prices)


def _check_tariff(tariff: Tariff, where: str, *, has_prices: bool) -> None:
    for key in ("energy_price", "dynamic_markup", "feed_in_price"):
        _check_finite(getattr(tariff, key), f"{where}.{key}")
    for key in ("fixed_per_day", "fixed_per_month"):
        value: Decimal = getattr(tariff, key)
        _check_finite(value, f"{where}.{key}")
        if value < 0:
            raise ValueError(f"{where}.{key}: must not be negative, got {value}")
    if tariff.dynamic:
        if not has_prices:
            raise ValueError(f"{where}.dynamic: needs prices_file or prices_meter")
        if tariff.energy_price is not None or tariff.bands:
            # a dynamic tariff would silently ignore them: say so instead
            raise ValueError(
                f"{where}.dynamic: a dynamic tariff takes its price from the price table "
                "plus dynamic_markup; remove energy_price and bands"
            )
    elif tariff.dynamic_markup:
        raise ValueError(f"{where}.dynamic_markup: applies only to a tariff with dynamic = true")
    elif tariff.energy_price is None and not tariff.bands:
        raise ValueError(f"{where}: prices nothing: set energy_price, bands or dynamic = true")
    for index, band in enumerate(tariff.bands):
        _check_band(band, f"{where}.bands[{index}]")


def _check_band(band: Band, where: str) -> None:
    _check_finite(band.price, f"{where}.price")
    start = minute_of_day(band.start, f"{where}.start", end=False)
    if start == minute_of_day(band.end, f"{where}.end", end=True):
        raise ValueError(f"{where}.end: equals start {band.start!r}, the band would be empty")
    if not band.days:
        raise ValueError(f"{where}.days: empty, the band would never match")
    for index, day in enumerate(band.days):
        if day != HOLIDAY and day not in DAY_GROUPS:
            raise ValueError(f"{where}.days[{index}]: unknown day {day!r} (expected {_DAY_TEXT})")


def _check_finite(value: Decimal | None, where: str) -> None:
    # msgspec decodes "NaN" and "Infinity" as Decimals; no price is either
    if value is not None and not value.is_finite():
        raise ValueError(f"{where}: expected a finite number, got {value}")


def minute_of_day(text: str, where: str, *, end: bool) -> int:
    if end and text == "24:00":
        return _MINUTES_PER_DAY
    match = _HHMM.fullmatch(text)
    if match is None:
        raise ValueError(f"{where}: expected HH:MM, got {text!r}")
    return int(match[1]) * 60 + int(match[2])
