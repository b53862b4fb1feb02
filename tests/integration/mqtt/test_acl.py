"""The ACL from ``meterhub mqtt-acl``, loaded in a real Mosquitto."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest

from meterhub.adapters.mqtt import BrokerConfig, MqttLinkError, MqttSession, open_session
from tests.mqtt import Mosquitto

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PASSWORD = "CHANGE-ME"  # noqa: S105 (the template's placeholder, hashed as it is)


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker with the CLI's ACL and password file for the site and dev-a, dev-b."""
    out = tmp_path / "auth"
    command = [sys.executable, "-m", "meterhub.cli", "mqtt-acl", "--out", str(out),
               "--device", "dev-a", "--device", "dev-b"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    subprocess.run(["mosquitto_passwd", "-U", str(out / "passwords")], check=True)
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Mosquitto(folder, password_file=out / "passwords", acl_file=out / "acl")
    broker.start()
    yield broker
    broker.stop()


def _as(broker: Mosquitto, user: str) -> BrokerConfig:
    return BrokerConfig(host="127.0.0.1", port=broker.port, client_id=user, clean_start=True,
                        username=user, password=PASSWORD)  # fmt: skip


async def _first(session: MqttSession) -> tuple[str, bytes]:
    with anyio.fail_after(10):
        async for message in session.messages():
            session.ack(message)
            return message.topic, message.payload
    raise AssertionError("the iteration ended")


async def _forge(broker: Mosquitto, user: str, topic: str) -> None:
    """Publish where ``user`` may not. Mosquitto answers PUBACK "not authorized" (135),
    after which paho 2.2 drops the connection itself, so the session ends broken."""
    with contextlib.suppress(MqttLinkError):
        async with open_session(_as(broker, user)) as device:
            await device.publish(topic, b"forged")
            await device.publish(topic, b"forged again")


async def test_a_device_publishes_only_under_its_own_id(acl_broker: Mosquitto) -> None:
    async with open_session(_as(acl_broker, "meterhub"), [("iot/#", 1)]) as site:
        await _forge(acl_broker, "dev-a", "iot/dev-b/telemetry")
        async with open_session(_as(acl_broker, "dev-a")) as device:
            await device.publish("iot/dev-a/telemetry", b"own")
        # the broker keeps the order of what it forwards: had it taken a forged
        # message, the site would have seen it first
        assert await _first(site) == ("iot/dev-a/telemetry", b"own")


async def test_a_device_reads_only_its_own_commands(acl_broker: Mosquitto) -> None:
    async with open_session(_as(acl_broker, "dev-a"), [("iot/+/command", 1)]) as device:
        async with open_session(_as(acl_broker, "meterhub")) as site:
            await site.publish("iot/dev-b/command", b"for b")
            await site.publish("iot/dev-a/command", b"for a")
        assert await _first(device) == ("iot/dev-a/command", b"for a")


async def test_a_device_may_not_publish_commands(acl_broker: Mosquitto) -> None:
    async with open_session(_as(acl_broker, "dev-b"), [("iot/dev-b/command", 1)]) as target:
        await _forge(acl_broker, "dev-a", "iot/dev-b/command")
        async with open_session(_as(acl_broker, "meterhub")) as site:
            await site.publish("iot/dev-b/command", b"real")
        assert await _first(target) == ("iot/dev-b/command", b"real")


async def test_a_user_outside_the_password_file_is_not_let_in(acl_broker: Mosquitto) -> None:
    with anyio.fail_after(10), pytest.raises(MqttLinkError, match="not authorized as 'dev-c'"):
        async with open_session(_as(acl_broker, "dev-c")):
            pass
