"""Shared pieces of the MQTT adapter tests: configs, a publisher, receive with a deadline."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import anyio

from meterhub.adapters.mqtt import BrokerConfig, Incoming, MqttSession, open_session

if TYPE_CHECKING:
    from tests.mqtt import Mosquitto

TOPIC = "iot/dev-1/telemetry"
SUBSCRIPTIONS = [("iot/+/telemetry", 1)]


def site(broker: Mosquitto, **changes: object) -> BrokerConfig:
    """The site's persistent session on ``broker``."""
    config = BrokerConfig(host="127.0.0.1", port=broker.port, client_id="site-1")
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


async def publish(broker: Mosquitto, *payloads: bytes, topic: str = TOPIC) -> None:
    """Publish at QoS 1 from a throwaway device client, each acked by the broker."""
    config = site(broker, client_id="device-1", clean_start=True, session_expiry_s=0)
    async with open_session(config) as device:
        for payload in payloads:
            await device.publish(topic, payload)


async def receive(session: MqttSession, count: int, *, timeout: float = 10) -> list[Incoming]:
    """The next ``count`` messages, without acking them."""
    got: list[Incoming] = []
    if count == 0:
        return got
    with anyio.fail_after(timeout):
        async for message in session.messages():
            got.append(message)
            if len(got) == count:
                break
    return got


def payloads(messages: list[Incoming]) -> list[bytes]:
    return [message.payload for message in messages]
