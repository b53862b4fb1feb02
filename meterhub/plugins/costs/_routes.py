"""The cost report routes: per meter and period, JSON or CSV, computed on request."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from litestar import Response, get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery  # noqa: TC002 (Litestar reads them at runtime)

from meterhub.plugins import requires
from meterhub.plugins.costs._tariff import IntervalCost, interval_cost, summarize

if TYPE_CHECKING:
    from collections.abc import Sequence

    from meterhub.plugins import Consumption, RouteContext, SiteData
    from meterhub.plugins.costs._prices import PriceTable
    from meterhub.plugins.costs._settings import CostSettings
    from meterhub.plugins.costs._source import PriceSource
    from meterhub.plugins.costs._tariff import PeriodCost, TariffPlan

Period = Literal["hour", "day", "month"]
MAX_DAYS: dict[str, int] = {"hour": 93, "day": 1096, "month": 1096}
"""The longest range of one request per period (an hourly year is 8,760 rows)."""
_SHOWN = 20
"""Most known meters a 404 lists."""
_COLUMNS = ("period_start", "import_wh", "export_wh", "energy_cost", "fixed_cost", "revenue",
            "net", "unpriced_wh")  # fmt: skip


class CostRow(msgspec.Struct, frozen=True, kw_only=True):
    """Cost and revenue of one meter in one local period (amounts in ``currency``)."""

    period_start: datetime
    import_wh: float
    export_wh: float
    energy_cost: str
    fixed_cost: str
    revenue: str
    net: str
    """energy_cost + fixed_cost - revenue."""
    unpriced_wh: float
    """Imported energy no price covered (a missing dynamic price, before the first tariff)."""


class CostReport(msgspec.Struct, frozen=True, kw_only=True):
    """A meter's costs over a range, one row per period, and their totals."""

    meter_id: str
    period: Period
    timezone: str
    currency: str
    start: datetime
    end: datetime
    rows: list[CostRow]
    total: CostRow | None


class TariffOut(msgspec.Struct, frozen=True, kw_only=True):
    """The configured tariffs, as the costs plugin applies them."""

    currency: str
    timezone: str
    holidays: list[date]
    tariffs: list[dict[str, Any]]


def _bounds(plan: TariffPlan, period: Period, start: date | None, end: date | None,
            ) -> tuple[datetime, datetime]:  # fmt: skip
    """Local dates to UTC instants; by default the current local day, month or year so far."""
    today = datetime.now(plan.zone).date()
    if start is None:
        start = today if period == "hour" else (
            today.replace(day=1) if period == "day" else today.replace(month=1, day=1))  # fmt: skip
    if end is None:
        # up to the end of today's period: no fixed charges of days still to come
        so_far = _next(today.replace(day=1), "day") if period == "month" else (
            today + timedelta(days=1))  # fmt: skip
        end = min(_next(start, period), max(so_far, start + timedelta(days=1)))
    if end <= start:
        raise ValidationException("end must be after start")
    if (end - start).days > MAX_DAYS[period]:
        raise ValidationException(f"at most {MAX_DAYS[period]} days per request with "
                                  f"period={period}")  # fmt: skip
    return plan.day_start(start), plan.day_start(end)


def _next(start: date, period: Period) -> date:
    if period == "hour":
        return start + timedelta(days=1)
    if period == "day":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start.replace(year=start.year + 1)


def _costs(plan: TariffPlan, prices: PriceTable | None, intervals: Sequence[Consumption],
           *, exporting: bool) -> list[IntervalCost]:  # fmt: skip
    return [interval_cost(plan, prices, c.interval_start, c.interval_s,
                          import_wh=0.0 if exporting else c.wh,
                          export_wh=c.wh if exporting else 0.0)
            for c in intervals if c.wh > 0]  # fmt: skip


def _row(cost: PeriodCost) -> CostRow:
    return CostRow(period_start=cost.period_start, import_wh=round(cost.import_wh, 3),
                   export_wh=round(cost.export_wh, 3), energy_cost=str(cost.energy_cost),
                   fixed_cost=str(cost.fixed_cost), revenue=str(cost.revenue), net=str(cost.net),
                   unpriced_wh=round(cost.unpriced_wh, 3))  # fmt: skip


