"""The persistent session, and how a broken link reads."""

from __future__ import annotations

import socket
import subprocess
from typing import TYPE_CHECKING

import anyio
import pytest

from meterhub.adapters.mqtt import BrokerConfig, MqttLinkError, Will, open_session
from tests.integration.mqtt.helpers import SUBSCRIPTIONS, payloads, publish, receive, site
from tests.mqtt import Mosquitto, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PASSWORD = "s3cret-for-tests"  # noqa: S105 (a test broker's)


async def test_what_is_published_while_the_site_is_away_arrives_on_return(
    mosquitto: Mosquitto,
) -> None:
    config = site(mosquitto, session_expiry_s=3600)
    async with open_session(config, SUBSCRIPTIONS):
        pass
    await publish(mosquitto, b"away-1", b"away-2")
    with mosquitto.down():  # SIGTERM: the broker saves its sessions
        pass
    async with open_session(config, SUBSCRIPTIONS) as session:
        got = await receive(session, 2)
        assert payloads(got) == [b"away-1", b"away-2"]
        for message in got:
            session.ack(message)


async def test_clean_start_drops_what_the_broker_held(mosquitto: Mosquitto) -> None:
    config = site(mosquitto)
    async with open_session(config, SUBSCRIPTIONS):
        pass
    await publish(mosquitto, b"stale")
    async with open_session(site(mosquitto, clean_start=True), SUBSCRIPTIONS) as session:
        await publish(mosquitto, b"fresh")
        assert payloads(await receive(session, 1)) == [b"fresh"]


async def test_the_will_is_published_when_the_site_drops_off(mosquitto: Mosquitto) -> None:
    will = Will("sites/site-1/status", b"offline")
    watcher = site(mosquitto, client_id="watcher", clean_start=True)
    async with open_session(watcher, [("sites/+/status", 1)]) as watching:
        async with open_session(site(mosquitto, will=will)) as session:
            # the broker publishes the will only for an end without DISCONNECT: cut the
            # socket under the client, as a lost network would
            sock = session.client._client.socket()
            assert sock is not None
            sock.shutdown(socket.SHUT_RDWR)
        [message] = await receive(watching, 1)
    assert (message.topic, message.payload, message.qos) == (will.topic, b"offline", 1)


async def test_a_closed_port_is_refused_by_name() -> None:
    port = free_port()
    config = BrokerConfig(host="127.0.0.1", port=port)
    with anyio.fail_after(10), pytest.raises(MqttLinkError) as caught:
        async with open_session(config):
            pass
    assert caught.value.port == f"mqtt://127.0.0.1:{port}"
    assert "connection refused" in str(caught.value)


@pytest.fixture
def locked_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker that knows one user, ``meterhub``, with the password ``PASSWORD``."""
    passwords = tmp_path / "passwords"
    passwords.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "meterhub", PASSWORD], check=True)
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Mosquitto(folder, password_file=passwords)
    broker.start()
    yield broker
    broker.stop()


async def test_a_wrong_password_says_not_authorized(locked_broker: Mosquitto) -> None:
    wrong = site(locked_broker, username="meterhub", password="x" + PASSWORD)
    with anyio.fail_after(10), pytest.raises(MqttLinkError) as caught:
        async with open_session(wrong):
            pass
    assert "not authorized as 'meterhub' (check username and password)" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    right = site(locked_broker, username="meterhub", password=PASSWORD)
    async with open_session(right) as session:
        await session.publish("iot/x/status", b"{}")


async def test_a_broker_that_stops_mid_iteration_ends_it_with_a_link_error(
    mosquitto: Mosquitto,
) -> None:
    async with open_session(site(mosquitto), SUBSCRIPTIONS) as session:
        mosquitto.stop()
        with anyio.fail_after(10), pytest.raises(MqttLinkError) as caught:
            async for _ in session.messages():
                pass
        assert "lost the connection" in str(caught.value)
        with anyio.fail_after(10), pytest.raises(MqttLinkError, match="could not publish"):
            await session.publish("iot/x/status", b"{}")
