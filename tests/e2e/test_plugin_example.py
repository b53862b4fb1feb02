"""The example plugin package, installed with pip for real, found through its entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from tests.e2e.site_process import SiteProcess, free_port, wait_until

EXAMPLE = Path(__file__).parents[2] / "examples" / "plugin-example"
EXAMPLES = {"example_file": ["input"], "example_threshold": ["processor"],
            "example_summary": ["routes"]}  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The package installed by pip into a folder of its own; the env that sees it."""
    target = tmp_path_factory.mktemp("example") / "site-packages"
    # no build isolation: hatchling comes with the dev dependencies, no index needed
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    assert list(target.glob("meterhub_plugin_example-*.dist-info/entry_points.txt"))
    return {**os.environ, "PYTHONPATH": str(target)}


def plugins_list(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meterhub.cli", "plugins", "list", *args],
                          env=env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def site_config(tmp_path: Path, plugins: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[api]\n'
                    f'listen = "127.0.0.1:{free_port()}"\nauth = "open-on-loopback"\n'
                    f"{plugins}")  # fmt: skip
    return path


def test_plugins_list_finds_the_installed_package_through_its_entry_points(
    installed: dict[str, str], tmp_path: Path
) -> None:
    config = site_config(tmp_path, "[plugins.example_threshold]\nlimit = 5\n")
    with_example = plugins_list(installed, "-c", str(config), "--json")
    without = plugins_list({k: v for k, v in installed.items() if k != "PYTHONPATH"},
                           "-c", str(config), "--json")  # fmt: skip
    table = plugins_list(installed, "-c", str(config))
    found = {p["name"]: p for p in msgspec.json.decode(with_example.stdout)}
    assert with_example.returncode == 0, with_example.stderr
    for name, interfaces in EXAMPLES.items():
        assert found[name]["interfaces"] == interfaces
        assert found[name]["version"] == "1.0.0"
        assert found[name]["package"] == "meterhub-plugin-example 1.0.0"
    assert found["example_threshold"]["state"] == "enabled"
    assert found["example_file"]["state"] == "available"
    assert {"costs", "anomaly"} <= set(found)  # meterhub's own, through the same groups
    # not installed there: a configured plugin nobody provides is refused (exit 1)
    assert without.returncode == 1
    missing = {p["name"]: p for p in msgspec.json.decode(without.stdout)}
    assert missing["example_threshold"]["state"] == "refused"
    assert "example_summary" not in missing
    assert "example_threshold  processor" in table.stdout


def test_misconfigured_plugin_is_refused_naming_the_key(
    installed: dict[str, str], tmp_path: Path
) -> None:
    config = site_config(tmp_path, '[plugins.example_threshold]\nlimit = "high"\n'
                                   '[plugins.example_file]\npath = "x"\npoll_s = 0\n')
    result = plugins_list(installed, "-c", str(config))
    assert result.returncode == 1
    assert "example_threshold: plugins.example_threshold.limit: Expected `float`, got `str`" \
        in result.stdout
    assert "example_file: plugins.example_file.poll_s: must be above 0, got 0.0" in result.stdout


async def test_the_example_plugins_run_in_a_site(installed: dict[str, str], tmp_path: Path) -> None:
    lines = tmp_path / "readings.jsonl"
    rows = [{"device": "file-meter", "ts": f"2026-12-04T10:{m:02d}:00Z",
             "values": {"power_import_w": 1000.0 + 500 * m}} for m in range(6)]  # fmt: skip
    lines.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in rows) + b"garbage\n")
    config = site_config(tmp_path, f'[plugins.example_file]\npath = "{lines}"\n'
                                   'devices = ["file-meter"]\n'
                                   "[plugins.example_threshold]\nlimit = 2600\n"
                                   "[plugins.example_summary]\n")  # fmt: skip
    url = "http://" + msgspec.toml.decode(config.read_bytes())["api"]["listen"]
    site = SiteProcess(config, tmp_path / "site.log", env=installed)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:

            async def alerts() -> list[Any]:
                try:
                    return (await http.get("/api/v1/alerts")).json()["items"]
                except httpx.HTTPError:
                    return []

            await wait_until(alerts, 60, "the threshold alert")
            summary = (await http.get("/api/v1/plugins/example_summary/summary/file-meter"))
            note = await http.put("/api/v1/plugins/example_summary/notes/file-meter",
                                  json={"text": "checked"})  # fmt: skip
            again = (await http.get("/api/v1/plugins/example_summary/summary/file-meter")).json()
            readings = (await http.get("/api/v1/readings", params={
                "meters": "file-meter", "start": "2026-12-04T00:00:00Z",
                "end": "2026-12-05T00:00:00Z"})).json()["readings"]  # fmt: skip
            status = (await http.get("/api/v1/status")).json()
            paths = (await http.get("/schema/openapi.json")).json()["paths"]
            alert = (await alerts())[0]
            running = await anyio.to_thread.run_sync(
                lambda: plugins_list(installed, "--url", url, "--json"))
    finally:
        assert site.stop() == 0, site.text()
    # the journal holds the lines as delivered: a replay decodes them with the plugin again
    command = [sys.executable, "-m", "meterhub.cli", "replay", "-c", str(config)]
    # the site has stopped: nothing else runs on this loop meanwhile
    replay = subprocess.run(command, env=installed, capture_output=True, text=True,  # noqa: ASYNC221
                            timeout=120, check=False)  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    assert "replayed 7 frames" in replay.stdout
    assert "6 readings decoded" in replay.stdout
    assert "not a configured meter" not in replay.stderr
    assert sorted(r["value"] for r in readings) == [1000.0 + 500 * m for m in range(6)]
    assert alert["rule"] == "example_threshold:power_import_w"
    assert alert["value"] == 3000.0
    assert alert["evidence"]["limit"] == 2600.0
    assert summary.status_code == 200
    assert summary.json()["latest"] == {"power_import_w": 3500.0}
    assert note.status_code == 200
    assert again["note"] == "checked"
    meter = next(m for m in status["meters"] if m["meter_id"] == "file-meter")
    assert meter["errors"] == {"malformed": 1}  # the garbage line, counted, not fatal
    assert "/api/v1/plugins/example_summary/summary/{meter_id}" in paths
    states = {p["name"]: p["state"] for p in msgspec.json.decode(running.stdout)}
    assert {n: states[n] for n in EXAMPLES} == dict.fromkeys(EXAMPLES, "running")


