"""``meterhub simulate --mqtt`` as a user runs it, against a real Mosquitto."""

from __future__ import annotations

import signal
import sys
from collections import Counter
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiomqtt
import anyio
import msgspec
from anyio.streams.text import TextReceiveStream

from meterhub.adapters.simulator import DEVICE_KINDS, FAILING_SHA256, SimulatedDevice
from tests.mqtt import Mosquitto

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from anyio.abc import Process, TaskStatus

MHUB = [sys.executable, "-m", "meterhub.cli", "simulate"]
IDS = [f"sim-{kind}-0" for kind in DEVICE_KINDS]


class Message(msgspec.Struct, frozen=True):
    topic: str
    payload: bytes
    retain: bool

    @property
    def device(self) -> str:
        return self.topic.split("/")[1]

    @property
    def suffix(self) -> str:
        return self.topic.split("/", 2)[2]

    def json(self) -> Any:
        return msgspec.json.decode(self.payload)


class Recorder:
    """Everything the broker sends a subscriber of ``iot/#``, and a way to wait for it."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[Message] = []
        self._changed = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        await self.client.subscribe("iot/#", qos=1)
        task_status.started()
        async for m in self.client.messages:
            assert isinstance(m.payload, bytes)
            self.messages.append(Message(str(m.topic), m.payload, m.retain))
            self._changed.set()
            self._changed = anyio.Event()

    def on(self, device: str, suffix: str) -> list[Message]:
        return [m for m in self.messages if m.device == device and m.suffix == suffix]

    async def wait(self, what: str, done: Callable[[], bool], timeout: float = 30) -> None:
        with anyio.move_on_after(timeout):
            while not done():
                await self._changed.wait()
        if not done():
            seen = Counter(m.topic for m in self.messages)
            raise AssertionError(f"no {what} within {timeout} s; seen: {dict(seen)}")

    async def command(self, device: str, body: dict[str, Any]) -> None:
        await self.client.publish(f"iot/{device}/command", msgspec.json.encode(body), qos=1)


async def recorder(broker: Mosquitto, tg: anyio.abc.TaskGroup) -> Recorder:
    client = aiomqtt.Client("127.0.0.1", broker.port, identifier="test-recorder")
    await tg.start(_connected, client)
    found = Recorder(client)
    await tg.start(found.run)
    return found


async def _connected(client: aiomqtt.Client, *, task_status: TaskStatus[None]) -> None:
    async with client:
        task_status.started()
        await anyio.sleep_forever()


async def started(proc: Process, devices: int) -> list[str]:
    """The simulator's lines, one per device, printed once each device is subscribed."""
    assert proc.stdout is not None
    lines: list[str] = []
    text = ""
    with anyio.fail_after(30):
        async for chunk in TextReceiveStream(proc.stdout):
            text += chunk
            if text.count("\n") >= devices:
                break
    lines = text.splitlines()
    assert len(lines) == devices, text
    return lines


def offline(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.json() == {"state": "offline"}]


async def test_five_devices_say_hello_and_send_twenty_readings_each(mosquitto: Mosquitto) -> None:
    async with anyio.create_task_group() as tg:
        rec = await recorder(mosquitto, tg)
        args = ["--mqtt", mosquitto.url, "--devices", "5", "--interval", "0.05", "--count", "20"]
        with anyio.fail_after(60):
            result = await anyio.run_process([*MHUB, *args], check=False)
        assert result.returncode == 0, result.stderr.decode()
        # each device's last word is its goodbye, published after all its readings
        await rec.wait("goodbyes", lambda: all(offline(rec.on(i, "status")) for i in IDS))
        tg.cancel_scope.cancel()

    lines = result.stdout.decode().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == sorted(IDS)
    hellos = {m.device: m.json() for m in rec.messages if m.suffix == "hello"}
    assert {h["device_type"] for h in hellos.values()} == set(DEVICE_KINDS)
    assert all(hellos[f"sim-{h['device_type']}-0"] == h for h in hellos.values())
    telemetry = [m for m in rec.messages if m.suffix == "telemetry"]
    assert len(telemetry) == 100
    for device in IDS:
        readings = [m.json() for m in rec.on(device, "telemetry")]
        assert [r["seq"] for r in readings] == list(range(20)), device
        assert {r["boot"] for r in readings} == {1}
        assert all(datetime.fromisoformat(r["ts"]).tzinfo == UTC for r in readings)
        statuses = [m.json()["state"] for m in rec.on(device, "status")]
        assert statuses == ["online", "offline"]  # hello, then goodbye; no will


