"""Nothing an MQTT device sent is lost or stored twice: kill -9 and a broker restart.

A real ``meterhub run`` (with a wired simulated meter beside the devices), a real
Mosquitto with persistence, devices publishing QoS 1 with paho. The backlog is queued on
the broker for the site's persistent session, so the site is stopped mid-stream for
certain; afterwards every reading is in the store exactly once.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.e2e.site_process import SiteProcess, free_port
from tests.mqtt import Mosquitto

pytestmark = pytest.mark.timeout(300)
DEVICES = 5
PER_BATCH = 1500
T0 = datetime(2026, 12, 3, tzinfo=UTC)


def config(tmp_path: Path, broker: Mosquitto) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[api]\nlisten = "127.0.0.1:{free_port()}"\n'
        '[logging]\nlevel = "INFO"\n'
        f'[mqtt]\nurl = "{broker.url}"\nclient_id = "site-under-test"\n'
        "receive_maximum = 200\nstale_after = 600\noffline_after = 1200\n"
        '[[meters]]\nid = "house"\ntransport = "simulator"\n'
        'simulator = { kind = "kaifa_flat", interval = 0.2 }\n')  # fmt: skip
    return path


def publish(port: int, first: int, count: int, *, hello: bool = False) -> None:
    """Each device publishes ``count`` telemetry messages from seq ``first``; returns once
    the broker acknowledged every one."""
    clients = []
    for index in range(DEVICES):
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"loss-dev-{index}")
        client.max_inflight_messages_set(100)
        client.connect("127.0.0.1", port)
        client.loop_start()
        clients.append(client)
    infos = []
    for index, client in enumerate(clients):
        if hello:
            body = {"device_type": "power_meter_ac", "fw_version": "1.0"}
            infos.append(client.publish(f"iot/loss-dev-{index}/hello", msgspec.json.encode(body),
                                        qos=1, retain=True))  # fmt: skip
        for seq in range(first, first + count):
            ts = (T0 + timedelta(seconds=seq)).isoformat()
            body = {"seq": seq, "ts": ts, "measurements": {"power": {"active": float(seq)}}}
            infos.append(client.publish(f"iot/loss-dev-{index}/telemetry",
                                        msgspec.json.encode(body), qos=1))  # fmt: skip
    for info in infos:
        info.wait_for_publish(timeout=60)
        assert info.is_published()
    for client in clients:
        client.disconnect()
        client.loop_stop()


def stored(data: Path) -> dict[str, list[int]]:
    """Per device, the seqs stored (power_import_w carries the seq), with repeats."""
    try:
        with sqlite3.connect(data / "meterhub.db", timeout=10) as con:
            found = con.execute("SELECT meter_id, value FROM readings WHERE metric = "
                                "'power_import_w' AND meter_id LIKE 'loss-dev-%'").fetchall()  # fmt: skip
    except sqlite3.OperationalError:
        return {}
    out: dict[str, list[int]] = {}
    for device, value in found:
        out.setdefault(device, []).append(int(value))
    return out


def registered(data: Path) -> int:
    try:
        with sqlite3.connect(data / "meterhub.db", timeout=10) as con:
            return int(con.execute("SELECT count(*) FROM devices WHERE id LIKE "
                                   "'loss-dev-%'").fetchone()[0])  # fmt: skip
    except sqlite3.OperationalError:
        return 0


def count(data: Path) -> int:
    return sum(len(seqs) for seqs in stored(data).values())


def wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout} s waiting for {what}"
            raise AssertionError(msg)
        time.sleep(0.02)


def test_kill_9_and_a_broker_restart_mid_stream_lose_nothing_and_store_nothing_twice(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg, data = config(tmp_path, mosquitto), tmp_path / "data"
    site = SiteProcess(cfg, tmp_path / "site-1.log")
    try:
        # the retained hellos reach the site once it subscribed: then its session exists
        publish(mosquitto.port, 0, 0, hello=True)
        wait(lambda: registered(data) == DEVICES, 60, "the devices to register")
        publish(mosquitto.port, 0, 1)
        wait(lambda: count(data) == DEVICES, 60, "the first readings")
        # 1. a backlog waits for the site's session; killed with -9 while taking it in
        site.stop(signal.SIGKILL)
        publish(mosquitto.port, 1, PER_BATCH)
        site = SiteProcess(cfg, tmp_path / "site-2.log")
        wait(lambda: count(data) > DEVICES, 60, "the backlog to start")
        taken = count(data)
        site.stop(signal.SIGKILL)
        assert taken < DEVICES * (PER_BATCH + 1), "the kill came too late to be mid-stream"
        site = SiteProcess(cfg, tmp_path / "site-3.log")
        wait(lambda: count(data) == DEVICES * (PER_BATCH + 1), 120, "the backlog after kill -9")
        # 2. the broker restarts while the site takes a backlog in
        site.stop()
        publish(mosquitto.port, PER_BATCH + 1, PER_BATCH)
        site = SiteProcess(cfg, tmp_path / "site-4.log")
        before = DEVICES * (PER_BATCH + 1)
        wait(lambda: count(data) > before, 60, "the second backlog to start")
        mosquitto.stop()
        partial = count(data)
        mosquitto.start()
        assert partial < DEVICES * (2 * PER_BATCH + 1), "the restart came too late"
        total = DEVICES * (2 * PER_BATCH + 1)
        wait(lambda: count(data) == total, 120, "the backlog after the broker restart")
        time.sleep(1)  # anything stored twice would show up now
        seqs = stored(data)
        assert sorted(seqs) == [f"loss-dev-{i}" for i in range(DEVICES)]
        for device, found in seqs.items():
            assert sorted(found) == list(range(2 * PER_BATCH + 1)), device
    finally:
        if site.proc.poll() is None:
            site.stop()