async def test_an_input_plugin_feeds_the_dynamic_prices_of_the_costs_plugin(
    installed: dict[str, str], tmp_path: Path
) -> None:
    # a meter's counter every 15 minutes and quarter-hour prices, both from one file
    lines = tmp_path / "feed.jsonl"
    rows = [{"device": "house", "ts": f"2026-12-04T10:{15 * q:02d}:00Z",
             "values": {"energy_import_wh": 10_000.0 + 250 * q * (q + 1)}} for q in range(4)]
    rows += [{"device": "house", "ts": "2026-12-04T11:00:00Z",
              "values": {"energy_import_wh": 10_000.0 + 250 * 20}}]
    prices = ["0.1000", "0.2000", "0.3000", "0.4000"]
    rows += [{"device": "epex", "ts": f"2026-12-04T10:{15 * q:02d}:00Z",
              "values": {"price_per_kwh": float(p)}} for q, p in enumerate(prices)]
    rows += [{"device": "epex", "ts": "2026-12-04T11:00:00Z", "values": {"price_per_kwh": 0.5}}]
    lines.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in rows))  # fmt: skip
    config = site_config(tmp_path, f'[plugins.example_file]\npath = "{lines}"\n'
                                   '[plugins.costs]\ncurrency = "EUR"\n'
                                   'timezone = "Europe/Vienna"\nprices_meter = "epex"\n'
                                   'tariffs = [{ valid_from = 2026-01-01, dynamic = true, '
                                   'dynamic_markup = "0.01" }]\n')  # fmt: skip
    url = "http://" + msgspec.toml.decode(config.read_bytes())["api"]["listen"]
    site = SiteProcess(config, tmp_path / "site.log", env=installed)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            params = {"period": "hour", "start": "2026-12-04", "end": "2026-12-05"}

            async def priced() -> dict[str, Any] | None:
                try:
                    body = (await http.get("/api/v1/plugins/costs/meters/house",
                                           params=params)).json()  # fmt: skip
                except httpx.HTTPError:
                    return None
                hour = next((r for r in body.get("rows", [])
                             if r["period_start"] == "2026-12-04T10:00:00Z"), None)  # fmt: skip
                return hour if hour and hour["import_wh"] == 5000.0 else None

            await wait_until(priced, 60, "the 10:00 hour's four quarter-hours")
            hour = await priced()
            csv_text = (await http.get("/api/v1/plugins/costs/meters/house/csv",
                                       params=params)).text  # fmt: skip
    finally:
        assert site.stop() == 0, site.text()
    assert hour is not None
    # quarter q used 500·(q+1) Wh at price[q] + 0.01 (computed by hand)
    expected = sum(Decimal(500 * (q + 1)) / 1000 * (Decimal(p) + Decimal("0.01"))
                   for q, p in enumerate(prices))  # fmt: skip
    assert Decimal(hour["energy_cost"]) == expected  # 1.5 + 0.05 = 1.55
    assert hour["unpriced_wh"] == 0.0
    assert "2026-12-04T10:00:00Z,5000.0,0.0,1.550000" in csv_text
