"""Every route and its error cases, against a fake site over a real SQLite store."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import AsyncTestClient

from meterhub.platform import Readiness
from meterhub.plugins import PluginReport
from tests.api.conftest import METERS, METRICS, MINUTES, T0, FakeSite

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar import Litestar

PROBLEM = "application/problem+json"
RANGE = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}


def assert_problem(response: Any, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:meterhub:problem:")
    assert body["title"]
    assert body["detail"]
    if param is not None:
        assert param in [p["name"] for p in body["invalid_params"]], body
    return body


# -- devices ---------------------------------------------------------------------------


async def test_device_crud_never_returns_a_meter_key(
    client: AsyncTestClient[Litestar], site: FakeSite
) -> None:
    key = "00112233445566778899AABBCCDDEEFF"
    created = await client.post("/api/v1/devices", json={
        "id": "m1", "name": "Main", "device_type": "kaifa", "tags": ["hall"],
        "metadata": {"floor": "1"}, "meter_key": key,
    })  # fmt: skip
    assert created.status_code == 201
    assert created.json()["meter_key_set"] is True
    assert key not in created.text
    assert created.json()["metadata"] == {"floor": "1"}
    assert site.devices_changes == 1
    assert_problem(await client.post("/api/v1/devices", json={"id": "m1", "device_type": "x"}),
                   409, "id")  # fmt: skip
    got = await client.get("/api/v1/devices/m1")
    assert got.json()["name"] == "Main"
    assert key not in got.text
    updated = await client.put("/api/v1/devices/m1", json={"device_type": "kaifa", "location": "B"})
    assert updated.json()["location"] == "B"
    assert updated.json()["meter_key_set"] is True  # an omitted key keeps the flag
    assert updated.json()["created_at"] == created.json()["created_at"]
    cleared = await client.put("/api/v1/devices/m1", json={"device_type": "kaifa", "meter_key": ""})
    assert cleared.json()["meter_key_set"] is False
    assert [d["id"] for d in (await client.get("/api/v1/devices")).json()["items"]] == ["m1"]
    assert (await client.delete("/api/v1/devices/m1")).status_code == 204
    assert site.devices_changes == 4
    assert_problem(await client.get("/api/v1/devices/m1"), 404, "device_id")
    assert_problem(await client.delete("/api/v1/devices/m1"), 404, "device_id")
    assert_problem(await client.put("/api/v1/devices/zz", json={"device_type": "x"}), 404)


async def test_a_configured_meter_is_listed_and_refuses_api_edits(
    client: AsyncTestClient[Litestar], site: FakeSite
) -> None:
    # the site's file owns a configured meter: it is in the registry from the start, and
    # an edit through the API would be lost at the next start, so it is refused
    from datetime import UTC, datetime

    from meterhub.adapters.stores import Device

    now = datetime.now(UTC)
    await site.store.upsert_device(Device(
        id="house", name="House", device_type="meter", created_at=now, updated_at=now,
        metadata={"meterhub.source": "config", "meterhub.format": "mbus",
                  "meterhub.input": "serial", "meterhub.profile": "auto"}))  # fmt: skip
    site.configured.add("house")
    got = (await client.get("/api/v1/devices/house")).json()
    assert (got["source"], got["format"], got["input"], got["profile"]) == (
        "config",
        "mbus",
        "serial",
        "auto",
    )
    assert got["metadata"] == {}  # the reserved keys are shown as fields, not metadata
    listed = (await client.get("/api/v1/devices")).json()["items"]
    assert [d["id"] for d in listed] == ["house"]
    body = assert_problem(await client.put("/api/v1/devices/house", json={"device_type": "x"}),
                          409, "device_id")  # fmt: skip
    assert "site's file" in body["detail"]
    assert_problem(await client.delete("/api/v1/devices/house"), 409, "device_id")
    assert_problem(await client.post("/api/v1/devices", json={"id": "house", "device_type": "x"}),
                   409, "id")  # fmt: skip
    assert (await client.get("/api/v1/devices/house")).json()["name"] == "House"
    assert site.devices_changes == 0


async def test_an_alert_command_while_the_alerter_is_down_is_a_503(
    client: AsyncTestClient[Litestar], site: FakeSite
) -> None:
    site.alerter_down = True
    body = assert_problem(await client.post("/api/v1/alerts/a1/acknowledge"), 503)
    assert "alerter" in body["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"device_type": "kaifa"}, "id"),
    ({"id": "bad id", "device_type": "kaifa"}, "id"),
    ({"id": "m9", "device_type": "kaifa", "meter_key": "xyz"}, "meter_key"),
    ({"id": "m9", "device_type": "kaifa", "colour": "red"}, "colour"),
    ({"id": "m9", "device_type": "kaifa", "metadata": {"meterhub.meter_key_set": "true"}},
     "metadata.meterhub.meter_key_set"),
])  # fmt: skip
async def test_device_validation_names_the_field(
    client: AsyncTestClient[Litestar], body: dict[str, Any], field: str
) -> None:
    body_text = assert_problem(await client.post("/api/v1/devices", json=body), 400)
    assert field in body_text["detail"]


async def test_latest_comes_from_the_live_board(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/devices/m1/latest")
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    latest = response.json()
    assert latest["meter_id"] == "m1"
    assert latest["status"]["state"] == "online"
    assert latest["status"]["errors"] == {"checksum": 2, "truncated": 1}
    assert latest["reading"]["values"] == {"power_import_w": 230.0}
    silent = (await client.get("/api/v1/devices/m2/latest")).json()
    assert silent == {"meter_id": "m2", "status": None, "reading": None}
    assert_problem(await client.get("/api/v1/devices/nope/latest"), 404, "device_id")


# -- readings --------------------------------------------------------------------------


async def _all_pages(client: AsyncTestClient[Litestar], params: dict[str, Any]) -> list[Any]:
    rows, cursor, pages = [], None, 0
    while True:
        page = (await client.get("/api/v1/readings",
                                 params={**params, **({"cursor": cursor} if cursor else {})})).json()  # fmt: skip
        rows.extend(page["readings"] or page["buckets"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


async def test_raw_readings_page_without_gaps_or_repeats(client: AsyncTestClient[Litestar]) -> None:
    rows = await _all_pages(client, {**RANGE, "limit": 7})
    keys = [(r["ts"], r["meter_id"], r["metric"]) for r in rows]
    assert len(keys) == MINUTES * len(METERS) * len(METRICS)
    assert keys == sorted(set(keys))


async def test_readings_filter_by_meters_and_metrics(client: AsyncTestClient[Litestar]) -> None:
    page = (await client.get("/api/v1/readings", params={
        **RANGE, "meters": "m2", "metrics": ["power_import_w"], "limit": 1000})).json()  # fmt: skip
    assert {(r["meter_id"], r["metric"]) for r in page["readings"]} == {("m2", "power_import_w")}
    assert len(page["readings"]) == MINUTES
    both = (await client.get("/api/v1/readings", params={**RANGE, "meters": "m1,m2"})).json()
    assert {r["meter_id"] for r in both["readings"]} == {"m1", "m2"}


async def test_bucketed_readings_aggregate_and_page(client: AsyncTestClient[Litestar]) -> None:
    params = {**RANGE, "bucket": "15m", "agg": "max", "metrics": "energy_import_wh"}
    rows = await _all_pages(client, {**params, "limit": 1})
    assert [(r["meter_id"], r["count"]) for r in rows] == [("m1", 15), ("m2", 15)] * 2
    assert rows[0]["value"] == 1000.0 + 10 * 14
    last = (await client.get("/api/v1/readings", params={**params, "agg": "last"})).json()
    assert last["agg"] == "last"
    assert last["buckets"][0]["value"] == 1000.0 + 10 * 14


async def test_readings_as_csv(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/readings",
                                params={**RANGE, "format": "csv", "limit": 3, "meters": "m1"})  # fmt: skip
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == ["ts", "meter_id", "metric", "value", "quality", "quality_rule", "ts_source"]
    assert len(table) == 4
    assert table[1][:4] == [T0.isoformat(), "m1", "energy_import_wh", "1000.0"]
    cursor = response.headers["x-next-cursor"]
    more = await client.get("/api/v1/readings", params={**RANGE, "format": "csv", "limit": 3,
                                                       "meters": "m1", "cursor": cursor})  # fmt: skip
    assert list(csv.reader(io.StringIO(more.text)))[1][1:3] == ["m1", "power_import_w"]
    buckets = await client.get("/api/v1/readings",
                               params={**RANGE, "format": "csv", "bucket": "1h", "agg": "sum"})  # fmt: skip
    table = list(csv.reader(io.StringIO(buckets.text)))
    assert table[0] == ["bucket_start", "meter_id", "metric", "sum", "count"]
    assert len(table) == 1 + len(METERS) * len(METRICS)
    assert "x-next-cursor" not in buckets.headers


@pytest.mark.parametrize(("params", "param"), [
    ({"limit": 0}, "limit"),
    ({"limit": 10_001}, "limit"),
    ({"bucket": "5m"}, "bucket"),
    ({"agg": "median", "bucket": "1h"}, "agg"),
    ({"format": "xml"}, "format"),
    ({"start": "yesterday"}, "start"),
    ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
    ({"start": "1900-01-01T00:00:00Z"}, "start"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"bucket": "1m", "start": "1970-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z"}, "bucket"),
])  # fmt: skip
async def test_readings_errors_name_the_parameter(
    client: AsyncTestClient[Litestar], params: dict[str, Any], param: str
) -> None:
    assert_problem(await client.get("/api/v1/readings", params=params), 400, param)


async def test_a_cursor_only_fits_its_own_query(client: AsyncTestClient[Litestar]) -> None:
    page = (await client.get("/api/v1/readings", params={**RANGE, "limit": 1})).json()
    cursor = page["next_cursor"]
    other = await client.get("/api/v1/readings", params={"metrics": "x", "cursor": cursor})
    assert_problem(other, 400, "cursor")
    moved = await client.get("/api/v1/readings", params={"start": T0.isoformat(), "cursor": cursor,
                                                         "end": T0.isoformat()})  # fmt: skip
    assert_problem(moved, 400, "end")
    # the range travels in the cursor, so later pages need not repeat it
    assert (await client.get("/api/v1/readings", params={"cursor": cursor})).status_code == 200


# -- consumption, trends ---------------------------------------------------------------


async def test_consumption_per_meter_per_period(client: AsyncTestClient[Litestar]) -> None:
    params = {**RANGE, "end": (T0 + timedelta(hours=4)).isoformat()}
    hourly = (await client.get("/api/v1/consumption", params={**params, "period": "hour"})).json()
    assert [i["meter_id"] for i in hourly["items"]] == METERS
    assert [p["wh"] for p in hourly["items"][0]["periods"]] == [100.0, 200.0, 300.0]
    daily = (await client.get("/api/v1/consumption",
                              params={**params, "period": "day", "meters": "m2",
                                      "tz": "Europe/Vienna"})).json()  # fmt: skip
    assert [(i["meter_id"], i["tz"]) for i in daily["items"]] == [("m2", "Europe/Vienna")]
    assert sum(p["wh"] for p in daily["items"][0]["periods"]) == 600.0
    assert_problem(
        await client.get("/api/v1/consumption", params={"tz": "Mars/Olympus"}), 400, "tz"
    )
    assert_problem(
        await client.get("/api/v1/consumption", params={"period": "week"}), 400, "period"
    )
    assert_problem(await client.get("/api/v1/consumption", params={
        "period": "hour", "start": "1971-01-01T00:00:00Z"}), 400, "start")  # fmt: skip


async def test_trends(client: AsyncTestClient[Litestar]) -> None:
    found = (await client.get("/api/v1/trends", params={**RANGE, "meters": "m1"})).json()["items"]
    assert len(found) == 5
    assert {t["meter_id"] for t in found} == {"m1"}
    limited = await client.get("/api/v1/trends", params={**RANGE, "limit": 2})
    assert len(limited.json()["items"]) == 2
    none = await client.get("/api/v1/trends", params={**RANGE, "window_s": 900})
    assert none.json()["items"] == []
    assert_problem(await client.get("/api/v1/trends", params={"window_s": 0}), 400, "window_s")


# -- alerts ----------------------------------------------------------------------------


async def test_alerts_filter(client: AsyncTestClient[Litestar]) -> None:
    async def ids(**params: Any) -> list[str]:
        response = await client.get("/api/v1/alerts", params=params)
        return [a["id"] for a in response.json()["items"]]

    assert await ids() == ["a2", "a1", "a0"]
    assert await ids(state="open") == ["a0"]
    assert await ids(severity="critical") == ["a1"]
    assert await ids(meter="m2") == ["a1"]
    assert await ids(limit=1) == ["a2"]
    assert_problem(await client.get("/api/v1/alerts", params={"state": "gone"}), 400, "state")
    assert (await client.get("/api/v1/alerts/a1")).json()["severity"] == "critical"
    assert_problem(await client.get("/api/v1/alerts/zz"), 404, "alert_id")


async def test_acknowledge_and_resolve(client: AsyncTestClient[Litestar]) -> None:
    acked = await client.post("/api/v1/alerts/a0/acknowledge")
    assert acked.status_code == 200
    assert acked.json() == {"id": "a0", "action": "acknowledge", "state": "acknowledged"}
    assert_problem(await client.post("/api/v1/alerts/a0/acknowledge"), 409, "alert_id")
    assert (await client.post("/api/v1/alerts/a0/resolve")).json()["state"] == "resolved"
    assert_problem(await client.post("/api/v1/alerts/a0/resolve"), 409)
    assert_problem(await client.post("/api/v1/alerts/nope/resolve"), 404, "alert_id")


# -- device types, applications ------------------------------------------------------


async def test_device_types_and_applications(
    client: AsyncTestClient[Litestar], site: FakeSite
) -> None:
    put = await client.put("/api/v1/device-types/kaifa",
                           json={"description": "Kaifa MA309M", "metrics": ["power_import_w"]})  # fmt: skip
    assert put.json() == {"name": "kaifa", "description": "Kaifa MA309M",
                          "metrics": ["power_import_w"]}  # fmt: skip
    await client.put("/api/v1/device-types/heat-pump", json={})
    types = (await client.get("/api/v1/device-types")).json()["items"]
    assert [t["name"] for t in types] == ["heat-pump", "kaifa"]
    assert (await client.get("/api/v1/device-types/kaifa")).json()["metrics"] == ["power_import_w"]
    assert_problem(await client.get("/api/v1/device-types/none"), 404, "name")
    assert_problem(await client.put("/api/v1/device-types/bad%20name", json={}), 400, "name")
    await client.put("/api/v1/applications/billing", json={"device_types": ["kaifa"]})
    await client.put("/api/v1/applications/heating", json={"device_types": ["heat-pump", "kaifa"]})
    for device_type, expected in [("kaifa", ["billing", "heating"]), ("heat-pump", ["heating"]),
                                  (None, ["billing", "heating"]), ("other", [])]:  # fmt: skip
        params = {"device_type": device_type} if device_type else {}
        apps = (await client.get("/api/v1/applications", params=params)).json()["items"]
        assert [a["name"] for a in apps] == expected
    assert_problem(await client.put("/api/v1/applications/x", json={"device_types": "kaifa"}), 400)
    assert (await client.delete("/api/v1/applications/billing")).status_code == 204
    assert_problem(await client.delete("/api/v1/applications/billing"), 404, "name")
    assert (await client.delete("/api/v1/device-types/kaifa")).status_code == 204
    assert_problem(await client.delete("/api/v1/device-types/kaifa"), 404, "name")
    assert site.devices_changes == 6  # every change told the enricher


# -- operations ------------------------------------------------------------------------


async def test_status_lists_actors_and_decode_errors_per_meter(
    client: AsyncTestClient[Litestar],
) -> None:
    status = (await client.get("/api/v1/status")).json()
    assert [a["name"] for a in status["actors"]] == ["store-writer", "meter-m1"]
    assert status["actors"][1]["restarts"] == 2
    meters = {m["meter_id"]: m for m in status["meters"]}
    assert meters["m1"]["decode_errors"] == 3
    assert meters["m1"]["errors"] == {"checksum": 2, "truncated": 1}
    assert meters["m2"]["state"] is None
    assert [(p["name"], p["state"]) for p in status["plugins"]] == [("costs", "running")]


async def test_plugins_route_lists_every_plugin_with_its_state(
    client: AsyncTestClient[Litestar], site: FakeSite
) -> None:
    site.plugins.append(PluginReport(name="broken", interfaces=["processor"], version="2",
                                     package=None, state="refused",
                                     error="written for plugin API 2"))  # fmt: skip
    body = (await client.get("/api/v1/plugins")).json()
    assert [(p["name"], p["state"], p["error"]) for p in body] == [
        ("costs", "running", None), ("broken", "refused", "written for plugin API 2")]


async def test_health_ready_and_not_ready(
    client: AsyncTestClient[Litestar], site: FakeSite
) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json()["ready"] is True
    site.ready = Readiness(ready=False, state="degraded", failed=["meter-m1"],
                           reasons={"meter-m1": "crashed 5 times"})  # fmt: skip
    body = assert_problem(await client.get("/ready"), 503)
    assert body["failed"] == ["meter-m1"]
    assert body["reasons"] == {"meter-m1": "crashed 5 times"}
    assert "meter-m1" in body["detail"]


async def test_metrics_carry_the_runtime_and_http_requests(
    client: AsyncTestClient[Litestar],
) -> None:
    await client.get("/api/v1/devices/nope")
    text = (await client.get("/metrics")).text
    assert 'meterhub_actor_processed{actor="store-writer"} 42.0' in text
    assert ('meterhub_http_requests_total{method="GET",'
            'route="/api/v1/devices/{device_id}",status="404"} 1.0') in text  # fmt: skip
    assert "meterhub_http_request_duration_seconds_bucket" in text


# -- errors everywhere -----------------------------------------------------------------


async def test_unknown_routes_and_methods_are_problems(client: AsyncTestClient[Litestar]) -> None:
    assert_problem(await client.get("/api/v1/nothing"), 404)
    assert_problem(await client.patch("/api/v1/devices"), 405)


async def test_large_bodies_get_413(make_app: Callable[..., Litestar]) -> None:
    app = make_app(max_body_bytes=1024, auth="open-on-loopback")
    async with AsyncTestClient(app, base_url="http://127.0.0.1") as client:
        body = {"id": "m9", "device_type": "k", "metadata": {"blob": "x" * 900}, "name": "y" * 500}
        assert_problem(await client.post("/api/v1/devices", json=body), 413)


async def test_a_crash_is_a_500_problem_without_a_traceback(
    client: AsyncTestClient[Litestar], site: FakeSite
) -> None:
    site.crash = RuntimeError("secret internals at /srv/meterhub/site.py line 42")
    body = assert_problem(await client.get("/api/v1/status"), 500)
    assert "secret" not in str(body)
    assert "Traceback" not in str(body)


async def test_openapi_document_and_ui(client: AsyncTestClient[Litestar]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/readings" in document["paths"]
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert "meter_key" in document["components"]["schemas"]["DeviceCreate"]["properties"]
    assert "meter_key" not in document["components"]["schemas"]["DeviceOut"]["properties"]
    # the latest route answers with its own ASGI app; its document still names the body
    route = document["paths"]["/api/v1/devices/{device_id}/latest"]["get"]
    ok = route["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/Latest")
    assert [(p["name"], p["in"], p["required"]) for p in route["parameters"]] == [
        ("device_id", "path", True)
    ]
    ui = await client.get("/schema")
    assert ui.status_code == 200
    assert "text/html" in ui.headers["content-type"]


async def test_cors_allows_only_configured_origins(make_app: Callable[..., Litestar]) -> None:
    app = make_app(cors_origins=["https://dash.example"])
    async with AsyncTestClient(app, base_url="http://127.0.0.1") as client:
        ok = await client.options("/api/v1/devices", headers={
            "Origin": "https://dash.example", "Access-Control-Request-Method": "GET"})  # fmt: skip
        assert ok.headers["access-control-allow-origin"] == "https://dash.example"
        other = await client.get("/api/v1/devices", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
