"""Power costs: tariffs, dynamic prices, cost and revenue per meter (a built-in plugin).

Registered as ``costs`` in ``meterhub.processors`` (live cost events) and
``meterhub.routes`` (``/api/v1/plugins/costs/…``); configured by ``[plugins.costs]``.
"""

from meterhub.plugins.costs._plugin import CostProcessor, CostRoutes
from meterhub.plugins.costs._prices import PriceTable, load_price_csv
from meterhub.plugins.costs._settings import Band, CostSettings, Tariff
from meterhub.plugins.costs._tariff import (
    IntervalCost,
    PeriodCost,
    TariffPlan,
    interval_cost,
    money,
    summarize,
)

__all__ = [
    "Band",
    "CostProcessor",
    "CostRoutes",
    "CostSettings",
    "IntervalCost",
    "PeriodCost",
    "PriceTable",
    "Tariff",
    "TariffPlan",
    "interval_cost",
    "load_price_csv",
    "money",
    "summarize",
]
