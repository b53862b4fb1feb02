"""Plugins in a real Site: each interface end to end, crash isolation, refusals."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import msgspec

from meterhub._plugins import load_site_plugins
from meterhub.adapters.simulator import SimulatedMeter
from meterhub.adapters.transports import SimulatedTransport
from meterhub.api import KeyStore, Role
from meterhub.model import Consumption, ConsumptionFlag
from meterhub.platform import Secret
from meterhub.plugins import discover
from meterhub.settings import Settings
from meterhub.site import Site
from meterhub.topics import CONSUMPTION
from tests.api_live.server import client, receive, subscribe
from tests.e2e.site_process import free_port

if TYPE_CHECKING:
    from pathlib import Path

    from meterhub.plugins import Discovered

SAMPLE = "tests.integration.plugins.sample"
GROUP = {"input": "meterhub.inputs", "processor": "meterhub.processors",
         "routes": "meterhub.routes"}  # fmt: skip


def discovered(**plugins: tuple[str, str]) -> dict[str, Discovered]:
    """name=(interface, class in sample.py) as real entry points."""
    points = [EntryPoint(name, f"{SAMPLE}:{cls}", GROUP[interface])
              for name, (interface, cls) in plugins.items()]  # fmt: skip
    return discover(lambda group: [p for p in points if p.group == group])


def settings(tmp_path: Path, plugins: dict[str, Any], meters: int = 0, **extra: Any) -> Settings:
    return msgspec.convert({
        "data_dir": str(tmp_path / "data"),
        "api": {"listen": f"127.0.0.1:{free_port()}", "auth": "open-on-loopback"},
        "logging": {"level": "WARNING"},
        "runtime": {"restart": {"max_restarts": 3, "within_seconds": 10,
                                "retry_failed_after_s": 30, "retry_failed_max_s": 60}},
        "meters": [{"id": f"m{i}", "format": "mbus", "port": "injected",
                    "key": f"{i + 1:032X}"} for i in range(meters)],
        "plugins": plugins,
        **extra,
    }, Settings, dec_hook=lambda _t, o: Secret(o))  # fmt: skip


def ticking(index: int, interval: float) -> SimulatedTransport:
    key = bytes.fromhex(f"{index + 1:032X}")
    meter = SimulatedMeter("kaifa_flat", f"{index:012d}", key, seed=index, start=datetime.now(UTC))
    return SimulatedTransport(meter, interval, offset=index / 30 * interval)


async def wait_for(check: Any, seconds: float = 20.0) -> Any:
    with anyio.fail_after(seconds):
        while not (result := await check()):  # noqa: ASYNC110 (the site's state)
            await anyio.sleep(0.1)
    return result


async def test_an_input_plugins_data_is_journaled_decoded_and_queryable(tmp_path: Path) -> None:
    config = settings(tmp_path, {"counter": {"count": 50}})
    plugins = load_site_plugins(config, discovered(counter=("input", "CountingInput")))
    async with Site(config, plugins=plugins) as site, httpx.AsyncClient(
            base_url=f"http://{config.api.listen}") as http:  # fmt: skip

        async def stored() -> list[Any] | None:
            body = (await http.get("/api/v1/readings", params={
                "meters": "ext-1", "start": "2026-12-01T00:00:00Z",
                "end": "2026-12-02T00:00:00Z", "limit": 1000})).json()  # fmt: skip
            return body["readings"] if len(body["readings"]) == 50 else None

        rows = await wait_for(stored)
        status = (await http.get("/api/v1/status")).json()
        device = (await http.get("/api/v1/devices/ext-1")).json()
        plugins_out = (await http.get("/api/v1/plugins")).json()
        journal_frames = sum(1 for _ in site.journal.read(0))
    assert sorted(r["value"] for r in rows) == [1000.0 * n for n in range(50)]
    assert rows[0]["ts"] == "2026-12-01T00:00:00Z"
    ext = next(m for m in status["meters"] if m["meter_id"] == "ext-1")
    # the garbage payload is counted as malformed, naming the plugin
    assert ext["errors"] == {"malformed": 1}
    assert "plugin counter" in ext["last_error"]
    assert device["name"] == "external counter"
    assert [(p["name"], p["interfaces"], p["state"]) for p in plugins_out] == [
        ("counter", ["input"], "running")]
    assert journal_frames == 51  # every payload journaled, the garbage too


async def test_a_processor_raises_alerts_with_evidence_and_derived_readings(tmp_path: Path) -> None:
    config = settings(tmp_path, {"counter": {"count": 20},
                                 "limit": {"limit": 15_000}})  # fmt: skip
    found = discovered(counter=("input", "CountingInput"), limit=("processor", "Limit"))
    async with Site(config, plugins=load_site_plugins(config, found)), httpx.AsyncClient(
            base_url=f"http://{config.api.listen}") as http:  # fmt: skip

        async def alerts() -> list[Any] | None:
            body = (await http.get("/api/v1/alerts", params={"state": "open"})).json()
            items = body["items"]
            return items or None

        listed = await wait_for(alerts)
        alert = listed[0]
        acked = await http.post(f"/api/v1/alerts/{alert['id']}/acknowledge")

        async def doubled() -> list[Any] | None:
            body = (await http.get("/api/v1/readings", params={
                "meters": "ext-1:double", "start": "2026-12-01T00:00:00Z",
                "end": "2026-12-02T00:00:00Z"})).json()  # fmt: skip
            return body["readings"] if len(body["readings"]) == 20 else None

        derived = await wait_for(doubled)
    assert len(listed) == 1  # one open alert for the cause, not one per reading
    assert alert["rule"] == "limit:limit"
    assert alert["severity"] == "critical"
    assert alert["value"] == 16_000.0  # the first reading above the limit
    assert alert["evidence"] == {"limit": 15_000.0}
    assert acked.status_code == 200
    assert sorted(r["value"] for r in derived) == [2000.0 * n for n in range(20)]


async def test_a_plugin_that_raises_on_everything_is_disabled_and_ingest_goes_on(
    tmp_path: Path,
) -> None:
    meters, interval = 30, 0.1
    config = settings(tmp_path, {"crashy": {}}, meters=meters)
    transports = {f"m{i}": (lambda i=i: ticking(i, interval)) for i in range(meters)}
    plugins = load_site_plugins(config, discovered(crashy=("processor", "Crashy")))
    offered = meters / interval
    async with Site(config, transports, plugins=plugins) as site, httpx.AsyncClient(
            base_url=f"http://{config.api.listen}") as http:  # fmt: skip
        committed: list[tuple[float, int]] = []
        states: set[str] = set()
        started = time.monotonic()
        while time.monotonic() - started < 20:
            await anyio.sleep(4.0)
            committed.append((time.monotonic(), site.journal.cursors.get("store", 0)))
            report = (await http.get("/api/v1/plugins")).json()[0]
            states.add(report["state"])
            ready = await http.get("/ready")
            assert ready.status_code == 200  # a plugin never makes the site unready
        body = ready.json()
        status = (await http.get("/api/v1/status")).json()
    assert "disabled" in states, states
    assert report["state"] == "disabled"
    assert "crashy bug" in (report["error"] or "")
    assert report["restarts"] >= 3
    assert body["degraded"] == ["plugin:crashy"]
    assert "crashy bug" in body["reasons"]["plugin:crashy"]
    assert [p["state"] for p in status["plugins"]] == ["disabled"]
    rates = [(c1 - c0) / (t1 - t0) for (t0, c0), (t1, c1) in itertools.pairwise(committed)]
    assert min(rates) > 0.8 * offered, rates


async def test_route_plugins_are_documented_and_guarded_by_roles(tmp_path: Path) -> None:
    config = settings(tmp_path, {"echo": {}, "norole": {}, "missing": {}},
                      api={"listen": f"127.0.0.1:{free_port()}", "auth": "keys"})
    keys = KeyStore.in_data_dir(tmp_path / "data")
    (tmp_path / "data").mkdir()
    tokens = {role: keys.create(Role(role))[1] for role in ("viewer", "operator")}
    found = discovered(echo=("routes", "Echo"), norole=("routes", "NoRole"))
    async with Site(config, plugins=load_site_plugins(config, found)), httpx.AsyncClient(
            base_url=f"http://{config.api.listen}") as http:  # fmt: skip

        def auth(role: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[role]}"}

        paths = (await http.get("/schema/openapi.json")).json()["paths"]
        anonymous = await http.get("/api/v1/plugins/echo/latest/x")
        viewer = await http.get("/api/v1/plugins/echo/latest/x", headers=auth("viewer"))
        viewer_post = await http.post("/api/v1/plugins/echo/mark", json={"text": "a"},
                                      headers=auth("viewer"))  # fmt: skip
        operator_post = await http.post("/api/v1/plugins/echo/mark", json={"text": "a"},
                                        headers=auth("operator"))  # fmt: skip
        refused = await http.get("/api/v1/plugins/norole/open", headers=auth("viewer"))
        reports = {p["name"]: p for p in
                   (await http.get("/api/v1/plugins", headers=auth("viewer"))).json()}  # fmt: skip
        ready = (await http.get("/ready")).json()
    assert "/api/v1/plugins/echo/latest/{meter_id}" in paths
    assert "/api/v1/plugins/echo/mark" in paths
    assert not any(p.startswith("/api/v1/plugins/norole") for p in paths)
    assert anonymous.status_code == 401
    assert viewer.status_code == 200
    assert viewer.json() == {"values": None}
    assert viewer_post.status_code == 403
    assert operator_post.status_code == 200
    assert refused.status_code == 404
    assert reports["echo"]["state"] == "running"
    assert reports["norole"]["state"] == "refused"
    assert "declares no role" in reports["norole"]["error"]
    assert reports["missing"]["state"] == "refused"
    assert "no installed plugin is named 'missing'" in reports["missing"]["error"]
    assert ready["ready"] is True
    assert ready["degraded"] == ["plugin:missing", "plugin:norole"]


async def test_a_durable_processor_catches_up_with_what_came_while_it_was_off(
    tmp_path: Path,
) -> None:
    found = discovered(counter=("input", "CountingInput"), durable=("processor", "Durable"))
    first = settings(tmp_path, {"durable": {}})
    async with Site(first, plugins=load_site_plugins(first, found)) as site:
        start_seq = site.journal.last_seq
    # the plugin is off while 30 payloads (and one garbage) arrive
    second = settings(tmp_path, {"counter": {"count": 30}})
    async with Site(second, plugins=load_site_plugins(second, found)) as site:
        await wait_for(lambda: _cursor_at(site, start_seq + 31))
    # back on (the input too: its records decode only with it enabled), with one more
    # (garbage) record
    third = settings(tmp_path, {"durable": {}, "counter": {"count": 0}})
    async with Site(third, plugins=load_site_plugins(third, found)) as site:

        async def seqs() -> list[int] | None:
            raw = await site.store.get_plugin_state("durable", "seqs")
            got = [int(s) for s in (raw or b"").decode().split(",") if s]
            return got if len(got) >= 30 else None

        handled = await wait_for(seqs)
        cursor = await site.store.get_plugin_state("durable", "meterhub.cursor")
    assert handled == list(range(start_seq + 1, start_seq + 31))  # in order, none twice
    assert int(cursor or b"0") >= start_seq + 31  # past the garbage records too


async def _cursor_at(site: Site, seq: int) -> bool:
    return site.journal.cursors.get("store", 0) >= seq


async def test_costs_are_pushed_live_as_each_interval_closes(tmp_path: Path) -> None:
    costs = {"currency": "EUR", "timezone": "Europe/Vienna",
             "tariffs": [{"valid_from": "2026-01-01", "energy_price": "0.2500",
                          "feed_in_price": "0.0800"}]}  # fmt: skip
    config = settings(tmp_path, {"costs": costs})
    found = discovered(costs=("processor", "CostProcessor"))
    found["costs"].points["processor"] = EntryPoint(
        "costs", "meterhub.plugins.costs:CostProcessor", "meterhub.processors")
    start = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    async with Site(config, plugins=load_site_plugins(config, found)) as site, client(
            f"ws://{config.api.listen}/api/v1/live") as ws:  # fmt: skip
        await subscribe(ws, kinds=["plugin"], meters=["house"])
        for metric, wh in (("energy_import_wh", 1234.0), ("energy_export_wh", 500.0)):
            await CONSUMPTION.publish(site.bus, "house", Consumption(
                meter_id="house", metric=metric, interval_start=start, interval_s=900, wh=wh,
                flag=ConsumptionFlag.MEASURED))  # fmt: skip
        await CONSUMPTION.publish(site.bus, "other", Consumption(
            meter_id="other", metric="energy_import_wh", interval_start=start, interval_s=900,
            wh=1.0, flag=ConsumptionFlag.MEASURED))  # fmt: skip
        events = [await receive(ws), await receive(ws)]
    assert [(e["kind"], e["plugin"], e["name"], e["key"]) for e in events] == [
        ("plugin", "costs", "cost", "house")] * 2
    cost, revenue = (e["data"] for e in events)
    # 1.234 kWh at 0.25, 0.5 kWh at 0.08
    assert (cost["kind"], cost["amount"], cost["currency"]) == ("cost", "0.308500", "EUR")
    assert (revenue["kind"], revenue["amount"]) == ("revenue", "0.040000")
    assert cost["interval_start"] == start.isoformat()


async def test_a_durable_processor_gets_every_reading_while_the_input_runs_live(
    tmp_path: Path,
) -> None:
    # the live path and the durable plugin decode the same records with their own
    # pipelines: neither may take the other's reading for a duplicate
    found = discovered(counter=("input", "CountingInput"), durable=("processor", "Durable"))
    config = settings(tmp_path, {"durable": {}, "counter": {"count": 40}})
    async with Site(config, plugins=load_site_plugins(config, found)) as site:

        async def seqs() -> list[int] | None:
            raw = await site.store.get_plugin_state("durable", "seqs")
            got = [int(s) for s in (raw or b"").decode().split(",") if s]
            return got if len(got) >= 40 else None

        handled = await wait_for(seqs)
        await wait_for(lambda: _cursor_at(site, 41))
    assert handled == list(range(1, 41))
