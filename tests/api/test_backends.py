"""The store-backed routes on both backends: SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from meterhub.api import KeyStore, create_app
from meterhub.settings import ApiSettings
from tests.api.conftest import METERS, METRICS, MINUTES, T0, FakeSite, publish_live, seed, served

if TYPE_CHECKING:
    from pathlib import Path

    from meterhub.adapters.stores import Store

RANGE = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=4)).isoformat()}


async def test_paging_buckets_consumption_and_devices(any_store: Store, tmp_path: Path) -> None:
    # a real server in this event loop: asyncpg connections belong to the loop
    await seed(any_store)
    site = FakeSite(any_store, METERS)
    publish_live(site)
    app = create_app(site, ApiSettings(auth="open-on-loopback"), KeyStore.in_data_dir(tmp_path))
    async with served(app) as client:
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {
                **RANGE,
                "limit": 11,
                **({"cursor": cursor} if cursor else {}),
            }
            page = (await client.get("/api/v1/readings", params=params)).json()
            seen += [(r["ts"], r["meter_id"], r["metric"]) for r in page["readings"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert len(seen) == MINUTES * len(METERS) * len(METRICS)
        assert seen == sorted(set(seen))

        buckets = (await client.get("/api/v1/readings", params={
            **RANGE, "bucket": "1h", "agg": "avg", "metrics": "power_import_w"})).json()  # fmt: skip
        assert [(b["meter_id"], b["count"]) for b in buckets["buckets"]] == [("m1", 30), ("m2", 30)]

        usage = (await client.get("/api/v1/consumption", params={**RANGE, "period": "hour"})).json()
        assert [[p["wh"] for p in i["periods"]] for i in usage["items"]] == [[100, 200, 300]] * 2

        created = await client.post("/api/v1/devices", json={"id": "m1", "device_type": "kaifa",
                                                             "meter_key": "0" * 32})  # fmt: skip
        assert created.status_code == 201
        assert (await client.get("/api/v1/devices/m1")).json()["meter_key_set"] is True
        assert (await client.post("/api/v1/alerts/a0/acknowledge")).status_code == 200
        alert = (await client.get("/api/v1/alerts/a0")).json()
        assert alert["state"] == "acknowledged"
