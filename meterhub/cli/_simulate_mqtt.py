"""``meterhub simulate --mqtt``: simulated devices on a real broker (docs/mqtt-protocol.md).

Each device is its own MQTT client, as a real one would be: its id as client id and
username, its last will on ``<prefix>/<id>/status``, its own command subscription.
The payloads come from the pure ``SimulatedDevice``; this module only does the I/O.
"""

from __future__ import annotations

import argparse
import signal
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import aiomqtt
import anyio

from meterhub.adapters.simulator import DEVICE_KINDS, MISBEHAVIOURS, SimulatedDevice
from meterhub.adapters.transports import TransportError
from meterhub.platform import ConfigError

if TYPE_CHECKING:
    from meterhub.adapters.simulator import Outgoing

HEARTBEAT_S: Final = 30.0
"""A status heartbeat this often; the protocol asks for one a minute or so."""
_GOODBYE_S = 5.0
"""How long a stopping device may take to say offline and disconnect."""
_INCOMING = 64
"""Commands queued per device before the client stops reading (aiomqtt's is unbounded)."""
_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class _Broker:
    url: str
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    prefix: str


def broker_address(url: str) -> tuple[str, int, bool]:
    """Return (host, port, tls) of ``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]``.

    Raises:
        ConfigError: the URL is not one of those.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in _PORTS
        or not parts.hostname
        or port == -1
        or parts.path not in ("", "/")
    ):
        raise ConfigError(
            "--mqtt", "", f"expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], got {url!r}"
        )
    return parts.hostname, port or _PORTS[parts.scheme], parts.scheme == "mqtts"


def misbehaviours(text: str) -> frozenset[str]:
    """An argparse type: misbehaviour names separated by commas, or ``all``."""
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    if names == {"all"}:
        return frozenset(MISBEHAVIOURS)
    unknown = sorted(names - set(MISBEHAVIOURS))
    if unknown or not names:
        known = ", ".join(MISBEHAVIOURS)
        raise argparse.ArgumentTypeError(f"expected 'all' or some of {known}, got {text!r}")
    return names


def device_count(text: str) -> int:
    """An argparse type: how many devices, 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number (1 or more), got {text!r}")
    return int(text)


async def run_devices(
    url: str,
    devices: int,
    interval: float,
    count: int,
    misbehave: frozenset[str],
    *,
    prefix: str = "iot",
    seed: int = 0,
    username: str | None = None,
    password: str | None = None,
    stop: anyio.Event | None = None,
) -> None:
    """Run ``devices`` simulated devices, kinds round-robin, until each sent ``count``.

    Each publishes its hello, then one telemetry message every ``interval`` seconds
    (the devices spread over the interval), a status heartbeat every ``HEARTBEAT_S``,
    and answers its commands. ``count`` 0 runs until ``stop`` is set (or the caller
    cancels); then each device says offline and disconnects cleanly.

    Args:
        url: the broker, ``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]``.
        devices: how many devices.
        interval: seconds between two readings of one device.
        count: readings per device, 0 for no limit.
        misbehave: names from ``MISBEHAVIOURS``.
        prefix: the topic prefix (the site's ``[mqtt] prefix``).
        seed: seeds the values and the misbehaviours.
        username: for every device; its device id when ``None``.
        password: for every device.
        stop: set it to stop the devices cleanly.

    Raises:
        ConfigError: a bad URL.
        TransportError: a device cannot reach the broker, or lost it.
    """
    host, port, tls = broker_address(url)
    broker = _Broker(url, host, port, tls, username, password, prefix)
    start = datetime.now(UTC)
    sims = [
        SimulatedDevice(kind, f"sim-{kind}-{i // len(DEVICE_KINDS)}", seed=seed, start=start,
                        misbehave=misbehave)
        for i, kind in ((i, DEVICE_KINDS[i % len(DEVICE_KINDS)]) for i in range(devices))
    ]  # fmt: skip
    stop = stop or anyio.Event()
    async with anyio.create_task_group() as tg:
        for i, sim in enumerate(sims):
            tg.start_soon(_DeviceClient(sim, broker).run, interval * i / devices, interval,
                          count, stop)  # fmt: skip


