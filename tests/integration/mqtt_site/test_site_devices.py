"""A site with MQTT devices, in process, against a real Mosquitto.

Devices are real aiomqtt clients publishing the protocol's JSON; what the site made of
it is read back from its SQLite store and its HTTP API.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import anyio
import httpx
import msgspec
import pytest

from meterhub.settings import load_settings
from meterhub.site import Site
from tests.integration.mqtt_site.devices import (
    device,
    encode,
    greet,
    hello,
    rows,
    site_config,
    telemetry,
    until,
)
from tests.mqtt import Mosquitto

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def readings(data_dir, device_id: str, metric: str) -> list[tuple[object, ...]]:
    return rows(data_dir, "SELECT value FROM readings WHERE meter_id = ? AND metric = ? "
                "ORDER BY ts", device_id, metric)  # fmt: skip


async def test_every_message_type_reaches_store_and_api(tmp_path, mosquitto: Mosquitto) -> None:
    settings = load_settings(site_config(tmp_path, mosquitto.url))
    data = tmp_path / "data"
    async with Site(settings) as site, device(mosquitto.port, "pm-1") as dev:
        await greet(site, dev, "pm-1", hello(fw="1.4.2"))
        for seq in range(5):
            ts = f"2026-12-03T10:00:0{seq}Z"
            await dev.publish("iot/pm-1/telemetry", telemetry(seq, ts=ts), qos=1)
        await until(lambda: len(readings(data, "pm-1", "power_import_w")) == 5, what="5 rows")
        assert [r[0] for r in readings(data, "pm-1", "power_import_w")] == [
            1000.0, 1001.0, 1002.0, 1003.0, 1004.0]  # fmt: skip
        assert readings(data, "pm-1", "voltage_l1_v")[0][0] == 231.2
        device_row = await site.store.get_device("pm-1")
        assert device_row is not None
        assert device_row.device_type == "power_meter_ac"
        assert device_row.metadata["fw_version"] == "1.4.2"
        assert device_row.metadata["meterhub.approval"] == "accepted"
        api = f"http://{settings.api.listen}"
        async with httpx.AsyncClient(base_url=api) as client:
            latest = (await client.get("/api/v1/devices/pm-1/latest")).json()
            assert "power_import_w" in str(latest)
            await dev.publish("iot/pm-1/status", encode({"state": "online", "rssi": -61}), qos=1)
            await dev.publish("iot/pm-1/telemetry", b"{oops", qos=1)
            await dev.publish("iot/pm-1/telemetry", encode({"device_id": "pm-2", "seq": 9,
                                                            "measurements": {}}), qos=1)  # fmt: skip

            found = await until_async(site.store.list_dead_letters, 2)
            assert sorted(letter.reason for letter in found) == ["malformed_json", "wrong_device"]
            assert any(letter.payload == b"{oops" for letter in found)
            assert all(letter.journal_seq is not None for letter in found)
            events = await until_async(lambda: site.store.list_device_events("pm-1"), 1)
            assert [e.kind for e in events] == ["online"]
        # the subscriber goes on after bad payloads
        await dev.publish("iot/pm-1/telemetry", telemetry(5), qos=1)
        await until(lambda: len(readings(data, "pm-1", "power_import_w")) == 6, what="6 rows")


async def test_duplicates_gaps_restarts_and_the_last_will(tmp_path, mosquitto: Mosquitto) -> None:
    settings = load_settings(site_config(tmp_path, mosquitto.url))
    data = tmp_path / "data"
    async with Site(settings) as site:
        async with device(mosquitto.port, "pm-2", will=False) as dev:
            await greet(site, dev, "pm-2", hello())
            for seq in (0, 1, 1, 2, 6, 7, 7):
                await dev.publish("iot/pm-2/telemetry", telemetry(seq), qos=1)
            await dev.publish("iot/pm-2/hello", hello(), qos=1)  # rebooted
            for seq in (0, 1):
                await dev.publish("iot/pm-2/telemetry", telemetry(seq), qos=1)
            await until(lambda: rows(data, "SELECT count(*) FROM device_events WHERE "
                                     "kind = 'restart'")[0][0] == 1, what="the restart")  # fmt: skip
        # a device that loses power: its connection ends without a DISCONNECT, so the
        # broker publishes its last will
        connection = subprocess.Popen(  # noqa: ASYNC220 (a helper process, killed below)
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-i", "pm-2",
             "-t", "iot/pm-2/command", "-q", "1", "--will-topic", "iot/pm-2/status",
             "--will-payload", '{"state": "offline"}', "--will-qos", "1", "--will-retain"],
            stdout=subprocess.DEVNULL)  # fmt: skip
        await anyio.sleep(0.5)
        connection.send_signal(signal.SIGKILL)
        connection.wait()
        await until(lambda: rows(data, "SELECT count(*) FROM device_events WHERE "
                                 "device_id = 'pm-2' AND kind = 'offline'")[0][0] == 1,
                    what="the last will", timeout=30)  # fmt: skip
        gaps = rows(data, "SELECT details FROM device_events WHERE kind = 'gap'")
        assert [msgspec.json.decode(g[0])["missing"] for g in gaps] == [3]
        # 0 1 2 6 7, then 0 1 after the reboot: seven readings, the two repeats dropped
        assert len(readings(data, "pm-2", "power_import_w")) == 7
        async with httpx.AsyncClient(base_url=f"http://{settings.api.listen}") as client:
            latest = (await client.get("/api/v1/devices/pm-2/latest")).json()
        assert latest["status"]["duplicates"] == 2, latest


async def until_async(query, count: int, timeout: float = 15.0):
    """Poll an async store query until it returns ``count`` rows."""
    deadline = anyio.current_time() + timeout
    while True:
        found = await query()
        if len(found) >= count or anyio.current_time() > deadline:
            return found
        await anyio.sleep(0.05)


async def test_a_pending_device_waits_until_an_operator_accepts_it(
    tmp_path, mosquitto: Mosquitto
) -> None:
    settings = load_settings(site_config(tmp_path, mosquitto.url,
                                         extra='unknown_devices = "pending"'))  # fmt: skip
    data = tmp_path / "data"
    async with Site(settings) as site, device(mosquitto.port, "pm-3") as dev:
        await greet(site, dev, "pm-3", hello())
        await dev.publish("iot/pm-3/telemetry", telemetry(0), qos=1)
        [letter] = await until_async(site.store.list_dead_letters, 1)
        assert letter.reason == "pending_device"
        assert readings(data, "pm-3", "power_import_w") == []
        async with httpx.AsyncClient(base_url=f"http://{settings.api.listen}") as client:
            shown = (await client.get("/api/v1/devices/pm-3")).json()
            assert (shown["approval"], shown["source"]) == ("pending", "mqtt")
            # editing the device's name keeps what meterhub keeps (input, approval)
            edited = await client.put("/api/v1/devices/pm-3", json={
                "name": "Garage meter", "device_type": "power_meter_ac"})  # fmt: skip
            assert edited.status_code == 200, edited.text
            assert edited.json()["approval"] == "pending"
            answer = await client.put("/api/v1/devices/pm-3/approval",
                                      json={"approval": "accepted"})  # fmt: skip
            assert answer.status_code == 200, answer.text
            wrong = await client.put("/api/v1/devices/pm-3/approval", json={"approval": "yes"})
            assert wrong.status_code == 400
        await dev.publish("iot/pm-3/telemetry", telemetry(1), qos=1)
        await until(lambda: readings(data, "pm-3", "power_import_w"), what="the accepted reading")
        device_row = await site.store.get_device("pm-3")
        assert device_row is not None
        assert device_row.name == "Garage meter"


async def test_replay_takes_in_what_a_device_sent_before_it_was_accepted(
    tmp_path, mosquitto: Mosquitto
) -> None:
    config = site_config(tmp_path, mosquitto.url, extra='unknown_devices = "pending"')
    settings = load_settings(config)
    data = tmp_path / "data"
    async with Site(settings) as site, device(mosquitto.port, "pm-4") as dev:
        await greet(site, dev, "pm-4", hello())
        for seq in range(3):
            await dev.publish("iot/pm-4/telemetry",
                              telemetry(seq, ts=f"2026-12-03T10:00:0{seq}Z"), qos=1)  # fmt: skip
        letters = await until_async(site.store.list_dead_letters, 3)
        assert [letter.reason for letter in letters] == ["pending_device"] * 3
        async with httpx.AsyncClient(base_url=f"http://{settings.api.listen}") as client:
            answer = await client.put("/api/v1/devices/pm-4/approval",
                                      json={"approval": "accepted"})  # fmt: skip
            assert answer.status_code == 200, answer.text
    assert readings(data, "pm-4", "power_import_w") == []
    # the site is stopped (replay needs the journal to itself)
    done = subprocess.run(  # noqa: ASYNC221 (the CLI as a user runs it)
        [sys.executable, "-m", "meterhub.cli", "replay", "-c", str(config), "--meter", "pm-4"],
        capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 readings decoded" in done.stdout, done.stdout
    assert [r[0] for r in readings(data, "pm-4", "power_import_w")] == [1000.0, 1001.0, 1002.0]
    again = subprocess.run(  # noqa: ASYNC221
        [sys.executable, "-m", "meterhub.cli", "replay", "-c", str(config)],
        capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert ", 0 rows new" in again.stdout, again.stdout
    assert len(readings(data, "pm-4", "power_import_w")) == 3
