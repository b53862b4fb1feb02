"""Trends and consumption across a restart equal what the raw readings give.

A DSMR meter (tariff registers only, no total) feeds a real site on SQLite; the site
stops in the middle of a trend window and a consumption interval and starts again.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Self

import anyio
import msgspec
import pytest

from meterhub.adapters.simulator import SimulatedMeter
from meterhub.adapters.stores import open_store
from meterhub.settings import Settings
from meterhub.site import Site
from tests.e2e.site_process import free_port

if TYPE_CHECKING:
    from pathlib import Path

    from meterhub.adapters.stores import ReadingRow, Store

# near now: retention must not prune the readings; aligned to every window
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
STEP_S = 6  # ten telegrams a minute
WINDOWS = (60, 300)
INTERVAL_S = 300
FIRST_RUN = range(1, 26)  # up to 150 s: the middle of minute 2 and of interval 0
SECOND_RUN = range(26, 61)  # on to 360 s, across the minute and the interval boundary
IMPORT = ("energy_import_t1_wh", "energy_import_t2_wh")
TOTALS = {
    "energy_import_wh": IMPORT,
    "energy_export_wh": ("energy_export_t1_wh", "energy_export_t2_wh"),
}


class Telegrams:
    """DSMR telegrams of the given steps, sent as fast as the site takes them."""

    def __init__(self, meter: SimulatedMeter, steps: range) -> None:
        self.meter, self.steps, self.sent = meter, iter(steps), 0

    @property
    def name(self) -> str:
        return "injected"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        step = next(self.steps, None)
        while step is None:
            await anyio.sleep_forever()
        await anyio.sleep(0.005)
        self.sent += 1
        return self.meter.telegram(T0 + timedelta(seconds=STEP_S * step))


def settings(tmp_path: Path) -> Settings:
    return msgspec.convert({
        "data_dir": str(tmp_path / "data"),
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "storage": {"flush_interval_s": 0.05},
        "pipeline": {"trend_windows_s": list(WINDOWS), "consumption_interval_s": INTERVAL_S},
        "meters": [{"id": "p1", "format": "dsmr", "port": "injected"}],
    }, Settings)  # fmt: skip


async def run(config: Settings, meter: SimulatedMeter, steps: range, stored: int) -> None:
    transport = Telegrams(meter, steps)
    async with Site(config, {"p1": lambda: transport}) as site:
        with anyio.fail_after(30):
            while site.journal.cursors.get("store", 0) < stored:  # noqa: ASYNC110 (the writer's progress)
                await anyio.sleep(0.05)


def window(ts: datetime, length_s: int) -> datetime:
    seconds = int((ts - T0).total_seconds())
    return T0 + timedelta(seconds=seconds // length_s * length_s)


def series(rows: list[ReadingRow]) -> dict[str, list[tuple[datetime, float]]]:
    """Every stored metric's values in time order, with the totals the tariffs add up to."""
    out: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    by_ts: dict[datetime, dict[str, float]] = defaultdict(dict)
    for row in rows:
        out[row.metric].append((row.ts, row.value))
        by_ts[row.ts][row.metric] = row.value
    for total, parts in TOTALS.items():
        out[total] = [(ts, sum(v[p] for p in parts)) for ts, v in sorted(by_ts.items())]
    return out


async def stored(config: Settings) -> tuple[Store, list[ReadingRow]]:
    store = open_store(config.store_url())
    await store.__aenter__()
    rows = await store.query_readings(meters=["p1"], metrics=None, start=T0,
                                      end=T0 + timedelta(hours=1), limit=10_000)  # fmt: skip
    return store, rows


@pytest.mark.timeout(120)
async def test_windows_across_a_restart_match_the_raw_readings(tmp_path: Path) -> None:
    config = settings(tmp_path)
    meter = SimulatedMeter("dsmr5", "E0012345678901234", None, seed=4, start=T0)
    await run(config, meter, FIRST_RUN, len(FIRST_RUN))
    await run(config, meter, SECOND_RUN, len(FIRST_RUN) + len(SECOND_RUN))
    store, rows = await stored(config)
    try:
        assert len({r.ts for r in rows}) == len(FIRST_RUN) + len(SECOND_RUN)
        values = series(rows)
        for length_s in WINDOWS:
            trends = await store.query_trends(meters=["p1"], metrics=None, window_s=length_s,
                                              start=T0, end=T0 + timedelta(hours=1))  # fmt: skip
            assert {t.metric for t in trends} == set(values)
            for trend in trends:
                inside = [v for ts, v in values[trend.metric]
                          if window(ts, length_s) == trend.window_start]  # fmt: skip
                assert trend.count == len(inside), (trend, length_s)
                assert (trend.min, trend.max, trend.last) == (min(inside), max(inside), inside[-1])
                assert trend.avg == pytest.approx(sum(inside) / len(inside))
        await assert_consumption(store, values)
    finally:
        await store.__aexit__(None, None, None)


async def assert_consumption(store: Store, values: dict[str, list[tuple[datetime, float]]]) -> None:
    """Each interval's energy is the counter's rise inside it (readings on its edges)."""
    for metric in ("energy_import_wh", *IMPORT):  # the simulated house exports nothing
        usage = await store.query_consumption("p1", metric, start=T0,
                                              end=T0 + timedelta(hours=1), period="hour")  # fmt: skip
        points = dict(values[metric])
        first, last = T0 + timedelta(seconds=STEP_S), T0 + timedelta(seconds=360)
        assert metric != "energy_import_wh" or points[last] > points[first]  # energy was used
        assert [p.wh for p in usage] == [pytest.approx(points[last] - points[first])], metric