class _DeviceClient:
    """One simulated device connected to the broker."""

    def __init__(self, sim: SimulatedDevice, broker: _Broker) -> None:
        self._sim = sim
        self._broker = broker
        self._topic = f"{broker.prefix}/{sim.device_id}"
        will = aiomqtt.Will(f"{self._topic}/status", sim.will(), qos=1, retain=True)
        self._client = aiomqtt.Client(
            broker.host,
            broker.port,
            identifier=sim.device_id,
            username=broker.username or sim.device_id,
            password=broker.password,
            will=will,
            clean_session=False,  # the protocol's fixed client id keeps a session
            tls_context=ssl.create_default_context() if broker.tls else None,
            max_queued_incoming_messages=_INCOMING,
        )

    async def run(self, offset: float, interval: float, count: int, stop: anyio.Event) -> None:
        """Connect, publish until ``count`` or ``stop``, say offline, disconnect.

        Raises:
            TransportError: the broker cannot be reached or went away.
        """
        sim = self._sim
        try:
            async with self._client:
                await self._client.subscribe(f"{self._topic}/command", qos=1)
                await self._publish("hello", sim.hello())
                await self._publish("status", sim.status(now=datetime.now(UTC)))
                print(f"{sim.device_id}: {sim.kind} on {self._broker.url}, "
                      f"topics {self._topic}/#", flush=True)  # fmt: skip
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._answer_commands)
                    tg.start_soon(self._heartbeat, stop)
                    await self._telemetry(offset, interval, count, stop)
                    tg.cancel_scope.cancel()
                with anyio.move_on_after(_GOODBYE_S, shield=True):
                    await self._publish("status", sim.status(online=False))
        except aiomqtt.MqttError as exc:
            raise TransportError(self._broker.url, f"device {sim.device_id}: {exc}") from exc

    async def _telemetry(self, offset: float, interval: float, count: int,
                         stop: anyio.Event) -> None:  # fmt: skip
        next_at = anyio.current_time() + offset
        sent = 0
        while not count or sent < count:
            if await _stopped_before(next_at, stop):
                return
            await self._publish_all(self._sim.telemetry(datetime.now(UTC)))
            sent += 1
            next_at += interval

    async def _heartbeat(self, stop: anyio.Event) -> None:
        next_at = anyio.current_time() + HEARTBEAT_S
        while not await _stopped_before(next_at, stop):
            await self._publish("status", self._sim.status(now=datetime.now(UTC)))
            next_at += HEARTBEAT_S

    async def _answer_commands(self) -> None:
        async for message in self._client.messages:
            answers = self._sim.on_command(bytes(message.payload), now=datetime.now(UTC))
            await self._publish_all(answers)

    async def _publish_all(self, outgoing: list[Outgoing]) -> None:
        for suffix, payload in outgoing:
            await self._publish(suffix, payload)

    async def _publish(self, suffix: str, payload: bytes) -> None:
        # hello and status are retained, so that a site connecting later learns the
        # device and its state (the will replaces the status) first
        await self._client.publish(f"{self._topic}/{suffix}", payload, qos=1,
                                   retain=suffix in {"hello", "status"})  # fmt: skip


async def _stopped_before(deadline: float, stop: anyio.Event) -> bool:
    """Wait until ``deadline`` (``anyio.current_time()``); whether ``stop`` came first."""
    with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
        await stop.wait()
    return stop.is_set()


def run(args: argparse.Namespace) -> int:
    """Run the devices of ``simulate --mqtt`` until ``--count`` or Ctrl-C (SIGINT, SIGTERM)."""

    async def main() -> None:
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def watch_signals() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        if stop.is_set():  # a second signal: do not wait for goodbyes
                            tg.cancel_scope.cancel()
                        stop.set()

            tg.start_soon(watch_signals)
            await run_devices(
                args.mqtt, args.devices, args.interval, args.count, args.misbehave,
                prefix=args.prefix, seed=args.seed, stop=stop,
            )  # fmt: skip
            tg.cancel_scope.cancel()

    anyio.run(main)
    return 0
