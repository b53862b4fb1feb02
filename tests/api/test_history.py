"""History routes through the served API: content types, and every bad query a problem."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from meterhub.adapters.stores import ReadingRow
from meterhub.api import create_app
from meterhub.settings import ApiSettings
from tests.api.conftest import T0, served

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx

    from meterhub.api import KeyStore
    from tests.api.conftest import FakeSite

RANGE = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}


@contextlib.asynccontextmanager
async def api(site: FakeSite, keys: KeyStore) -> AsyncIterator[httpx.AsyncClient]:
    """The app served on loopback (a context manager: uvicorn runs in this test's task)."""
    async with served(create_app(site, ApiSettings(auth="open-on-loopback"), keys)) as client:
        yield client


@pytest.mark.parametrize("params", [
    {**RANGE},
    {**RANGE, "bucket": "15m", "agg": "max"},
    {**RANGE, "meters": "m1", "limit": 1},
    {"start": "2001-01-01T00:00:00Z", "end": "2001-01-02T00:00:00Z"},  # an empty page
])  # fmt: skip
async def test_every_csv_answer_names_its_charset_once(
    site: FakeSite, keys: KeyStore, params: dict[str, Any]
) -> None:
    async with api(site, keys) as http:
        response = await http.get("/api/v1/readings", params={**params, "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize(("route", "params", "status", "param", "named"), [
    ("/api/v1/readings", {"agg": "max"}, 400, "agg", "bucket"),
    ("/api/v1/readings", {"meters": "nope"}, 404, "meters", "m1"),
    ("/api/v1/readings", {"meters": "m1,nope,zap"}, 404, "meters", "nope, zap"),
    ("/api/v1/readings", {"metrics": "nope"}, 404, "metrics", "power_import_w"),
    ("/api/v1/readings", {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
     400, "end", "start"),
    ("/api/v1/readings", {"cursor": "garbage"}, 400, "cursor", "cursor"),
    ("/api/v1/readings", {"limit": "0"}, 400, "limit", "limit"),
    ("/api/v1/readings", {"limit": "many"}, 400, "limit", "limit"),
    ("/api/v1/consumption", {"meters": "nope"}, 404, "meters", "m2"),
    ("/api/v1/consumption", {"metric": "gas_m3"}, 404, "metric", "energy_import_wh"),
    ("/api/v1/consumption", {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
     400, "end", "start"),
    ("/api/v1/trends", {"meters": "nope"}, 404, "meters", "m1"),
    ("/api/v1/trends", {"metrics": "nope"}, 404, "metrics", "power_import_w"),
    ("/api/v1/trends", {"limit": "0"}, 400, "limit", "limit"),
    ("/api/v1/trends", {"window_s": "300"}, 404, "window_s", "it keeps 60 s, 900 s"),
    ("/api/v1/trends", {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
     400, "end", "start"),
])  # fmt: skip
async def test_every_bad_history_query_is_a_problem_naming_it(
    *, site: FakeSite, keys: KeyStore, route: str, params: dict[str, Any], status: int,
    param: str, named: str,
) -> None:  # fmt: skip
    async with api(site, keys) as http:
        response = await http.get(route, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert [p["name"] for p in body["invalid_params"]] == [param]
    assert named in body["detail"]


async def test_a_derived_total_and_known_meters_are_not_refused(
    site: FakeSite, keys: KeyStore
) -> None:
    await site.store.write_readings([ReadingRow(meter_id="dev", ts=T0, metric="energy_import_t1_wh",
                                                value=1.0)])  # fmt: skip
    async with api(site, keys) as http:
        for route, params in [("/api/v1/readings", {**RANGE, "meters": "m1,dev"}),
                              ("/api/v1/consumption", {"meters": "dev"}),
                              ("/api/v1/readings", {**RANGE, "agg": "max", "bucket": "1h"})]:  # fmt: skip
            response = await http.get(route, params=params)
            assert response.status_code == 200, response.text
