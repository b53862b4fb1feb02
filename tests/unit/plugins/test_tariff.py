"""The tariff engine of the costs plugin.

Expected sums are computed here on their own: by hand, or by a per-minute loop with a
price function written in the test, never by the code under test.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from meterhub.plugins.costs import (
    CostSettings,
    IntervalCost,
    PriceTable,
    TariffPlan,
    interval_cost,
    load_price_csv,
    money,
    summarize,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

D = Decimal
VIENNA = ZoneInfo("Europe/Vienna")
HOUR = timedelta(hours=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Vienna wall-clock time as a UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=VIENNA).astimezone(UTC)


def plan_of(table: dict[str, Any]) -> TariffPlan:
    # the way the plugin loader decodes a TOML table
    return TariffPlan(msgspec.convert(table, CostSettings, strict=False))


def per_minute(
    start: datetime, minutes: int, wh: float, price: Callable[[datetime], Decimal | None]
) -> tuple[Decimal, int]:
    """The cost of ``wh`` spread over ``minutes``, and the minutes without a price."""
    total, unpriced = Decimal(0), 0
    with localcontext(prec=40):
        share = Decimal(str(wh)) / minutes / 1000
        for minute in range(minutes):
            value = price(start + timedelta(minutes=minute))
            if value is None:
                unpriced += 1
            else:
                total += share * value
    return total, unpriced


def close(got: Decimal, want: Decimal) -> bool:
    return abs(got - want) < D("1e-20")


# --- settings ---------------------------------------------------------------------------

TOML = """
currency = "EUR"
holidays = [2026-01-06, "2026-05-01"]

[[tariffs]]
valid_from = "2026-07-01"
energy_price = "0.2512"
feed_in_price = 0.08
fixed_per_month = 12

