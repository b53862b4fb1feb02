"""The costs plugin over a real SQLite store: its report routes and its live processor.

Expected amounts are computed here from the tariffs read by hand (a price per minute of
Vienna wall-clock time, Decimal arithmetic), never by the plugin's tariff engine.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import warnings
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar import Litestar, Router
from litestar.testing import AsyncTestClient

from meterhub.actors import StoreData, StoreState
from meterhub.adapters.stores import ConsumptionRow, SqliteStore
from meterhub.model import Consumption, ConsumptionFlag, Reading
from meterhub.plugins.costs import CostProcessor, CostRoutes, CostSettings
from meterhub.plugins.costs._source import table_from_points

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping
    from pathlib import Path

INFERRED = "declared using deprecated inferred style"

D = Decimal
VIENNA = ZoneInfo("Europe/Vienna")
MINUTE = timedelta(minutes=1)
QUARTER = timedelta(minutes=15)
METER = "m1"
IMPORT, EXPORT = "energy_import_wh", "energy_export_wh"
PREFIX = "/api/v1/plugins/costs"
DAY1, DAY2 = date(2026, 1, 15), date(2026, 1, 16)
"""Two January days (no DST); the second tariff applies from DAY2."""

TARIFFS: dict[str, Any] = {
    "timezone": "Europe/Vienna",
    "currency": "EUR",
    "holidays": ["2026-01-06"],
    "meters": [METER],
    "tariffs": [  # out of order on purpose: the plugin sorts them
        {
            "valid_from": "2026-01-16",
            "energy_price": "0.25",
            "bands": [{"name": "night", "price": "0.12", "start": "22:10", "end": "06:00"}],
            "feed_in_price": "0.07",
            "fixed_per_day": "0.55",
            "fixed_per_month": "6.20",
        },
        {
            "valid_from": "2026-01-01",
            "energy_price": "0.20",
            "bands": [{"name": "night", "price": "0.10", "start": "22:00", "end": "06:00"}],
            "feed_in_price": "0.08",
            "fixed_per_day": "0.50",
            "fixed_per_month": "3.10",
        },
    ],
}


def hand_import_price(wall: datetime) -> Decimal:
    """TARIFFS read by hand: the import price per kWh at a Vienna wall-clock time."""
    minute = wall.hour * 60 + wall.minute
    if wall.date() >= DAY2:
        return D("0.12") if minute >= 22 * 60 + 10 or minute < 6 * 60 else D("0.25")
    return D("0.10") if minute >= 22 * 60 or minute < 6 * 60 else D("0.20")


def hand_feed_in(wall: datetime) -> Decimal:
    return D("0.07") if wall.date() >= DAY2 else D("0.08")


# fixed_per_day + fixed_per_month / 31 days of January
HAND_FIXED = {DAY1: D("0.50") + D("0.10"), DAY2: D("0.55") + D("0.20")}


def local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    """A Vienna wall-clock time as a UTC instant."""
    return datetime.combine(day, time(hour, minute), tzinfo=VIENNA).astimezone(UTC)


def wall(instant: datetime) -> datetime:
    return instant.astimezone(VIENNA).replace(tzinfo=None)


def iso_z(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def six(value: Decimal) -> Decimal:
    return value.quantize(D("0.000001"), rounding=ROUND_HALF_EVEN)


def by_minute(
    start: datetime, seconds: int, wh: Decimal, price: Callable[[datetime], Decimal | None]
) -> tuple[Decimal, Decimal]:
    """The cost of ``wh`` spread evenly over the minutes, and the energy without a price."""
    minutes = seconds // 60
    cost = unpriced = D(0)
    with localcontext(prec=50):
        for index in range(minutes):
            piece = wh / minutes
            value = price(start + index * MINUTE)
            if value is None:
                unpriced += piece
            else:
                cost += piece / 1000 * value
    return cost, unpriced


class Interval(NamedTuple):
    metric: str
    start: datetime
    wh: Decimal


def two_days() -> list[Interval]:
    """Every quarter-hour of DAY1 and DAY2 imports; 10:00-14:00 each day exports."""
    intervals = []
    first = local(DAY1)
    for index in range(2 * 96):
        start = first + index * QUARTER
        intervals.append(Interval(IMPORT, start, D(20) + (index % 9) * D("1.25")))
        if 10 <= wall(start).hour < 14:
            intervals.append(Interval(EXPORT, start, D(40) + (index % 16) * D("2.5")))
    return intervals


OUTSIDE = [  # just before and just after the two days: no report of them may count these
    Interval(IMPORT, local(DAY1) - QUARTER, D(999)),
    Interval(IMPORT, local(DAY2 + timedelta(days=1)), D(999)),
    Interval(EXPORT, local(DAY2 + timedelta(days=1), 11), D(999)),
]


def import_cost(interval: Interval) -> Decimal:
    return by_minute(interval.start, 900, interval.wh, lambda t: hand_import_price(wall(t)))[0]


def export_revenue(interval: Interval) -> Decimal:
    with localcontext(prec=50):
        return interval.wh / 1000 * hand_feed_in(wall(interval.start))


class Expected(NamedTuple):
    import_wh: float
    export_wh: float
    energy_cost: Decimal
    fixed_cost: Decimal
    revenue: Decimal

    @property
    def net(self) -> Decimal:
        return self.energy_cost + self.fixed_cost - self.revenue


def expected(intervals: Iterable[Interval], fixed: Decimal) -> Expected:
    chosen = list(intervals)
    imports = [i for i in chosen if i.metric == IMPORT]
    exports = [i for i in chosen if i.metric == EXPORT]
    with localcontext(prec=50):
        energy = sum((import_cost(i) for i in imports), D(0))
        revenue = sum((export_revenue(i) for i in exports), D(0))
    return Expected(
        import_wh=float(sum(i.wh for i in imports)),
        export_wh=float(sum(i.wh for i in exports)),
        energy_cost=six(energy),
        fixed_cost=six(fixed),
        revenue=six(revenue),
    )


def assert_row(row: Mapping[str, Any], want: Expected) -> None:
    assert row["import_wh"] == want.import_wh
    assert row["export_wh"] == want.export_wh
    for key in ("energy_cost", "fixed_cost", "revenue", "net"):
        text = row[key]
        assert isinstance(text, str)
        assert D(text).as_tuple().exponent == -6, (key, text)  # six places, as strings
    assert D(row["energy_cost"]) == want.energy_cost
    assert D(row["fixed_cost"]) == want.fixed_cost
    assert D(row["revenue"]) == want.revenue
    assert D(row["net"]) == want.net
    assert row["unpriced_wh"] == 0


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "m.db") as opened:
        await opened.migrate()
        yield opened


async def write(store: SqliteStore, intervals: Iterable[Interval], meter: str = METER) -> None:
    await store.write_consumption([
        ConsumptionRow(meter_id=meter, metric=i.metric, interval_start=i.start, interval_s=900,
                       wh=float(i.wh))
        for i in intervals
    ])  # fmt: skip


def settings_of(table: Mapping[str, Any]) -> CostSettings:
    # the way the plugin loader decodes a TOML table
    return msgspec.convert(dict(table), CostSettings, strict=False)


class RouteCtx:
    """The RouteContext meterhub hands a route plugin, over the real store."""

    def __init__(self, store: SqliteStore) -> None:
        self.name = "costs"
        self.data = StoreData(store)
        self.state = StoreState(store, "costs")


@contextlib.asynccontextmanager
async def costs_api(
    store: SqliteStore, table: Mapping[str, Any]
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    handlers = CostRoutes(settings_of(table)).route_handlers(RouteCtx(store))
    app = Litestar(route_handlers=[Router(path=PREFIX, route_handlers=list(handlers))],
                   openapi_config=None, logging_config=None)  # fmt: skip
    async with AsyncTestClient(app) as client:
        yield client


async def get_json(client: AsyncTestClient[Litestar], path: str, **query: str) -> Any:
    response = await client.get(PREFIX + path, params=query)
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content)


# -- the report routes ----------------------------------------------------------------------


def test_the_routes_build_without_warnings(tmp_path: Path) -> None:
    handlers = CostRoutes(settings_of(TARIFFS)).route_handlers(
        RouteCtx(SqliteStore(tmp_path / "m.db"))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # what meterhub/_plugins.py does with a route plugin's handlers
        Litestar(route_handlers=[Router(path=PREFIX, route_handlers=list(handlers))],
                 openapi_config=None, logging_config=None)  # fmt: skip


async def test_daily_costs_match_the_tariffs_read_by_hand(store: SqliteStore) -> None:
    intervals = two_days()
    await write(store, [*intervals, *OUTSIDE])
    async with costs_api(store, TARIFFS) as client:
        report = await get_json(client, f"/meters/{METER}", period="day", start="2026-01-15",
                                end="2026-01-17")  # fmt: skip

    assert report["meter_id"] == METER
    assert report["period"] == "day"
    assert report["currency"] == "EUR"
    assert report["timezone"] == "Europe/Vienna"
    assert report["start"] == "2026-01-14T23:00:00Z"  # Vienna midnight, UTC+1 in January
    assert report["end"] == "2026-01-16T23:00:00Z"
    rows = report["rows"]
    assert [row["period_start"] for row in rows] == ["2026-01-14T23:00:00Z",
                                                     "2026-01-15T23:00:00Z"]  # fmt: skip
    day1 = expected((i for i in intervals if wall(i.start).date() == DAY1), HAND_FIXED[DAY1])
    day2 = expected((i for i in intervals if wall(i.start).date() == DAY2), HAND_FIXED[DAY2])
    assert_row(rows[0], day1)
    assert_row(rows[1], day2)
    total = report["total"]
    assert D(total["energy_cost"]) == day1.energy_cost + day2.energy_cost
    assert D(total["revenue"]) == day1.revenue + day2.revenue
    assert D(total["fixed_cost"]) == D("1.350000")
    assert D(total["net"]) == day1.net + day2.net
    assert total["import_wh"] == day1.import_wh + day2.import_wh


async def test_an_interval_across_a_band_edge_is_split_by_minutes(store: SqliteStore) -> None:
    # DAY2 22:00-22:15: ten minutes at the day price 0.25, five at the night price 0.12
    edge = Interval(IMPORT, local(DAY2, 22), D(30))
    await write(store, [edge])
    async with costs_api(store, TARIFFS) as client:
        report = await get_json(client, f"/meters/{METER}", period="hour", start="2026-01-16",
                                end="2026-01-17")  # fmt: skip
    row = next(r for r in report["rows"] if r["period_start"] == iso_z(local(DAY2, 22)))
    by_hand = six(D(30) / 1000 * (10 * D("0.25") + 5 * D("0.12")) / 15)  # 0.006200
    assert by_hand == D("0.006200")
    assert D(row["energy_cost"]) == by_hand


async def test_hourly_rows_cover_each_local_hour(store: SqliteStore) -> None:
    intervals = two_days()
    await write(store, [*intervals, *OUTSIDE])
    async with costs_api(store, TARIFFS) as client:
        report = await get_json(client, f"/meters/{METER}", period="hour", start="2026-01-15",
                                end="2026-01-17")  # fmt: skip

    rows = report["rows"]
    hours = [local(day, hour) for day in (DAY1, DAY2) for hour in range(24)]
    assert [row["period_start"] for row in rows] == [iso_z(h) for h in hours]  # 24 a day
    for hour, row in zip(hours, rows, strict=True):
        fixed = HAND_FIXED[wall(hour).date()] / 24
        assert_row(row, expected((i for i in intervals if hour <= i.start < hour + 4 * QUARTER),
                                 fixed))  # fmt: skip


async def test_the_csv_has_a_header_and_the_same_numbers(store: SqliteStore) -> None:
    intervals = two_days()
    await write(store, [*intervals, *OUTSIDE])
    query = {"period": "day", "start": "2026-01-15", "end": "2026-01-17"}
    async with costs_api(store, TARIFFS) as client:
        report = await get_json(client, f"/meters/{METER}", **query)
        response = await client.get(f"{PREFIX}/meters/{METER}/csv", params=query)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == ('attachment; filename="costs-m1-day.csv"')
    header, *lines = list(csv.reader(io.StringIO(response.text)))
    assert header == ["period_start", "import_wh", "export_wh", "energy_cost", "fixed_cost",
                      "revenue", "net", "unpriced_wh", "currency"]  # fmt: skip
    assert len(lines) == 2
    for line, row, day in zip(lines, report["rows"], (DAY1, DAY2), strict=True):
        fields = dict(zip(header, line, strict=True))
        assert fields["period_start"] == iso_z(local(day))
        assert fields["currency"] == "EUR"
        want = expected((i for i in intervals if wall(i.start).date() == day), HAND_FIXED[day])
        assert float(fields["import_wh"]) == want.import_wh
        assert float(fields["export_wh"]) == want.export_wh
        assert D(fields["energy_cost"]) == want.energy_cost
        assert D(fields["fixed_cost"]) == want.fixed_cost
        assert D(fields["revenue"]) == want.revenue
        assert D(fields["net"]) == want.net
        for key in ("energy_cost", "fixed_cost", "revenue", "net"):
            assert fields[key] == row[key]


async def test_the_tariffs_route_lists_the_tariffs_in_order(store: SqliteStore) -> None:
    async with costs_api(store, TARIFFS) as client:
        out = await get_json(client, "/tariffs")
    assert out["currency"] == "EUR"
    assert out["timezone"] == "Europe/Vienna"
    assert out["holidays"] == ["2026-01-06"]
    first, second = out["tariffs"]
    assert first["valid_from"] == "2026-01-01"
    assert second["valid_from"] == "2026-01-16"
    assert D(first["energy_price"]) == D("0.20")
    assert D(second["energy_price"]) == D("0.25")
    assert D(second["feed_in_price"]) == D("0.07")
    assert D(second["fixed_per_month"]) == D("6.20")
    assert [(b["name"], D(b["price"]), b["start"], b["end"]) for b in second["bands"]] == [
        ("night", D("0.12"), "22:10", "06:00")
    ]
    assert first["dynamic"] is False


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"period": "hour", "start": "2026-01-01", "end": "2026-04-05"},
         "at most 93 days per request with period=hour"),  # 94 days
        ({"period": "day", "start": "2026-01-01", "end": "2029-01-02"},
         "at most 1096 days per request with period=day"),  # 1097 days
        ({"period": "day", "start": "2026-01-16", "end": "2026-01-15"}, "end must be after start"),
        ({"period": "day", "start": "2026-01-16", "end": "2026-01-16"}, "end must be after start"),
    ],
)  # fmt: skip
async def test_bad_ranges_are_refused_with_400(
    store: SqliteStore, query: dict[str, str], message: str
) -> None:
    async with costs_api(store, TARIFFS) as client:
        for path in (f"/meters/{METER}", f"/meters/{METER}/csv"):
            response = await client.get(PREFIX + path, params=query)
            assert response.status_code == 400
            assert message in response.json()["detail"]


async def test_the_longest_range_is_accepted(store: SqliteStore) -> None:
    await write(store, two_days())
    async with costs_api(store, TARIFFS) as client:
        report = await get_json(client, f"/meters/{METER}", period="hour", start="2026-01-01",
                                end="2026-04-04")  # fmt: skip
    # 93 days, one of them (29 March) with 23 hours
    assert len(report["rows"]) == 93 * 24 - 1


async def test_a_meter_not_costed_is_refused(store: SqliteStore) -> None:
    await write(store, two_days(), meter="m2")
    async with costs_api(store, TARIFFS) as client:
        query = {"start": "2026-01-15", "end": "2026-01-17"}
        response = await client.get(f"{PREFIX}/meters/m2", params=query)
    assert response.status_code == 400
    assert "'m2' is not costed" in response.json()["detail"]


# -- dynamic prices ---------------------------------------------------------------------

PRICE_DAY = date(2026, 1, 20)
MARKUP = D("0.015")
PRICES = {local(PRICE_DAY) + k * QUARTER: D("0.0850") + k * D("0.0013") for k in range(48)}
"""Quarter-hour prices for 00:00-12:00 local; the last slot lasts as long as the others."""


def dynamic(**source: str) -> dict[str, Any]:
    return {"timezone": "Europe/Vienna", "meters": [METER], **source,
            "tariffs": [{"valid_from": "2026-01-01", "dynamic": True,
                         "dynamic_markup": str(MARKUP), "feed_in_price": "0.05"}]}  # fmt: skip


def hand_dynamic_price(instant: datetime) -> Decimal | None:
    slot = local(PRICE_DAY) + ((instant - local(PRICE_DAY)) // QUARTER) * QUARTER
    price = PRICES.get(slot)
    return None if price is None else price + MARKUP


async def store_prices_as_readings(store: SqliteStore) -> None:
    readings = [Reading(meter_id="prices", ts=ts, values={"price_per_kwh": float(price)})
                for ts, price in PRICES.items()]  # fmt: skip
    # an unrelated metric of the same device must not be read as a price
    readings.append(Reading(meter_id="prices", ts=local(PRICE_DAY, 13), values={"spot": 9.9}))
    assert await store.ingest(readings, cursor=("t", 0)) == len(PRICES) + 1


def write_price_file(path: Path) -> None:
    lines = ["start,price", *(f"{ts.astimezone(VIENNA).isoformat()},{price}"
                              for ts, price in PRICES.items())]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("source", ["meter", "file"])
async def test_a_dynamic_tariff_prices_intervals_by_their_slot(
    store: SqliteStore, tmp_path: Path, source: str
) -> None:
    if source == "meter":
        await store_prices_as_readings(store)
        table = dynamic(prices_meter="prices")
    else:
        write_price_file(tmp_path / "prices.csv")
        table = dynamic(prices_file=str(tmp_path / "prices.csv"))
    # 00:00-13:00: the last four quarter-hours have no price
    intervals = [Interval(IMPORT, local(PRICE_DAY) + k * QUARTER, D(30) + (k % 4) * D("2.5"))
                 for k in range(52)]  # fmt: skip
    exported = Interval(EXPORT, local(PRICE_DAY, 11), D(80))
    await write(store, [*intervals, exported])

    async with costs_api(store, table) as client:
        report = await get_json(client, f"/meters/{METER}", period="day", start="2026-01-20",
                                end="2026-01-21")  # fmt: skip

    (row,) = report["rows"]
    with localcontext(prec=50):
        priced = [by_minute(i.start, 900, i.wh, hand_dynamic_price) for i in intervals]
        energy = sum((cost for cost, _ in priced), D(0))
        unpriced = sum((wh for _, wh in priced), D(0))
    assert unpriced == sum(i.wh for i in intervals[48:])
    assert D(row["energy_cost"]) == six(energy)
    assert row["unpriced_wh"] == float(unpriced)
    assert D(row["revenue"]) == D("0.004000")  # 80 Wh at the fixed feed-in price 0.05
    assert D(row["fixed_cost"]) == 0
    assert row["import_wh"] == float(sum(i.wh for i in intervals))


async def test_an_unreadable_price_file_is_a_400(store: SqliteStore, tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("start,price\n2026-01-20T00:00:00+01:00,cheap\n", encoding="utf-8")
    async with costs_api(store, dynamic(prices_file=str(path))) as client:
        query = {"start": "2026-01-20", "end": "2026-01-21"}
        response = await client.get(f"{PREFIX}/meters/{METER}", params=query)
    assert response.status_code == 400
    assert "the dynamic prices cannot be read" in response.json()["detail"]
    assert "line 2" in response.json()["detail"]


# -- the processor ----------------------------------------------------------------------


class Event(NamedTuple):
    name: str
    key: str
    data: dict[str, Any]


class ProcessorCtx:
    """A ProcessorContext that records what the plugin publishes."""

    def __init__(self, store: SqliteStore) -> None:
        self.name = "costs"
        self.logger = logging.getLogger("meterhub.plugin.costs")
        self.data = StoreData(store)
        self.state = StoreState(store, "costs")
        self.events: list[Event] = []

    async def publish_event(self, name: str, key: str, data: Mapping[str, Any]) -> None:
        self.events.append(Event(name, key, dict(data)))

        self.unexpected: list[tuple[str, tuple[object, ...], dict[str, object]]] = []
        """Calls the costs processor should never make (readings, alerts)."""

    async def publish_reading(self, *args: object, **kwargs: object) -> None:
        self.unexpected.append(("publish_reading", args, kwargs))

    async def raise_alert(self, *args: object, **kwargs: object) -> None:
        self.unexpected.append(("raise_alert", args, kwargs))

    async def clear_alert(self, *args: object, **kwargs: object) -> None:
        self.unexpected.append(("clear_alert", args, kwargs))


def consumption(metric: str, start: datetime, seconds: int, wh: float,
                meter: str = METER) -> Consumption:  # fmt: skip
    return Consumption(meter_id=meter, metric=metric, interval_start=start, interval_s=seconds,
                       wh=wh, flag=ConsumptionFlag.MEASURED)  # fmt: skip


async def test_each_import_or_export_interval_gives_one_cost_event(store: SqliteStore) -> None:
    processor = CostProcessor(settings_of(TARIFFS))
    ctx = ProcessorCtx(store)
    await processor.start(ctx)

    # an hour across midnight: 30 min at the first tariff's night price, 30 at the second's
    across = consumption(IMPORT, local(DAY1, 23, 30), 3600, 12.5)
    await processor.handle(across, ctx)
    # a quarter-hour across the 22:10 band edge of the second tariff
    edge = consumption(IMPORT, local(DAY2, 22), 900, 30.0)
    await processor.handle(edge, ctx)
    exported = consumption(EXPORT, local(DAY1, 11), 900, 60.0)
    await processor.handle(exported, ctx)

    first, second, third = ctx.events
    with localcontext(prec=50):
        across_cost = D("12.5") / 1000 * (30 * D("0.10") + 30 * D("0.12")) / 60
        edge_cost = D(30) / 1000 * (10 * D("0.25") + 5 * D("0.12")) / 15
    assert first == Event("cost", METER, {
        "meter_id": METER, "metric": IMPORT, "interval_start": across.interval_start.isoformat(),
        "interval_s": 3600, "wh": 12.5, "kind": "cost", "amount": str(six(across_cost)),
        "currency": "EUR", "unpriced_wh": 0.0, "flag": "measured",
    })  # fmt: skip
    assert first.data["amount"] == "0.001375"
    assert second.data["amount"] == str(six(edge_cost)) == "0.006200"
    assert second.data["kind"] == "cost"
    assert third.data["kind"] == "revenue"
    assert third.data["metric"] == EXPORT
    assert third.data["amount"] == "0.004800"  # 60 Wh at 0.08
    assert third.data["currency"] == "EUR"
    assert ctx.unexpected == []


async def test_other_metrics_meters_and_messages_publish_nothing(store: SqliteStore) -> None:
    processor = CostProcessor(settings_of(TARIFFS))
    ctx = ProcessorCtx(store)
    await processor.start(ctx)
    await processor.handle(consumption("gas_volume_m3", local(DAY1, 8), 900, 3.0), ctx)
    await processor.handle(consumption(IMPORT, local(DAY1, 8), 900, 30.0, meter="m2"), ctx)
    await processor.handle(consumption(EXPORT, local(DAY1, 8), 900, 30.0, meter="m2"), ctx)
    await processor.handle(Reading(meter_id=METER, ts=local(DAY1, 8), values={IMPORT: 1}), ctx)
    assert ctx.events == []
    # the same processor still prices its own meter
    await processor.handle(consumption(IMPORT, local(DAY1, 8), 900, 30.0), ctx)
    assert [(e.name, e.key, e.data["amount"]) for e in ctx.events] == [
        ("cost", METER, "0.006000")  # 30 Wh at the day price 0.20
    ]
    assert ctx.unexpected == []


async def test_without_meters_every_meter_is_costed(store: SqliteStore) -> None:
    processor = CostProcessor(settings_of({**TARIFFS, "meters": []}))
    ctx = ProcessorCtx(store)
    await processor.handle(consumption(IMPORT, local(DAY1, 8), 900, 30.0, meter="m2"), ctx)
    assert [(e.key, e.data["amount"]) for e in ctx.events] == [("m2", "0.006000")]


async def test_the_processor_reads_dynamic_prices_from_the_store(store: SqliteStore) -> None:
    await store_prices_as_readings(store)
    processor = CostProcessor(settings_of(dynamic(prices_meter="prices")))
    ctx = ProcessorCtx(store)
    slot = local(PRICE_DAY, 1, 15)  # slot 5
    await processor.handle(consumption(IMPORT, slot, 900, 40.0), ctx)
    # after the last slot: no price is known
    await processor.handle(consumption(IMPORT, local(PRICE_DAY, 12), 900, 40.0), ctx)

    priced, unpriced = ctx.events
    with localcontext(prec=50):
        want = D(40) / 1000 * (D("0.0850") + 5 * D("0.0013") + MARKUP)
    assert priced.data["amount"] == str(six(want)) == "0.004260"
    assert priced.data["unpriced_wh"] == 0.0
    assert unpriced.data["amount"] == "0.000000"
    assert unpriced.data["unpriced_wh"] == 40.0


# -- table_from_points --------------------------------------------------------------------

T0 = datetime(2026, 1, 20, 8, tzinfo=UTC)


def test_points_hold_until_the_next_and_the_last_as_long_as_the_one_before() -> None:
    table = table_from_points([(T0, 0.1234), (T0 + QUARTER, 0.2), (T0 + 3 * QUARTER, 1)])
    assert len(table) == 3
    assert table.price_at(T0 - timedelta(microseconds=1)) is None
    assert table.price_at(T0) == D("0.1234")
    assert table.price_at(T0 + QUARTER - timedelta(microseconds=1)) == D("0.1234")
    assert table.price_at(T0 + QUARTER) == D("0.2")
    assert table.price_at(T0 + 3 * QUARTER - timedelta(microseconds=1)) == D("0.2")
    # the last point lasts 30 minutes, as long as the one before it
    assert table.price_at(T0 + 3 * QUARTER) == D(1)
    assert table.price_at(T0 + 5 * QUARTER - timedelta(microseconds=1)) == D(1)
    assert table.price_at(T0 + 5 * QUARTER) is None
    assert table.boundaries(T0 - QUARTER, T0 + 8 * QUARTER) == [
        T0, T0 + QUARTER, T0 + 3 * QUARTER, T0 + 5 * QUARTER
    ]  # fmt: skip


def test_a_float_price_becomes_the_decimal_the_feed_sent() -> None:
    table = table_from_points([(T0, 0.1234), (T0 + QUARTER, 0.1)])
    price = table.price_at(T0)
    assert isinstance(price, Decimal)
    assert price == D("0.1234")
    assert str(price) == "0.1234"
    assert price != D(0.1234)  # not the binary expansion 0.12339999...
    assert table.price_at(T0 + QUARTER) == D("0.1")


def test_a_lone_point_lasts_an_hour_and_no_points_no_prices() -> None:
    table = table_from_points([(T0, 0.3)])
    assert table.price_at(T0 + timedelta(minutes=59)) == D("0.3")
    assert table.price_at(T0 + timedelta(hours=1)) is None
    assert len(table_from_points([])) == 0


async def test_a_meter_the_site_does_not_know_is_404_naming_the_known_ones(
    store: SqliteStore,
) -> None:
    await write(store, two_days())
    async with costs_api(store, {**TARIFFS, "meters": []}) as client:
        response = await client.get(f"{PREFIX}/meters/nosuch",
                                    params={"start": "2026-01-15", "end": "2026-01-17"})
    assert response.status_code == 404
    assert "no meter 'nosuch'" in response.text