async def test_misbehaving_devices_send_exactly_what_their_seed_says(mosquitto: Mosquitto) -> None:
    wrong = frozenset({"duplicates", "gaps", "restarts", "malformed", "batches"})
    async with anyio.create_task_group() as tg:
        rec = await recorder(mosquitto, tg)
        args = ["--mqtt", mosquitto.url, "--devices", "1", "--interval", "0", "--count", "200",
                "--misbehave", "--seed", "3"]  # fmt: skip
        with anyio.fail_after(60):
            result = await anyio.run_process([*MHUB, *args], check=False)
        assert result.returncode == 0, result.stderr.decode()
        await rec.wait("goodbye", lambda: bool(offline(rec.on(IDS[0], "status"))))
        tg.cancel_scope.cancel()

    # the misbehaviours depend on (seed, device, message number), not on the clock
    now = datetime.now(UTC)
    twin = SimulatedDevice(DEVICE_KINDS[0], IDS[0], seed=3, start=now, misbehave=wrong)
    expected = [o for _ in range(200) for o in twin.telemetry(now)]
    got = [m for m in rec.messages if m.suffix in {"hello", "telemetry"}][1:]  # after hello
    assert [(m.suffix, counters(m.payload)) for m in got] == [
        (o.suffix, counters(o.payload)) for o in expected
    ]
    shapes = [counters(m.payload) for m in got if m.suffix == "telemetry"]
    assert any(shape is None for shape in shapes)  # malformed
    assert any(shape is not None and len(shape) > 1 for shape in shapes)  # batches
    payloads = Counter(m.payload for m in got if m.suffix == "telemetry")
    assert max(payloads.values()) == 2  # duplicates


def counters(payload: bytes) -> list[list[int]] | None:
    """The (seq, boot) of each reading of a telemetry payload; ``None`` if malformed."""
    try:
        decoded = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    readings = decoded if isinstance(decoded, list) else [decoded]
    if not all(isinstance(r, dict) and isinstance(r.get("seq"), int) for r in readings):
        return None
    if not all(isinstance(r.get("measurements"), dict) for r in readings):
        return None
    return [[r["seq"], r["boot"]] for r in readings]


@asynccontextmanager
async def simulator(*args: str) -> AsyncIterator[Process]:
    """A running ``meterhub simulate --mqtt``, killed if the test did not stop it."""
    proc = await anyio.open_process([*MHUB, *args])
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        with anyio.fail_after(10, shield=True):
            await proc.wait()
        await proc.aclose()


