"""MQTT ingest benchmark: device telemetry through a local Mosquitto into the store.

Three consumers drain the same backlog, measured in one run:

- ``bare``: an aiomqtt subscriber (MQTT v5, QoS 1, acks on receipt) that does nothing;
- ``naive``: the collector the seed systems describe: paho-mqtt, decode the JSON, one
  INSERT (and commit) per message into SQLite;
- ``meterhub``: ``meterhub run`` with ``[mqtt]`` and SQLite, every message journaled
  (fsync on) before it is decoded and acknowledged after it is on disk, then mapped,
  validated and stored; done when the store writer's cursor has passed every message.

The backlog is published by many device connections (paho clients in another process)
while the consumer's persistent session is away, so the drain measures the consumer and
not the publisher, which would share the machine's two cores with it. Then a live run
at a fixed offered rate: publish-to-stored latency (a message is stored when the store
writer's committed cursor passes its journal record; journal order is receive order) and
the site's memory (RSS) over the run.

Run: ``.venv/bin/python bench/mqtt.py [--messages 60000] [--devices 50] [--repeat 3]
[--live-rate 5000] [--live-seconds 120]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import aiomqtt
import anyio
import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.mqtt import Mosquitto, free_port

if TYPE_CHECKING:
    from collections.abc import Callable

QOS = 1


def device_id(index: int) -> str:
    return f"bench-{index:04d}"


def payload(seq: int, ts: str) -> bytes:
    return msgspec.json.encode({"seq": seq, "ts": ts, "measurements": {
        "voltage": {"phase_a": 231.2, "phase_b": 229.8, "phase_c": 230.4, "unit": "V"},
        "current": {"phase_a": 8.1, "phase_b": 7.9, "phase_c": 8.3, "unit": "A"},
        "power": {"active": 5775.9 + seq % 100, "unit": "W"},
        "energy": {"import": 1234.5 + seq / 1000, "unit": "kWh"}}})  # fmt: skip


HELLO = msgspec.json.encode({"device_type": "power_meter_ac", "fw_version": "1.0.0",
                             "capabilities": ["telemetry"]})  # fmt: skip


# -- publishing (another process) -------------------------------------------------------


def _publish(port: int, devices: int, per_device: int, rate: float, first_seq: int) -> float:
    """Publish per_device telemetry messages for each device (at ``rate`` msg/s, 0: flat
    out), or with per_device 0 each device's hello (retained, as the protocol asks); the
    wall time taken."""
    clients = []
    for index in range(devices):
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id(index),
                             protocol=paho.MQTTv5)  # fmt: skip
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", port)
        client.loop_start()
        clients.append(client)
    infos = []
    if not per_device:
        for index, client in enumerate(clients):
            infos.append(client.publish(f"iot/{device_id(index)}/hello", HELLO, qos=QOS,
                                        retain=True))  # fmt: skip
    started = time.monotonic()
    sent = 0
    for seq in range(first_seq, first_seq + per_device):
        for index, client in enumerate(clients):
            ts = datetime.now(UTC).isoformat()
            infos.append(client.publish(f"iot/{device_id(index)}/telemetry", payload(seq, ts),
                                        qos=QOS))  # fmt: skip
            sent += 1
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    for info in infos:
        info.wait_for_publish(timeout=600)
    taken = time.monotonic() - started
    for client in clients:
        client.disconnect()
        client.loop_stop()
    return taken


def publish(port: int, devices: int, per_device: int, rate: float = 0, first_seq: int = 0) -> float:
    with multiprocessing.Pool(1) as pool:
        return pool.apply(_publish, (port, devices, per_device, rate, first_seq))


# -- consumers --------------------------------------------------------------------------


async def _bare_session(port: int, client_id: str, count: int | None) -> float:
    """Create the session (count None) or drain ``count`` messages; seconds taken."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client = aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_start=False,
                            protocol=aiomqtt.ProtocolVersion.V5, properties=props)  # fmt: skip
    # from before the connect: the queued backlog flows as soon as the session resumes
    started, got = time.monotonic(), 0
    async with client:
        await client.subscribe("iot/+/telemetry", QOS)
        if count is None:
            return 0.0
        async for _ in client.messages:
            got += 1
            if got == count:
                break
        return time.monotonic() - started


def bare(port: int, client_id: str, count: int | None) -> float:
    return anyio.run(_bare_session, port, client_id, count)


async def _forget_session(port: int, client_id: str) -> None:
    client = aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_start=True,
                            protocol=aiomqtt.ProtocolVersion.V5)  # fmt: skip
    async with client:  # a clean start with no expiry: the broker drops the session
        pass


