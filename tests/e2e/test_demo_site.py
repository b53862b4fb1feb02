"""The demo site as a new user starts it: its meters are devices, its metrics move."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.site_process import free_port

MHUB = [sys.executable, "-m", "meterhub.cli"]
DEMO_METERS = ["dsmr-p1", "kaifa-noe", "kaifa-pv", "kaifa-tinetz"]


def series(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus series (the sum, when several match)."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found, f"no series {name} {labels}"
    return total


def wait_ready(client: httpx.Client, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "meterhub exited"
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the demo did not start within 30 s")


def test_demo_meters_are_devices_and_metrics_move(tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "METERHUB_LOGGING__LEVEL": "WARNING"}
    # the demo meters send every 5 s; one second here makes the test quick
    for n in range(4):
        env[f"METERHUB_METERS__{n}__SIMULATOR__INTERVAL"] = "1.0"
    with subprocess.Popen([*MHUB, "run", "--data-dir", str(tmp_path / "data"), "--listen",
                           listen], stderr=subprocess.PIPE, text=True, env=env) as proc:  # fmt: skip
        try:
            with httpx.Client(base_url=f"http://{listen}", timeout=10) as client:
                wait_ready(client, proc)
                listed = client.get("/api/v1/devices").json()["items"]
                assert [d["id"] for d in listed] == DEMO_METERS
                assert {d["source"] for d in listed} == {"config"}
                one = client.get("/api/v1/devices/kaifa-noe").json()
                assert (one["format"], one["input"], one["profile"]) == ("mbus", "simulator",
                                                                         "auto")  # fmt: skip
                assert one["name"] == "Kaifa MA309M, Netz NÖ layout"
                # both built-in plugins run in the demo
                plugins = {p["name"]: p["state"] for p in client.get("/api/v1/plugins").json()}
                assert plugins == {"costs": "running", "anomaly": "running"}
                tariffs = client.get("/api/v1/plugins/costs/tariffs").json()
                assert [b["name"] for b in tariffs["tariffs"][0]["bands"]] == [
                    "night", "weekend", "day"]  # fmt: skip
                costs = client.get("/api/v1/plugins/costs/meters/kaifa-noe",
                                   params={"period": "hour"})  # fmt: skip
                assert costs.status_code == 200
                assert costs.json()["currency"] == "EUR"

                first = client.get("/metrics").text
                deadline = time.monotonic() + 30
                while True:
                    time.sleep(1.0)
                    later = client.get("/metrics").text
                    decoded = series(later, "meterhub_meter_telegrams_decoded_total",
                                     meter="kaifa-noe")  # fmt: skip
                    if decoded >= 3 or time.monotonic() > deadline:
                        break
                latest = client.get("/api/v1/devices/kaifa-noe/latest").json()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert decoded >= 3
    # per meter: received and decoded move together, the state is online
    for meter in DEMO_METERS:
        assert series(later, "meterhub_meter_telegrams_received_total", meter=meter) >= series(
            later, "meterhub_meter_telegrams_decoded_total", meter=meter) > 0  # fmt: skip
        assert series(later, "meterhub_meter_state", meter=meter, state="online") == 1
        assert 0 <= series(later, "meterhub_meter_last_reading_age_seconds", meter=meter) < 10
    # the journal and the store moved between the two scrapes
    for name in ("meterhub_journal_appended_total", "meterhub_store_write_duration_seconds_count",
                 "meterhub_journal_flush_duration_seconds_count"):  # fmt: skip
        assert series(later, name) > (series(first, name) if name in first else 0), name
    assert series(later, "meterhub_journal_sink_lag", sink="store") >= 0
    assert re.search(r'meterhub_http_requests_total\{[^}]*route="/api/v1/devices"', later)
    # /latest serves the enriched reading: the registry's name reached it
    assert latest["reading"]["device"]["name"] == "Kaifa MA309M, Netz NÖ layout"
    assert latest["reading"]["quality"] == "good"