def _total(rows: Sequence[PeriodCost]) -> CostRow | None:
    if not rows:
        return None
    zero = rows[0].energy_cost * 0
    return CostRow(
        period_start=rows[0].period_start,
        import_wh=round(sum(r.import_wh for r in rows), 3),
        export_wh=round(sum(r.export_wh for r in rows), 3),
        energy_cost=str(sum((r.energy_cost for r in rows), zero)),
        fixed_cost=str(sum((r.fixed_cost for r in rows), zero)),
        revenue=str(sum((r.revenue for r in rows), zero)),
        net=str(sum((r.net for r in rows), zero)),
        unpriced_wh=round(sum(r.unpriced_wh for r in rows), 3),
    )


def _csv(report: CostReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_COLUMNS, "currency"])
    for row in report.rows:
        fields = msgspec.structs.asdict(row)
        fields["period_start"] = row.period_start.astimezone(UTC).isoformat().replace("+00:00", "Z")
        writer.writerow([*(fields[c] for c in _COLUMNS), report.currency])
    return out.getvalue()


async def _require_known(data: SiteData, meter_id: str) -> None:
    """404 for a meter the site has neither registered nor any reading of.

    Raises:
        NotFoundException: naming the known meters.
    """
    known = await data.meters()
    if meter_id in known or await data.latest(meter_id) is not None:
        return
    shown = ", ".join(known[:_SHOWN]) + (" …" if len(known) > _SHOWN else "")
    raise NotFoundException(f"no meter {meter_id!r} (known: {shown or 'none'})")


def cost_handlers(
    settings: CostSettings, plan: TariffPlan, source: PriceSource, context: RouteContext
) -> list[Any]:
    """The costs plugin's handlers (viewer role)."""

    async def report(meter_id: str, period: Period, start: date | None,
                     end: date | None) -> CostReport:  # fmt: skip
        if settings.meters and meter_id not in settings.meters:
            raise ValidationException(f"meter {meter_id!r} is not costed (plugins.costs.meters)")
        first, last = _bounds(plan, period, start, end)
        data = context.data

        try:
            prices = await source.prices(data, first, last) if source.dynamic else None
        except ValueError as exc:
            raise ValidationException(f"the dynamic prices cannot be read: {exc}") from exc
        imported = await data.consumption(meter_id, settings.import_metric, start=first, end=last)
        exported = await data.consumption(meter_id, settings.export_metric, start=first, end=last)
        if not (imported or exported):
            await _require_known(data, meter_id)
        costs = [*_costs(plan, prices, imported, exporting=False),
                 *_costs(plan, prices, exported, exporting=True)]  # fmt: skip
        rows = summarize(plan, costs, period, first, last)
        return CostReport(meter_id=meter_id, period=period, timezone=settings.timezone,
                          currency=settings.currency, start=first, end=last,
                          rows=[_row(r) for r in rows], total=_total(rows))  # fmt: skip

    @get("/meters/{meter_id:str}", opt=requires("viewer"), summary="Costs of one meter")
    async def meter_costs(meter_id: FromPath[str], period: FromQuery[Period] = "day",
                          start: FromQuery[date | None] = None,
                          end: FromQuery[date | None] = None) -> CostReport:  # fmt: skip
        """Cost of import, revenue of export, fixed charges and net per local period.

        ``start`` and ``end`` are local dates of the tariff's time zone (``end`` is
        excluded); by default the current day (``period=hour``), month (``day``) or
        year (``month``). Amounts are decimal strings in ``currency``.
        """
        return await report(meter_id, period, start, end)

    @get("/meters/{meter_id:str}/csv", opt=requires("viewer"), summary="Costs of one meter (CSV)",
         media_type="text/csv")  # fmt: skip
    async def meter_costs_csv(meter_id: FromPath[str], period: FromQuery[Period] = "day",
                              start: FromQuery[date | None] = None,
                              end: FromQuery[date | None] = None) -> Response[str]:  # fmt: skip
        """The same report as CSV: one line per period, amounts with the currency."""
        body = _csv(await report(meter_id, period, start, end))
        name = f"costs-{meter_id}-{period}.csv"
        return Response(body, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @get("/tariffs", opt=requires("viewer"), summary="The configured tariffs")
    async def tariffs() -> TariffOut:
        """The tariffs in order of validity, as configured under ``[plugins.costs]``."""
        return TariffOut(currency=settings.currency, timezone=settings.timezone,
                         holidays=list(settings.holidays),
                         tariffs=[msgspec.to_builtins(t) for t in plan.tariffs])  # fmt: skip

    return [meter_costs, meter_costs_csv, tariffs]