def forget(port: int, client_id: str) -> None:
    """End a consumer's session, or it would queue every later run's messages."""
    anyio.run(_forget_session, port, client_id)


def _naive(port: int, client_id: str, db: str, count: int | None) -> float:
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE IF NOT EXISTS readings (device TEXT, ts TEXT, metric TEXT, value REAL)"
    )
    state = {"got": 0, "started": 0.0, "ended": 0.0}

    def on_message(_client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
        if not state["got"]:
            state["started"] = time.monotonic()
        data = msgspec.json.decode(msg.payload)
        device = msg.topic.split("/")[1]
        for group, values in data["measurements"].items():
            for key, value in values.items():
                if key != "unit":
                    con.execute("INSERT INTO readings VALUES (?, ?, ?, ?)",
                                (device, data["ts"], f"{group}.{key}", value))  # fmt: skip
        con.commit()
        state["got"] += 1
        if count is not None and state["got"] == count:
            state["ended"] = time.monotonic()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)  # fmt: skip
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.subscribe("iot/+/telemetry", QOS)
    if count is None:
        client.loop(1.0)
        client.disconnect()
        return 0.0
    while not state["ended"]:
        client.loop(0.5)
    client.disconnect()
    return state["ended"] - state["started"]


def naive(port: int, client_id: str, db: str, count: int | None) -> float:
    with multiprocessing.Pool(1) as pool:
        return pool.apply(_naive, (port, client_id, db, count))