[[tariffs]]
valid_from = 2026-01-01
bands = [{ name = "night", price = "0.15", days = ["weekday"], start = "22:00", end = "06:00" }]
energy_price = 0.3
"""


def test_convert_accepts_toml_strings_numbers_and_dates() -> None:
    settings = msgspec.convert(tomllib.loads(TOML), CostSettings, strict=False)
    settings.check()
    later, earlier = settings.tariffs
    assert later.energy_price == D("0.2512")
    assert later.feed_in_price == D("0.08")  # a TOML float, not 0.08000000000000000166...
    assert later.fixed_per_month == D(12)
    assert later.valid_from == date(2026, 7, 1)
    assert earlier.valid_from == date(2026, 1, 1)
    assert earlier.bands[0].price == D("0.15")
    assert settings.holidays == [date(2026, 1, 6), date(2026, 5, 1)]
    assert all(isinstance(t.energy_price, Decimal) for t in settings.tariffs)
    # tariffs in any order: the plan sorts them
    assert [t.valid_from for t in TariffPlan(settings).tariffs] == [
        date(2026, 1, 1),
        date(2026, 7, 1),
    ]


def test_convert_rejects_unknown_keys_and_bad_numbers() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `energy`"):
        msgspec.convert(
            {"tariffs": [{"valid_from": "2026-01-01", "energy": "1"}]}, CostSettings, strict=False
        )
    with pytest.raises(msgspec.ValidationError, match=r"\$\.tariffs\[0\]\.energy_price"):
        msgspec.convert(
            {"tariffs": [{"valid_from": "2026-01-01", "energy_price": "cheap"}]},
            CostSettings,
            strict=False,
        )


def flat(**extra: Any) -> dict[str, Any]:
    return {"valid_from": "2026-01-01", "energy_price": "0.30", **extra}


BAND = {"name": "night", "price": "0.15", "start": "22:00", "end": "06:00"}

SETTINGS_ERRORS = [
    (
        {"timezone": "Mars/Olympus", "tariffs": [flat()]},
        "timezone: unknown time zone 'Mars/Olympus'",
    ),
    (
        {"currency": "eur", "tariffs": [flat()]},
        "currency: expected 3 upper-case letters (ISO 4217), got 'eur'",
    ),
    ({"tariffs": []}, "tariffs: at least one tariff is needed"),
    (
        {"tariffs": [flat(), flat(energy_price="0.2")]},
        "tariffs[1].valid_from: 2026-01-01 is also the valid_from of tariffs[0]",
    ),
    (
        {"tariffs": [{"valid_from": "2026-01-01"}]},
        "tariffs[0]: prices nothing: set energy_price, bands or dynamic = true",
    ),
    (
        {"tariffs": [flat(), flat(valid_from="2026-07-01", bands=[{**BAND, "start": "25:00"}])]},
        "tariffs[1].bands[0].start: expected HH:MM, got '25:00'",
    ),
    (
        {"tariffs": [flat(bands=[{**BAND, "start": "24:00"}])]},
        "tariffs[0].bands[0].start: expected HH:MM, got '24:00'",
    ),
    (
        {"tariffs": [flat(bands=[{**BAND, "end": "6:00"}])]},
        "tariffs[0].bands[0].end: expected HH:MM, got '6:00'",
    ),
    (
        {"tariffs": [flat(bands=[{**BAND, "end": "22:00"}])]},
        "tariffs[0].bands[0].end: equals start '22:00'",
    ),
    (
        {"tariffs": [flat(bands=[{**BAND, "days": ["sat", "monday"]}])]},
        "tariffs[0].bands[0].days[1]: unknown day 'monday'",
    ),
    (
        {"tariffs": [flat(bands=[{**BAND, "days": []}])]},
        "tariffs[0].bands[0].days: empty",
    ),
    (
        {"tariffs": [flat(fixed_per_month="-1.5")]},
        "tariffs[0].fixed_per_month: must not be negative, got -1.5",
    ),
    ({"tariffs": [flat(fixed_per_day=-1)]}, "tariffs[0].fixed_per_day: must not be negative"),
    (
        {"tariffs": [{"valid_from": "2026-01-01", "dynamic": True}]},
        "tariffs[0].dynamic: needs prices_file or prices_meter",
    ),
    (
        {"prices_file": "p.csv", "prices_meter": "spot", "tariffs": [flat()]},
        "prices_file: set prices_file or prices_meter, not both",
    ),
    (
        {"prices_file": "p.csv", "tariffs": [flat(dynamic=True)]},
        "tariffs[0].dynamic: a dynamic tariff takes its price from the price table",
    ),
    ({"tariffs": [flat(dynamic_markup="0.01")]}, "tariffs[0].dynamic_markup: applies only"),
    ({"tariffs": [flat(energy_price="NaN")]}, "tariffs[0].energy_price: expected a finite number"),
    (
        {"tariffs": [flat(bands=[{**BAND, "price": "Infinity"}])]},
        "tariffs[0].bands[0].price: expected a finite number",
    ),
]


@pytest.mark.parametrize(("table", "message"), SETTINGS_ERRORS)
def test_settings_errors_name_the_key(table: dict[str, Any], message: str) -> None:
    settings = msgspec.convert(table, CostSettings, strict=False)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        settings.check()
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        TariffPlan(settings)  # a plan is never built from unchecked settings


def test_settings_that_are_fine_pass() -> None:
    plan_of({"prices_meter": "spot", "tariffs": [{"valid_from": "2026-01-01", "dynamic": True}]})
    plan_of({"tariffs": [flat(bands=[{**BAND, "start": "00:00", "end": "24:00"}])]})


# --- validity ---------------------------------------------------------------------------


def test_a_new_price_applies_from_local_midnight_never_before() -> None:
    plan = plan_of(
        {
            "tariffs": [
                {"valid_from": "2026-07-01", "energy_price": "0.30"},
                {"valid_from": "2026-01-01", "energy_price": "0.20"},
            ]
        }
    )
    midnight = utc("2026-06-30T22:00:00Z")  # 2026-07-01 00:00 in Vienna (CEST)
    assert plan.import_price(midnight - timedelta(microseconds=1), None) == D("0.20")
    assert plan.import_price(midnight, None) == D("0.30")
    assert plan.boundaries(midnight - HOUR, midnight + HOUR) == [midnight]
    # two hours across that midnight, 1 kWh in each
    cost = interval_cost(plan, None, midnight - HOUR, 7200, import_wh=2000, export_wh=0)
    assert cost.energy_cost == D("0.50")
    assert cost.unpriced_wh == 0


def test_before_the_first_tariff_nothing_is_priced() -> None:
    plan = plan_of({"tariffs": [{"valid_from": "2026-01-01", "energy_price": "0.20"}]})
    first = utc("2025-12-31T23:00:00Z")
    assert plan.starts_at == first
    assert plan.tariff_at(first - timedelta(seconds=1)) is None
    assert plan.import_price(first - timedelta(seconds=1), None) is None
    cost = interval_cost(plan, None, first - HOUR / 2, 3600, import_wh=1000, export_wh=10)
    assert cost.unpriced_wh == 500.0
    assert cost.energy_cost == D("0.10")


# --- time of use ------------------------------------------------------------------------

TOU = {
    "holidays": ["2026-01-06"],
    "tariffs": [
        {
            "valid_from": "2026-01-01",
            "bands": [
                {"name": "holiday", "price": "0.10", "days": ["holiday"]},
                {**BAND, "days": ["weekday"]},
                {
                    "name": "day",
                    "price": "0.25",
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "06:00",
                    "end": "22:00",
                },
                {"name": "weekend", "price": "0.12", "days": ["weekend"]},
            ],
        }
    ],
}


def tou_price(instant: datetime) -> Decimal:
    wall = instant.astimezone(VIENNA)
    if wall.date() == date(2026, 1, 6):
        return D("0.10")
    if wall.weekday() >= 5:
        return D("0.12")
    return D("0.25") if 6 <= wall.hour < 22 else D("0.15")


@pytest.mark.parametrize(
    ("wall", "price"),
    [
        ((2026, 1, 12, 5, 59), "0.15"),  # Monday night
        ((2026, 1, 12, 6, 0), "0.25"),
        ((2026, 1, 12, 21, 59), "0.25"),
        ((2026, 1, 12, 22, 0), "0.15"),
        ((2026, 1, 10, 12, 0), "0.12"),  # Saturday
        ((2026, 1, 10, 23, 0), "0.12"),  # the weekday night band does not cover Saturday
        ((2026, 1, 6, 12, 0), "0.10"),  # a Tuesday, but a holiday
        ((2026, 1, 6, 23, 30), "0.10"),
        ((2026, 1, 7, 0, 30), "0.15"),
    ],
)
def test_time_of_use_bands(wall: tuple[int, ...], price: str) -> None:
    assert plan_of(TOU).import_price(local(*wall), None) == D(price)


def test_a_holiday_replaces_its_weekday() -> None:
    plan = plan_of(
        {
            "holidays": ["2026-01-06"],  # a Tuesday
            "tariffs": [
                flat(
                    bands=[
                        {"name": "tuesday", "price": "0.21", "days": ["tue"]},
                        {"name": "weekday", "price": "0.22", "days": ["weekday"]},
                        {"name": "nights", "price": "0.11", "start": "22:00", "end": "06:00"},
                    ]
                )
            ],
        }
    )
    assert plan.import_price(local(2026, 1, 13, 12), None) == D("0.21")  # an ordinary Tuesday
    assert plan.import_price(local(2026, 1, 6, 12), None) == D("0.30")  # no band names holidays
    # a band without days means every day, holidays included
    assert plan.import_price(local(2026, 1, 6, 23), None) == D("0.11")
    assert plan.boundaries(local(2026, 1, 6), local(2026, 1, 7)) == [
        local(2026, 1, 6, 6),
        local(2026, 1, 6, 22),
    ]


def test_an_interval_across_a_band_edge_is_split() -> None:
    plan = plan_of(TOU)
    start = local(2026, 1, 12, 21, 30)
    assert plan.boundaries(start, start + HOUR) == [local(2026, 1, 12, 22)]
    cost = interval_cost(plan, None, start, 3600, import_wh=1000, export_wh=0)
    assert cost.energy_cost == D("0.5") * D("0.25") + D("0.5") * D("0.15")


@pytest.mark.parametrize(
    ("wall", "hours", "want"),
    [
        ((2026, 1, 9, 23), 2, "0.27"),  # Friday night, then Saturday
        ((2026, 1, 5, 21), 4, "0.65"),  # Monday day, Monday night, the holiday
    ],
)
def test_intervals_across_midnight_take_the_next_days_bands(
    wall: tuple[int, ...], hours: int, want: str
) -> None:
    cost = interval_cost(plan_of(TOU), None, local(*wall), hours * 3600, import_wh=hours * 1000.0,
                         export_wh=0)  # fmt: skip
    assert cost.energy_cost == D(want)


def test_a_long_interval_costs_the_per_minute_sum() -> None:
    start = local(2026, 1, 2, 0, 0)
    minutes = 7 * 24 * 60  # Fri 2026-01-02 to Fri 2026-01-09, the holiday inside
    cost = interval_cost(plan_of(TOU), None, start, minutes * 60, import_wh=12345.6, export_wh=0)
    want, unpriced = per_minute(start, minutes, 12345.6, tou_price)
    assert unpriced == 0
    assert close(cost.energy_cost, want)


def test_interval_cost_keeps_full_precision() -> None:
    plan = plan_of({"tariffs": [flat(energy_price="0.123456789")]})
    cost = interval_cost(plan, None, local(2026, 2, 1), 60, import_wh=1.0, export_wh=0)
    assert cost.energy_cost == D("0.000123456789")


def test_interval_cost_rejects_bad_input() -> None:
    plan = plan_of({"tariffs": [flat()]})
    with pytest.raises(ValueError, match="start: expected a time with a UTC offset"):
        interval_cost(plan, None, datetime(2026, 2, 1), 60, import_wh=1, export_wh=0)  # noqa: DTZ001
    with pytest.raises(ValueError, match="seconds: expected a positive length"):
        interval_cost(plan, None, local(2026, 2, 1), 0, import_wh=1, export_wh=0)
    with pytest.raises(ValueError, match="export_wh: expected a finite energy"):
        interval_cost(plan, None, local(2026, 2, 1), 60, import_wh=1, export_wh=float("nan"))


# --- daylight saving time ---------------------------------------------------------------

DST = {
    "tariffs": [
        {
            "valid_from": "2026-01-01",
            "energy_price": "0.30",
            "bands": [BAND],
            "fixed_per_day": "0.50",
        },
    ]
}


@pytest.mark.parametrize(
    ("day", "hours", "edges", "energy"),
    [
        # spring: 02:00 CET jumps to 03:00 CEST at 01:00Z; night = local 0,1,3,4,5 and 22,23
        (date(2026, 3, 29), 23, ["2026-03-29T04:00Z", "2026-03-29T20:00Z"], "5.85"),
        # autumn: 03:00 CEST goes back to 02:00 CET at 01:00Z; night = 0,1,2,2,3,4,5 and 22,23
        (date(2026, 10, 25), 25, ["2026-10-25T05:00Z", "2026-10-25T21:00Z"], "6.15"),
    ],
)
def test_dst_days(day: date, hours: int, edges: list[str], energy: str) -> None:
    plan = plan_of(DST)
    start = local(day.year, day.month, day.day)
    end = local(day.year, day.month, day.day + 1)
    assert end - start == hours * HOUR
    assert plan.boundaries(start, end) == [utc(edge) for edge in edges]
    night_starts = utc(edges[1])  # local 22:00
    assert plan.import_price(night_starts - timedelta(seconds=1), None) == D("0.30")
    assert plan.import_price(night_starts, None) == D("0.15")

    costs = [interval_cost(plan, None, start + n * HOUR, 3600, import_wh=1000, export_wh=0)
             for n in range(hours)]  # fmt: skip
    by_hour = summarize(plan, costs, "hour", start, end)
    (by_day,) = summarize(plan, costs, "day", start, end)
    assert [p.period_start for p in by_hour] == [start + n * HOUR for n in range(hours)]
    assert by_day.period_start == start
    assert by_day.energy_cost == D(energy) == sum(p.energy_cost for p in by_hour)
    assert by_day.import_wh == hours * 1000 == sum(p.import_wh for p in by_hour)
    assert by_day.fixed_cost == D("0.500000")
    # 0.50 / 23 = 0.0217391...; 0.50 / 25 = 0.02
    per_hour = {23: D("0.021739"), 25: D("0.020000")}[hours]
    assert {p.fixed_cost for p in by_hour} == {per_hour}
    assert abs(sum(p.fixed_cost for p in by_hour) - D("0.5")) <= hours * D("0.0000005")
    assert by_day.net == by_day.energy_cost + by_day.fixed_cost


SKIPPED_EDGE = {
    "tariffs": [
        {"valid_from": "2026-01-01", "energy_price": "0.30",
         "bands": [{"name": "odd", "price": "0.10", "start": "02:30", "end": "04:00"}]},
    ]
}  # fmt: skip


def skipped_edge_price(instant: datetime) -> Decimal:
    wall = instant.astimezone(VIENNA)
    return D("0.10") if (2, 30) <= (wall.hour, wall.minute) < (4, 0) else D("0.30")


@pytest.mark.parametrize(
    ("day", "edges"),
    [
        # local 02:30 does not exist: the band starts when the clock jumps to 03:00 CEST
        (date(2026, 3, 29), ["2026-03-29T01:00Z", "2026-03-29T02:00Z"]),
        # local 02:30 happens twice; between, the clock goes back to 02:00
        (date(2026, 10, 25),
         ["2026-10-25T00:30Z", "2026-10-25T01:00Z", "2026-10-25T01:30Z", "2026-10-25T03:00Z"]),
    ],
)  # fmt: skip
def test_band_edges_inside_a_dst_change(day: date, edges: list[str]) -> None:
    plan = plan_of(SKIPPED_EDGE)
    start = local(day.year, day.month, day.day)
    end = local(day.year, day.month, day.day + 1)
    assert plan.boundaries(start, end) == [utc(edge) for edge in edges]
    minutes = (end - start) // timedelta(minutes=1)
    cost = interval_cost(plan, None, start, minutes * 60, import_wh=5000, export_wh=0)
    want, _ = per_minute(start, minutes, 5000, skipped_edge_price)
    assert close(cost.energy_cost, want)


# --- dynamic prices ---------------------------------------------------------------------


def quarter_price(index: int) -> Decimal:
    return D("0.05") + D(index % 17) / 1000 - D("0.004") * (index % 5)


def write_quarters(path: Path, first: datetime, count: int) -> dict[datetime, Decimal]:
    """One price per quarter-hour from ``first``, written with Vienna offsets."""
    lines = ["# spot prices, EUR/kWh", "start,price", ""]
    prices = {}
    for index in range(count):
        start = first + index * timedelta(minutes=15)
        prices[start] = quarter_price(index)
        lines.append(f"{start.astimezone(VIENNA).isoformat()},{prices[start]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return prices


DYNAMIC = {
    "prices_file": "prices.csv",
    "tariffs": [
        {"valid_from": "2026-01-01", "dynamic": True, "dynamic_markup": "0.012",
         "feed_in_price": "0.07"},
    ],
}  # fmt: skip


def test_quarter_hour_prices_from_csv(tmp_path: Path) -> None:
    first = local(2026, 3, 28)  # a normal day, then the 23-hour day
    path = tmp_path / "prices.csv"
    prices = write_quarters(path, first, 96 + 92)
    assert b"2026-03-29T01:45:00+01:00," in path.read_bytes()
    assert b"2026-03-29T03:00:00+02:00," in path.read_bytes()
    table = load_price_csv(path)
    assert len(table) == 188
    day_two, day_three = local(2026, 3, 29), local(2026, 3, 30)
    assert len(table.boundaries(first, day_two)) + 1 == 96  # slots inside the day
    assert len(table.boundaries(day_two, day_three)) + 1 == 92
    # the last slot lasts as long as the one before it
    last = max(prices)
    assert table.price_at(last + timedelta(seconds=899)) == prices[last]
    assert table.price_at(last + timedelta(seconds=900)) is None
    assert table.price_at(first - timedelta(microseconds=1)) is None

    plan = plan_of(DYNAMIC)
    start = utc("2026-03-29T00:00:00Z")  # local 01:00 CET to 03:00 CEST, 4 slots
    cost = interval_cost(plan, table, start, 3600, import_wh=1000, export_wh=400)
    want = sum(
        D("0.25") * (prices[start + n * timedelta(minutes=15)] + D("0.012")) for n in range(4)
    )
    assert cost.energy_cost == want
    assert cost.revenue == D("0.4") * D("0.07")
    assert cost.unpriced_wh == 0

    def dynamic_price(instant: datetime) -> Decimal | None:
        slot = instant.replace(minute=instant.minute // 15 * 15, second=0, microsecond=0)
        return None if slot not in prices else prices[slot] + D("0.012")

    long_start = first + timedelta(minutes=7)
    minutes = 2 * 24 * 60
    cost = interval_cost(plan, table, long_start, minutes * 60, import_wh=30000, export_wh=0)
    want, unpriced = per_minute(long_start, minutes, 30000, dynamic_price)
    assert close(cost.energy_cost, want)
    assert unpriced == 7 + 60  # past the table's end: the 2nd day has 23 hours
    assert cost.unpriced_wh == pytest.approx(30000 * unpriced / minutes)


def test_a_missing_slot_leaves_energy_unpriced(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text(
        "start,end,price\n"
        "2026-02-02T10:00:00Z,2026-02-02T10:15:00Z,0.10\n"
        "2026-02-02T10:15:00Z,2026-02-02T10:30:00Z,0.20\n"
        "# 10:30 to 10:45 is missing\n"
        "2026-02-02T10:45:00Z,2026-02-02T11:00:00Z,0.40\n",
        encoding="utf-8",
    )
    table = load_price_csv(path)
    assert len(table) == 3
    plan = plan_of(DYNAMIC)
    cost = interval_cost(plan, table, utc("2026-02-02T10:00:00Z"), 3600, import_wh=1000,
                         export_wh=0)  # fmt: skip
    assert cost.unpriced_wh == 250.0
    assert cost.energy_cost == D("0.25") * (D("0.112") + D("0.212") + D("0.412"))
    without = interval_cost(plan, None, utc("2026-02-02T10:00:00Z"), 60, import_wh=5, export_wh=0)
    assert without.unpriced_wh == 5
    assert without.energy_cost == 0


def test_price_table_rules() -> None:
    start = utc("2026-02-02T10:00:00Z")
    table = PriceTable([(start + HOUR, 3600, D("0.2")), (start, 900, D("0.1"))])  # any order
    assert len(table) == 2
    assert table.price_at(start) == D("0.1")
    assert table.price_at(start + timedelta(minutes=15)) is None  # the gap
    assert table.price_at(start + timedelta(minutes=90)) == D("0.2")
    assert table.boundaries(start, start + 2 * HOUR) == [
        start + timedelta(minutes=15),
        start + HOUR,
    ]
    assert table.boundaries(start - HOUR, start + timedelta(minutes=5)) == [start]
    with pytest.raises(ValueError, match="price slots overlap"):
        PriceTable([(start, 3600, D("0.1")), (start + timedelta(minutes=30), 900, D("0.1"))])
    with pytest.raises(ValueError, match="naive"):
        PriceTable([(datetime(2026, 1, 1), 900, D("0.1"))])  # noqa: DTZ001
    with pytest.raises(ValueError, match="lasts 0 s"):
        PriceTable([(start, 0, D("0.1"))])


def test_a_lone_row_lasts_an_hour(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("Start , Price\n2026-02-02T10:00:00+01:00, -0.01\n", encoding="utf-8")
    table = load_price_csv(path)
    assert table.price_at(utc("2026-02-02T09:59:59Z")) == D("-0.01")
    assert table.price_at(utc("2026-02-02T10:00:00Z")) is None


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("start,price\n2026-02-02T10:00:00,0.1\n", 2, "has no UTC offset"),
        ("start,price\n\n# c\n2026-02-02T10:00Z,0.1\n2026-02-02T10:15Z,0,1\n", 5, "expected 2 fields"),
        ("start,price\n2026-02-02T10:00Z,0.1\n2026-02-02T10:15Z,abc\n", 3, "price: expected a number, got 'abc'"),
        ("start,price\n2026-02-02T10:00Z,0.1\n2026-02-02T10:15Z,NaN\n", 3, "expected a finite number"),
        ("start,price\nyesterday,0.1\n", 2, "start: expected an ISO 8601 time, got 'yesterday'"),
        ("start,price\n2026-02-02T10:15Z,0.1\n2026-02-02T10:00Z,0.2\n", 3, "rows must be sorted"),
        ("start,price\n2026-02-02T10:15Z,0.1\n2026-02-02T10:15Z,0.2\n", 3, "rows must be sorted"),
        ("start,end,price\n2026-02-02T10:00Z,2026-02-02T11:00Z,0.1\n2026-02-02T10:30Z,2026-02-02T11:30Z,0.1\n",
         3, "slots must not overlap"),
        ("start,end,price\n2026-02-02T10:00Z,2026-02-02T10:00Z,0.1\n", 2, "not after its start"),
        ("# prices\ntime,price\n", 2, "expected the header 'start,price' or 'start,end,price'"),
    ],
)  # fmt: skip
def test_price_csv_errors_name_the_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        ValueError, match=re.escape(f"{path}, line {line}: ") + ".*" + re.escape(reason)
    ):
        load_price_csv(path)


def test_an_empty_price_csv_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}: empty")):
        load_price_csv(path)


# --- feed-in, net and months ------------------------------------------------------------

MONTHS = {
    "tariffs": [
        {"valid_from": "2026-01-16", "energy_price": "0.25", "feed_in_price": "0.10",
         "fixed_per_month": "62"},
        {"valid_from": "2026-01-01", "energy_price": "0.30", "feed_in_price": "0.08",
         "fixed_per_month": "31"},
    ]
}  # fmt: skip


def daily_costs(plan: TariffPlan, first: date, days: int) -> list[IntervalCost]:
    out = []
    for n in range(days):
        day = first + timedelta(days=n)
        after = day + timedelta(days=1)
        start = local(day.year, day.month, day.day)
        seconds = int((local(after.year, after.month, after.day) - start).total_seconds())
        out.append(interval_cost(plan, None, start, seconds, import_wh=2000, export_wh=1000))
    return out


def test_month_summaries_prorate_fixed_charges_across_a_tariff_change() -> None:
    plan = plan_of(MONTHS)
    costs = daily_costs(plan, date(2026, 1, 1), 31 + 28)
    january, february = summarize(plan, costs, "month", local(2025, 12, 1), local(2026, 3, 1))
    assert january.period_start == utc("2025-12-31T23:00:00Z")  # December has no tariff
    # 15 days at 31/31 a day, 16 days at 62/31 a day
    assert january.fixed_cost == D("47.000000")
    assert january.energy_cost == D("17.000000")  # 15 * 2 kWh * 0.30 + 16 * 2 kWh * 0.25
    assert january.revenue == D("2.800000")  # 15 * 1 kWh * 0.08 + 16 * 1 kWh * 0.10
    assert january.net == D("61.200000")
    assert january.import_wh == 62000
    assert february.period_start == utc("2026-01-31T23:00:00Z")
    assert february.fixed_cost == D("62.000000")
    assert february.net == D("62") + D("14.0") - D("2.8")


def test_periods_without_intervals_are_listed_from_the_first_tariff_on() -> None:
    plan = plan_of(MONTHS)
    days = summarize(plan, [], "day", local(2025, 12, 30), local(2026, 1, 17))
    assert [p.period_start for p in days] == [local(2026, 1, d) for d in range(1, 17)]
    assert days[14].fixed_cost == D("1.000000")  # Jan 15: 31 / 31
    assert days[15].fixed_cost == D("2.000000")  # Jan 16: 62 / 31
    assert all(p.energy_cost == 0 and p.import_wh == 0 for p in days)


def test_intervals_before_the_first_tariff_still_show_as_unpriced() -> None:
    plan = plan_of(MONTHS)
    start = local(2025, 12, 31, 23)
    cost = interval_cost(plan, None, start, 3600, import_wh=700, export_wh=100)
    assert cost.energy_cost == cost.revenue == 0
    (hour,) = summarize(plan, [cost], "hour", start, start + HOUR)
    assert hour.unpriced_wh == 700
    assert hour.fixed_cost == hour.net == 0


def test_a_period_cut_by_the_range_gets_its_part_of_the_fixed_charge() -> None:
    plan = plan_of(MONTHS)
    (day,) = summarize(plan, [], "day", local(2026, 1, 20, 12), local(2026, 1, 21))
    assert day.period_start == local(2026, 1, 20)
    assert day.fixed_cost == D("1.000000")  # half of 62 / 31


def test_feed_in_without_a_price_earns_nothing() -> None:
    plan = plan_of({"tariffs": [flat()]})
    cost = interval_cost(plan, None, local(2026, 3, 3), 900, import_wh=0, export_wh=500)
    assert cost.revenue == 0
    assert cost.energy_cost == 0
    (period,) = summarize(plan, [cost], "hour", local(2026, 3, 3), local(2026, 3, 3, 1))
    assert period.export_wh == 500
    assert period.net == period.energy_cost + period.fixed_cost - period.revenue == 0


def test_summarize_rejects_an_unknown_period() -> None:
    plan = plan_of({"tariffs": [flat()]})
    with pytest.raises(ValueError, match="period: expected hour, day or month, got 'week'"):
        summarize(plan, [], "week", local(2026, 3, 3), local(2026, 3, 4))  # type: ignore[arg-type]


def test_money_rounds_half_even() -> None:
    assert money(D("0.125")) == D("0.12")
    assert money(D("0.135")) == D("0.14")
    assert money(D("1.23456"), 4) == D("1.2346")
    assert str(money(D(3))) == "3.00"