async def test_commands_and_ota_are_answered_and_kill_9_leaves_the_will(
    mosquitto: Mosquitto,
) -> None:
    breaker, ac, dc, temperature = IDS[2], IDS[0], IDS[1], IDS[3]
    async with anyio.create_task_group() as tg:
        rec = await recorder(mosquitto, tg)
        args = ["--mqtt", mosquitto.url, "--devices", "5", "--interval", "0.1", "--count", "0"]
        async with simulator(*args) as proc:
            await started(proc, 5)  # subscribed to their commands by now

            await rec.command(breaker, {"id": "relay-1", "command": "set_relay",
                                        "params": {"phase": "l1", "on": False}})  # fmt: skip
            await rec.wait("the relay ack", lambda: bool(rec.on(breaker, "command/ack")))
            (ack,) = rec.on(breaker, "command/ack")
            assert ack.json() == {"id": "relay-1", "status": "ok", "result": {"relay_l1": False}}
            after = len(rec.messages)
            await rec.wait("telemetry with the relay open",
                           lambda: any(m.suffix == "telemetry" and m.device == breaker
                                       for m in rec.messages[after:]))  # fmt: skip
            reading = next(m.json() for m in rec.messages[after:]
                           if m.suffix == "telemetry" and m.device == breaker)  # fmt: skip
            assert reading["measurements"]["relay"]["phase_a"] is False
            assert reading["measurements"]["current"]["phase_a"] == 0

            ota = {"url": "https://fw.example/pm-1.5.0.bin", "version": "1.5.0"}
            await rec.command(ac, {"id": "ota-1", "command": "ota_update",
                                   "params": {**ota, "sha256": "9f" * 32}})  # fmt: skip
            await rec.command(dc, {"id": "ota-2", "command": "ota_update",
                                   "params": {**ota, "sha256": FAILING_SHA256}})  # fmt: skip
            await rec.command(temperature, {"id": "x-1", "command": "self_destruct"})
            await rec.wait("both OTA outcomes and the error ack", lambda: (
                any(m.json()["state"] == "updated" for m in rec.on(ac, "ota/status"))
                and any(m.json()["state"] == "failed" for m in rec.on(dc, "ota/status"))
                and bool(rec.on(temperature, "command/ack"))))  # fmt: skip
            assert [m.json() for m in rec.on(ac, "command/ack")] == [
                {"id": "ota-1", "status": "ok", "result": {"version": "1.5.0"}}]  # fmt: skip
            progress = [
                (m.json()["state"], m.json().get("progress")) for m in rec.on(ac, "ota/status")
            ]
            assert progress == [*(("downloading", p) for p in (0, 25, 50, 75, 100)),
                                ("installing", None), ("updated", None)]  # fmt: skip
            failed = [m.json() for m in rec.on(dc, "ota/status")]
            assert failed[-1] == {
                "ota_id": "ota-2",
                "state": "failed",
                "error": "checksum mismatch",
            }
            assert rec.on(temperature, "command/ack")[0].json() == {
                "id": "x-1", "status": "error",
                "error": "unknown command 'self_destruct' for a temperature_sensor"}  # fmt: skip
            await rec.wait("the hello after the update", lambda: len(rec.on(ac, "hello")) == 2)
            assert rec.on(ac, "hello")[-1].json()["fw_version"] == "1.5.0"
            assert [m.json()["fw_version"] for m in rec.on(dc, "hello")] == ["1.0.0"]

            before = len(rec.messages)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await rec.wait(
                "the last wills",
                lambda: {m.device for m in offline(rec.messages[before:])} == set(IDS),
            )
        tg.cancel_scope.cancel()

    # the will is retained: a site that connects later learns that the devices are gone
    async with anyio.create_task_group() as tg:
        late = await recorder(mosquitto, tg)
        # each device's hello is retained too: a site learns its type before any telemetry
        await late.wait("retained statuses and hellos", lambda: len(late.messages) == 2 * len(IDS))
        tg.cancel_scope.cancel()
    assert all(m.retain for m in late.messages)
    statuses = {m.device: m.json() for m in late.messages if m.suffix == "status"}
    assert statuses == {device: {"state": "offline"} for device in IDS}
    assert {m.device for m in late.messages if m.suffix == "hello"} == set(IDS)


async def test_ctrl_c_says_goodbye_and_disconnects_cleanly(mosquitto: Mosquitto) -> None:
    async with anyio.create_task_group() as tg:
        rec = await recorder(mosquitto, tg)
        args = ["--mqtt", mosquitto.url, "--devices", "2", "--interval", "0.05"]
        async with simulator(*args) as proc:
            await started(proc, 2)
            await rec.wait("telemetry", lambda: all(rec.on(i, "telemetry") for i in IDS[:2]))
            proc.send_signal(signal.SIGINT)
            with anyio.fail_after(15):
                assert await proc.wait() == 0
        await rec.wait("goodbyes", lambda: all(offline(rec.on(i, "status")) for i in IDS[:2]))
        # the devices' sockets closed before this marker went out: had one not sent a
        # DISCONNECT, the broker would have published its will before the marker
        await rec.client.publish("iot/marker/done", b"{}", qos=1)
        await rec.wait("the marker", lambda: bool(rec.on("marker", "done")))
        tg.cancel_scope.cancel()
    for device in IDS[:2]:
        assert len(offline(rec.on(device, "status"))) == 1, "a will as well as the goodbye"


async def test_a_bad_url_or_an_absent_broker_is_one_clear_line(mosquitto: Mosquitto) -> None:
    bad = await anyio.run_process(
        [*MHUB, "--mqtt", "http://127.0.0.1", "--count", "1"], check=False
    )
    assert bad.returncode == 2
    assert bad.stderr.decode() == ("meterhub: configuration error: --mqtt: expected mqtt://HOST[:PORT] "
                                   "or mqtts://HOST[:PORT], got 'http://127.0.0.1'\n")  # fmt: skip
    port = mosquitto.port
    mosquitto.stop()
    absent = await anyio.run_process(
        [*MHUB, "--mqtt", f"mqtt://127.0.0.1:{port}", "--devices", "1"], check=False
    )
    assert absent.returncode == 1
    assert absent.stderr.decode() == (f"meterhub: error: mqtt://127.0.0.1:{port}: device "
                                      f"{IDS[0]}: [Errno 111] Connection refused\n")  # fmt: skip
    wrong = await anyio.run_process(
        [*MHUB, "--mqtt", "mqtt://h", "--misbehave", "lies"], check=False
    )
    assert wrong.returncode == 2
    assert "argument --misbehave: expected 'all' or some of duplicates" in wrong.stderr.decode()
