"""The ``costs`` plugin: live cost events (processor) and cost reports (routes).

Costs are computed from the stored consumption intervals when they are asked for, so a
changed tariff (or a dynamic price that arrives late) applies at once to every interval
it covers; a new tariff applies from its ``valid_from``, never before.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from meterhub.plugins import API_VERSION, Consumption, ProcessorPlugin, RoutePlugin
from meterhub.plugins.costs._routes import cost_handlers
from meterhub.plugins.costs._settings import CostSettings
from meterhub.plugins.costs._source import PriceSource
from meterhub.plugins.costs._tariff import TariffPlan, interval_cost, money

if TYPE_CHECKING:
    from collections.abc import Sequence

    from meterhub.plugins import ProcessorContext, ProcessorMessage, RouteContext

VERSION = "1.0.0"


class CostProcessor(ProcessorPlugin[CostSettings]):
    """Prices each closed consumption interval and pushes it to the live feed.

    Each event (kind ``plugin``, name ``cost``) carries the interval, its energy, the
    amount (cost of import, revenue of export) and the currency.
    """

    api_version = API_VERSION
    version = VERSION
    settings_type = CostSettings
    subscribes = ("consumption",)

    def __init__(self, settings: CostSettings) -> None:
        super().__init__(settings)
        self._plan = TariffPlan(settings)
        self._prices = PriceSource(settings)
        self._meters = frozenset(settings.meters)

    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        """Price one consumption interval of an import or export counter."""
        if not isinstance(message, Consumption) or (self._meters and
                                                     message.meter_id not in self._meters):
            return  # fmt: skip
        settings = self.settings
        metrics = (settings.import_metric, settings.export_metric)
        if message.metric not in metrics or message.wh <= 0:
            return  # no energy (a missing interval): nothing to price, as in the reports
        start = message.interval_start
        end = start + timedelta(seconds=message.interval_s)
        source = self._prices
        prices = await source.prices(context.data, start, end) if source.dynamic else None
        exporting = message.metric == settings.export_metric
        cost = interval_cost(self._plan, prices, start, message.interval_s,
                             import_wh=0.0 if exporting else message.wh,
                             export_wh=message.wh if exporting else 0.0)  # fmt: skip
        amount = cost.revenue if exporting else cost.energy_cost
        await context.publish_event("cost", message.meter_id, {
            "meter_id": message.meter_id, "metric": message.metric,
            "interval_start": start.isoformat(), "interval_s": message.interval_s,
            "wh": message.wh, "kind": "revenue" if exporting else "cost",
            "amount": str(money(amount, 6)), "currency": settings.currency,
            "unpriced_wh": cost.unpriced_wh, "flag": message.flag.value,
        })  # fmt: skip


class CostRoutes(RoutePlugin[CostSettings]):
    """``/api/v1/plugins/costs/…``: cost and revenue per meter, JSON or CSV."""

    api_version = API_VERSION
    version = VERSION
    settings_type = CostSettings

    def route_handlers(self, context: RouteContext) -> Sequence[Any]:
        """The report routes, closed over the plan and the context."""
        return cost_handlers(self.settings, TariffPlan(self.settings),
                             PriceSource(self.settings), context)  # fmt: skip

