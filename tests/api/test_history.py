"""History routes through the served API: content types, and every bad query a problem."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

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
    async with served(create_app(site, ApiSettings(), keys)) as client:
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
