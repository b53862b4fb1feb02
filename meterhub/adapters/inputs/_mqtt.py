"""An input for every MQTT device of a site: one broker connection, many devices.

Each message is journaled before anything decodes it and acknowledged to the broker
only once its journal record is on disk, in the order received. So a crash between
receipt and journal loses nothing (the broker sends the message again to the
persistent session), and the broker's in-flight window (ReceiveMaximum) is the only
buffer: when the journal or the pipeline falls behind, the broker stops sending.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from meterhub.adapters.journal import JournalError
from meterhub.adapters.mqtt import Incoming, MqttLinkError, open_session
from meterhub.model import RawFrame

if TYPE_CHECKING:
    from anyio.abc import ObjectReceiveStream

    from meterhub.adapters.inputs._contract import FrameSink
    from meterhub.adapters.mqtt import BrokerConfig, MqttSession

MESSAGE_TOPICS = ("hello", "telemetry", "status", "command/ack", "ota/status")
"""What devices publish below ``<prefix>/<device_id>/`` (docs/mqtt-protocol.md)."""
IOT_FORMAT = "iot"
_DEVICE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class MqttInput:
    """Subscribes to every device's topics and delivers each payload as a raw frame.

    Args:
        config: the broker, the site's client id and session.
        prefix: devices publish under ``<prefix>/<device_id>/``.
    """

    def __init__(self, config: BrokerConfig, prefix: str = "iot") -> None:
        self._config = config
        self._prefix = prefix.rstrip("/")
        self._levels = self._prefix.count("/") + 1

    @property
    def name(self) -> str:
        """``mqtt:<host>:<port>``."""
        return f"mqtt:{self._config.host}:{self._config.port}"

    @property
    def devices(self) -> tuple[str, ...]:
        """None up front: devices are learned from what they publish."""
        return ()

    @property
    def subscriptions(self) -> list[tuple[str, int]]:
        """The topic filters (QoS 1)."""
        return [(f"{self._prefix}/+/{kind}", 1) for kind in MESSAGE_TOPICS]

    def split(self, topic: str) -> tuple[str, str] | None:
        """``<prefix>/<device>/<kind>`` -> (device, kind); None for a foreign topic."""
        parts = topic.split("/", self._levels + 1)
        if len(parts) < self._levels + 2 or "/".join(parts[: self._levels]) != self._prefix:
            return None
        return parts[self._levels], parts[self._levels + 1]

    async def run(self, sink: FrameSink) -> None:
        """Deliver and acknowledge until the connection breaks.

        Raises:
            MqttLinkError: the broker cannot be reached, or the connection broke, or the
                journal refused a frame (the broker sends the unacknowledged ones again
                after the reconnect).
        """
        async with open_session(self._config, self.subscriptions) as session:
            sink.link_up()
            send, receive = anyio.create_memory_object_stream[tuple[Incoming, int | None]](
                self._config.receive_maximum
            )
            async with anyio.create_task_group() as tg, send:
                tg.start_soon(self._acknowledge, sink, session, receive)
                async for message in session.messages():
                    seq = await self._deliver(sink, message)
                    if message.qos:
                        # never full: the broker sends at most receive_maximum unacked
                        await send.send((message, seq))

    async def _deliver(self, sink: FrameSink, message: Incoming) -> int | None:
        place = self.split(message.topic)
        if place is None:
            return None  # not ours (a retained message of a foreign topic): just ack it
        device, kind = place
        if not _DEVICE_ID.fullmatch(device):
            # journaled under a safe name, so the dead letter still shows what came
            kind, device = f"{device}/{kind}", "_invalid"
        sink.heard(device)
        frame = RawFrame(meter_id=device, transport="mqtt", received_at=datetime.now(UTC),
                         payload=message.payload, format=IOT_FORMAT, topic=kind)  # fmt: skip
        try:
            return await sink.deliver(frame, must_journal=True)
        except JournalError as exc:
            reason = f"the journal refused a frame ({exc}); reconnecting unacknowledged"
            raise MqttLinkError(self._config.url, reason) from exc

    @staticmethod
    async def _acknowledge(
        sink: FrameSink,
        session: MqttSession,
        receive: ObjectReceiveStream[tuple[Incoming, int | None]],
    ) -> None:
        """Ack each message, in the order received, once its record is on disk."""
        async with receive:
            async for message, seq in receive:
                if seq is not None:
                    await sink.wait_durable(seq)
                session.ack(message)
