"""The manual ack (aiomqtt issue #345): a message is acked only when the caller says so.

These tests pin ``_session._paho``, the one use of aiomqtt's private paho client.
"""

from __future__ import annotations

import anyio

from meterhub.adapters.mqtt import open_session
from tests.integration.mqtt.helpers import SUBSCRIPTIONS, payloads, publish, receive, site
from tests.mqtt import Mosquitto


async def test_an_unacked_message_comes_again_and_an_acked_one_does_not(
    mosquitto: Mosquitto,
) -> None:
    config = site(mosquitto)
    async with open_session(config, SUBSCRIPTIONS) as session:
        await publish(mosquitto, b"one")
        assert payloads(await receive(session, 1)) == [b"one"]
    # dropped by cancellation while the caller still held it: not acked
    with anyio.CancelScope() as scope:
        async with open_session(config, SUBSCRIPTIONS) as session:
            [again] = await receive(session, 1)
            assert again.payload == b"one"
            scope.cancel()
    async with open_session(config, SUBSCRIPTIONS) as session:
        [third] = await receive(session, 1)
        assert third.payload == b"one"
        session.ack(third)
    async with open_session(config, SUBSCRIPTIONS) as session:
        # the broker sends what it holds for the session first, so a marker that comes
        # first proves "one" is gone
        await publish(mosquitto, b"marker")
        assert payloads(await receive(session, 1)) == [b"marker"]


async def test_messages_queued_while_away_are_not_acked_by_the_reconnect(
    mosquitto: Mosquitto,
) -> None:
    # the trap of STACK constraint 2: with manual ack set after the connect, what the
    # broker queued for the session is acked in the same read as the CONNACK
    config = site(mosquitto)
    async with open_session(config, SUBSCRIPTIONS):
        pass
    await publish(mosquitto, b"a", b"b", b"c")
    async with open_session(config, SUBSCRIPTIONS) as session:
        assert payloads(await receive(session, 3)) == [b"a", b"b", b"c"]
    async with open_session(config, SUBSCRIPTIONS) as session:
        got = await receive(session, 3)
        assert payloads(got) == [b"a", b"b", b"c"]
        for message in got:
            session.ack(message)
        await publish(mosquitto, b"marker")
        assert payloads(await receive(session, 1)) == [b"marker"]


async def test_qos0_needs_no_ack(mosquitto: Mosquitto) -> None:
    async with open_session(site(mosquitto), [("iot/+/status", 0)]) as session:
        device = site(mosquitto, client_id="device-1", clean_start=True)
        async with open_session(device) as publisher:
            await publisher.publish("iot/dev-1/status", b"{}", qos=0)
        [message] = await receive(session, 1)
        assert (message.topic, message.qos, message.retain) == ("iot/dev-1/status", 0, False)
        session.ack(message)  # a no-op, not an error


async def test_receive_maximum_holds_the_broker_back_until_acked(mosquitto: Mosquitto) -> None:
    config = site(mosquitto, receive_maximum=5)
    async with open_session(config, SUBSCRIPTIONS) as session:
        await publish(mosquitto, *(str(i).encode() for i in range(10)))
        first = await receive(session, 5)
        assert payloads(first) == [b"0", b"1", b"2", b"3", b"4"]
        # nothing more while the window is full (a bounded wait for an absence)
        with anyio.move_on_after(1.0):
            extra = await receive(session, 1, timeout=2)
            raise AssertionError(f"a sixth message came unacked: {extra}")
        session.ack(first[0])
        assert payloads(await receive(session, 1)) == [b"5"]
        for message in first[1:]:
            session.ack(message)
        assert payloads(await receive(session, 4)) == [b"6", b"7", b"8", b"9"]


async def test_a_slow_reader_holds_the_broker_to_the_window_even_while_acking(
    mosquitto: Mosquitto,
) -> None:
    # Mosquitto 2.0.11 keeps to ReceiveMaximum only while nothing is acked; once acks
    # flow it sends every live message at once. The session stops reading the socket
    # instead, so what waits in memory stays within the window.
    config = site(mosquitto, receive_maximum=20)
    got: list[bytes] = []
    most_waiting = 0
    async with open_session(config, SUBSCRIPTIONS) as session, anyio.create_task_group() as tg:
        tg.start_soon(publish, mosquitto, *(str(i).encode() for i in range(300)))
        with anyio.fail_after(30):
            async for message in session.messages():
                most_waiting = max(most_waiting, len(session.client.messages))
                got.append(message.payload)
                await anyio.sleep(0.002)  # a reader slower than the publisher
                session.ack(message)
                if len(got) == 300:
                    break
    assert got == [str(i).encode() for i in range(300)]
    assert 0 < most_waiting <= 20


async def test_a_backlog_that_fills_the_window_before_the_subscribe_returns(
    mosquitto: Mosquitto,
) -> None:
    # a resumed session gets its backlog before the SUBACK: the read gate must not stop
    # reading then, or the subscribe waits for an answer it never reads
    config = site(mosquitto, receive_maximum=5)
    async with open_session(config, SUBSCRIPTIONS):
        pass
    await publish(mosquitto, *(str(i).encode() for i in range(20)))
    with anyio.fail_after(10):
        async with open_session(config, SUBSCRIPTIONS) as session:
            got: list[bytes] = []
            async for message in session.messages():
                got.append(message.payload)
                session.ack(message)
                if len(got) == 20:
                    break
    assert got == [str(i).encode() for i in range(20)]
