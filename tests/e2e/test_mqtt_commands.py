"""Commands and firmware updates of MQTT devices, end to end, as an operator runs them.

A real ``meterhub run`` (with a wired simulated meter beside the MQTT devices), a real
``meterhub simulate --mqtt`` answering commands, a real Mosquitto, and the HTTP API.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.e2e.site_process import SiteProcess, free_port
from tests.mqtt import Mosquitto

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]
SIM = [sys.executable, "-m", "meterhub.cli", "simulate", "--mqtt"]
BREAKER, METER = "sim-smart_breaker-0", "sim-power_meter_ac-0"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def config(tmp_path: Path, broker: Mosquitto, port: int) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[api]\nlisten = "127.0.0.1:{port}"\n'
        'auth = "open-on-loopback"\n[journal]\nflush_interval_s = 0.02\n'
        f'[mqtt]\nurl = "{broker.url}"\ncommand_timeout_s = 60\n'
        '[[meters]]\nid = "house"\ntransport = "simulator"\n'
        'simulator = { kind = "kaifa_flat", interval = 0.5 }\n')  # fmt: skip
    return path


async def poll(client: httpx.AsyncClient, url: str, done: Any, timeout: float = 30) -> Any:
    """GET ``url`` until ``done(json)`` holds; the last body."""
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        try:
            response = await client.get(url)
        except httpx.TransportError:  # the site is still starting
            await anyio.sleep(0.1)
            continue
        if response.status_code == 200:
            body = response.json()
            if done(body):
                return body
        await anyio.sleep(0.1)
    msg = f"timed out polling {url}: last {body!r}"
    raise AssertionError(msg)


async def simulator(broker: Mosquitto) -> anyio.abc.Process:
    return await anyio.open_process([*SIM, broker.url, "--devices", "5", "--interval", "0.2"])


async def stop(proc: anyio.abc.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    with anyio.fail_after(20):
        await proc.wait()
    await proc.aclose()


async def test_a_command_lives_through_offline_restart_expiry_and_ota(  # noqa: PLR0915 (one story)
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()
    cfg = config(tmp_path, mosquitto, port)
    site = SiteProcess(cfg, tmp_path / "site.log")
    sim = await simulator(mosquitto)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            # the breaker registers itself, wired meter and MQTT devices side by side
            await poll(api, f"/api/v1/devices/{BREAKER}/latest",
                       lambda b: b["reading"] is not None)  # fmt: skip
            house = await poll(api, "/api/v1/devices/house/latest",
                               lambda b: b["reading"] is not None)  # fmt: skip
            assert "energy_import_wh" in house["reading"]["values"]
            registered = await poll(api, f"/api/v1/devices/{BREAKER}", lambda d: d)
            assert (registered["approval"], registered["source"]) == ("accepted", "mqtt")

            # 1. a command to an online device: queued, sent, acknowledged, and it acts
            sent = await api.post(f"/api/v1/devices/{BREAKER}/commands",
                                  json={"command": "set_relay",
                                        "params": {"phase": "l1", "on": False}})  # fmt: skip
            assert sent.status_code == 202, sent.text
            command = sent.json()
            assert command["state"] == "queued"
            done = await poll(api, f"/api/v1/commands/{command['id']}",
                              lambda c: c["state"] == "acknowledged")  # fmt: skip
            assert done["sent_at"] is not None
            await poll(api, f"/api/v1/devices/{BREAKER}/latest",
                       lambda b: b["reading"]["values"].get("relay_l1") == 0)  # fmt: skip

            # 2. an unknown command fails with the device's reason
            bad = (await api.post(f"/api/v1/devices/{BREAKER}/commands",
                                  json={"command": "self_destruct"})).json()  # fmt: skip
            failed = await poll(api, f"/api/v1/commands/{bad['id']}",
                                lambda c: c["state"] == "failed")  # fmt: skip
            assert failed["error"]

            # 3. the devices go away: commands wait, one expires
            await stop(sim)
            await poll(api, f"/api/v1/devices/{METER}/latest",
                       lambda b: b["status"]["state"] == "offline")  # fmt: skip
            short = (await api.post(f"/api/v1/devices/{METER}/commands",
                                    json={"command": "ping", "timeout_s": 1})).json()  # fmt: skip
            waiting = (await api.post(f"/api/v1/devices/{METER}/commands",
                                      json={"command": "ping"})).json()  # fmt: skip
            expired = await poll(api, f"/api/v1/commands/{short['id']}",
                                 lambda c: c["state"] == "expired")  # fmt: skip
            assert expired["sent_at"] is None
            assert (await api.get(f"/api/v1/commands/{waiting['id']}")).json()["state"] == "queued"

        # 4. meterhub is killed with -9 while the command waits; its state survives
        site.stop(signal.SIGKILL)
        site = SiteProcess(cfg, tmp_path / "site2.log")
        sim = await simulator(mosquitto)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            acked = await poll(api, f"/api/v1/commands/{waiting['id']}",
                               lambda c: c["state"] == "acknowledged", timeout=60)  # fmt: skip
            assert acked["result"] is not None

            # 5. a firmware update: requested, downloading, installing, updated; the new
            # version comes with the device's next hello
            body = {"url": "https://fw.example/pm-2.0.0.bin", "version": "2.0.0",
                    "sha256": "ab" * 32}  # fmt: skip
            ota = await api.post(f"/api/v1/devices/{METER}/ota", json=body)
            assert ota.status_code == 202, ota.text
            ota_id = ota.json()["ota"]["id"]
            run = await poll(api, f"/api/v1/ota/{ota_id}", lambda o: o["state"] == "updated")
            assert run["progress"] in (None, 100)
            device = await poll(api, f"/api/v1/devices/{METER}",
                                lambda d: d["metadata"].get("fw_version") == "2.0.0")  # fmt: skip
            assert device["device_type"] == "power_meter_ac"

            # 6. a bad image fails the update with the device's reason
            body["sha256"] = "0" * 64
            bad_ota = (await api.post(f"/api/v1/devices/{METER}/ota", json=body)).json()
            failed_ota = await poll(api, f"/api/v1/ota/{bad_ota['ota']['id']}",
                                    lambda o: o["state"] == "failed")  # fmt: skip
            assert "checksum" in (failed_ota["error"] or "")
    finally:
        if sim.returncode is None:
            sim.kill()
            await sim.wait()
        if site.proc.poll() is None:
            site.stop()