class SiteRun:
    """``meterhub run`` on the broker, SQLite in a temporary folder."""

    def __init__(self, folder: Path, port: int, client_id: str) -> None:
        self.client_id = client_id
        self.data = folder / "site"
        self.config = folder / "site.toml"
        self.config.write_text(
            f'data_dir = "{self.data}"\n[api]\nlisten = "127.0.0.1:{free_port()}"\n'
            '[logging]\nlevel = "WARNING"\n[demo]\nheartbeat_interval = 3600\n'
            f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "{client_id}"\n'
            "stale_after = 3600\noffline_after = 7200\n")  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "meterhub.cli", "run", "-c",
                                      str(self.config)], stderr=subprocess.DEVNULL)  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=120)
            self.proc = None

    def _query(self, sql: str) -> int:
        try:
            with sqlite3.connect(self.data / "meterhub.db", timeout=5) as con:
                row = con.execute(sql).fetchone()
        except sqlite3.OperationalError:
            return 0  # not created yet
        return int(row[0]) if row and row[0] is not None else 0

    def cursor(self) -> int:
        """The store writer's committed cursor (the last journal record stored)."""
        return self._query("SELECT seq FROM sink_cursors WHERE sink = 'store'")

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def wait(self, what: str, done: Callable[[], bool], timeout: float = 600) -> float:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: cursor {self.cursor()}")
            time.sleep(0.02)
        return time.monotonic()

    def latencies(self, samples: list[tuple[float, int]], after: int) -> list[float]:
        """Publish-to-stored seconds of up to 5,000 messages past journal record ``after``.

        A message's publish time is its payload's ``ts`` (the publisher's clock, this
        machine's); it is stored when the first cursor sample passed its record.
        """
        with sqlite3.connect(self.data / "meterhub.db") as con:
            rows = con.execute("SELECT journal_seq, ts FROM readings WHERE metric = "
                               "'power_import_w' AND journal_seq > ? ORDER BY journal_seq",
                               (after,)).fetchall()  # fmt: skip
        lat: list[float] = []
        index = 0
        for seq, ts in rows[:: max(1, len(rows) // 5000)]:
            while samples[index][1] < seq:
                index += 1
            lat.append(samples[index][0] - ts / 1e6)  # the store keeps microseconds
        return sorted(lat)

    def warm_up(self, port: int, devices: int) -> int:
        """Start, register every device, store one reading each; the cursor then.

        The hellos are retained, so they reach the site however late it subscribes; the
        telemetry follows once every device is registered (the site is subscribed), so
        the last record is a reading and the cursor counts every record.
        """
        self.start()
        publish(port, devices, 0)
        self.wait("registered", lambda: self._query("SELECT count(*) FROM devices") >= devices,
                  timeout=60)  # fmt: skip
        publish(port, devices, 1)
        self.wait("warm-up readings", lambda: self._query(
            "SELECT count(DISTINCT meter_id) FROM readings") >= devices, timeout=60)  # fmt: skip
        time.sleep(0.5)  # the cursor's last commit
        return self.cursor()


def drain_meterhub(folder: Path, port: int, devices: int, per_device: int, run: int) -> float:
    """Seconds the site takes to store a backlog queued while it was paused (SIGSTOP:
    its connection and session stay, so the drain does not count Python's start-up)."""
    site = SiteRun(folder, port, f"bench-site-{run}")
    base = site.warm_up(port, devices)
    assert site.proc is not None
    site.proc.send_signal(signal.SIGSTOP)
    try:
        publish(port, devices, per_device, first_seq=1)
    finally:
        site.proc.send_signal(signal.SIGCONT)
    started = time.monotonic()
    target = base + devices * per_device
    ended = site.wait("drain", lambda: site.cursor() >= target)
    site.stop()
    for role in ("ingest", "commands"):  # the site's two connections
        forget(port, f"{site.client_id}-{role}")
    return ended - started


def live(folder: Path, port: int, devices: int, rate: float, seconds: float) -> dict[str, float]:
    site = SiteRun(folder, port, "bench-site-live")
    base = site.warm_up(port, devices)
    per_device = max(1, int(rate * seconds / devices))
    pool = multiprocessing.Pool(1)
    sent_at = time.monotonic()
    result = pool.apply_async(_publish, (port, devices, per_device, rate, 1))
    samples: list[tuple[float, int]] = []  # (wall clock, the store's cursor)
    rss: list[tuple[float, float]] = []
    total = base + devices * per_device
    last_rss = 0.0
    deadline = sent_at + seconds * 3 + 60
    while True:
        now = time.monotonic()
        cursor = site.cursor()
        samples.append((time.time(), cursor))
        if now - last_rss >= 1:
            rss.append((now - sent_at, site.rss_mb()))
            last_rss = now
        if cursor >= total:
            break
        if now > deadline:
            raise TimeoutError(f"live: cursor {cursor} < {total}")
        time.sleep(0.02)
    published_in = result.get()
    pool.close()
    site.stop()
    lat = site.latencies(samples, base)
    first = [m for t, m in rss if t <= 20] or [rss[0][1]]
    last = [m for t, m in rss if t >= rss[-1][0] - 20] or [rss[-1][1]]
    return {"p50_s": lat[len(lat) // 2], "p99_s": lat[int(len(lat) * 0.99)],
            "rss_first_mb": statistics.median(first), "rss_last_mb": statistics.median(last),
            "rss_max_mb": max(m for _, m in rss), "published_in_s": published_in}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--live-rate", type=float, default=5000)
    parser.add_argument("--live-seconds", type=float, default=120)
    args = parser.parse_args()
    per_device = args.messages // args.devices
    count = per_device * args.devices
    rates: dict[str, list[float]] = {"bare": [], "naive": [], "meterhub": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "broker").mkdir()
        broker = Mosquitto(folder / "broker")
        broker.start()
        try:
            for run in range(args.repeat):
                # each consumer has its own session, ended after its drain
                name = f"bench-bare-{run}"
                bare(broker.port, name, None)
                publish(broker.port, args.devices, per_device)
                rates["bare"].append(count / bare(broker.port, name, count))
                forget(broker.port, name)
                db, name = str(folder / f"naive-{run}.db"), f"bench-naive-{run}"
                naive(broker.port, name, db, None)
                publish(broker.port, args.devices, per_device)
                rates["naive"].append(count / naive(broker.port, name, db, count))
                forget(broker.port, name)
                run_folder = folder / f"site-{run}"
                run_folder.mkdir()
                rates["meterhub"].append(count / drain_meterhub(
                    run_folder, broker.port, args.devices, per_device, run))  # fmt: skip
                print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} msg/s"
                                                       for k, v in rates.items()), flush=True)  # fmt: skip
            if args.repeat:  # --repeat 0: the live run only
                med = {k: statistics.median(v) for k, v in rates.items()}
                print(f"\n{count:,} telemetry messages from {args.devices} device connections, "
                      f"QoS 1, median of {args.repeat} runs:")  # fmt: skip
                for name, value in med.items():
                    print(f"  {name:9} {value:9,.0f} msg/s  ({value / med['bare']:.2f} x bare)")
            if args.live_seconds > 0:
                live_folder = folder / "live"
                live_folder.mkdir()
                figures = live(live_folder, broker.port, args.devices, args.live_rate,
                               args.live_seconds)  # fmt: skip
                print(f"\nlive at {args.live_rate:,.0f} msg/s for {args.live_seconds:.0f} s: "
                      f"publish-to-stored p50 {figures['p50_s']:.3f} s, "
                      f"p99 {figures['p99_s']:.3f} s; site RSS {figures['rss_first_mb']:.0f} MB "
                      f"in the first 20 s, {figures['rss_last_mb']:.0f} MB in the last 20 s "
                      f"(max {figures['rss_max_mb']:.0f} MB); the publisher took "
                      f"{figures['published_in_s']:.1f} s")  # fmt: skip
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
