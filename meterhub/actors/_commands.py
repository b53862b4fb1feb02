"""The commander: sends queued commands to MQTT devices and expires unanswered ones.

Command state lives in the store, not here: the API inserts a command as ``queued``
and tells this actor; the commander publishes it (QoS 1) once the device is online and
marks it ``sent``; the store writer marks it ``acknowledged`` or ``failed`` from the
device's journaled answer; the commander marks it ``expired`` when its time is up.
Every change is a conditional transition in the store, so two of them can never both
win, and a restart of meterhub resumes from the store.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from meterhub.adapters.mqtt import MqttLinkError, open_session
from meterhub.adapters.stores import CommandRow, StoreUnavailableError
from meterhub.model import (
    CommandAck,
    CommandState,
    CommandUpdate,
    DeviceHello,
    DeviceLink,
    DeviceNews,
)
from meterhub.platform import Actor, Backoff, RestartPolicy
from meterhub.topics import COMMANDS, DEVICE_NEWS

if TYPE_CHECKING:
    from meterhub.adapters.mqtt import BrokerConfig, MqttSession
    from meterhub.adapters.stores import Store

_log = logging.getLogger(__name__)
COMMANDER = "commander"
_OPEN = [CommandState.QUEUED, CommandState.SENT]
RECONNECT = RestartPolicy(backoff_initial=0.5, backoff_max=30.0)


@dataclasses.dataclass(frozen=True, slots=True)
class Queued:
    """The API stored a new command."""

    command: CommandRow


class ExpiryTick(msgspec.Struct, frozen=True):
    """Time to expire commands and retry sending."""


CommanderMessage = Queued | ExpiryTick | DeviceNews


class _Wire(msgspec.Struct, frozen=True):
    id: str
    command: str
    params: dict[str, object]
    expires_at: datetime


class Commander(Actor[CommanderMessage]):
    """Publishes commands to ``<prefix>/<device>/command`` and tracks their expiry.

    Args:
        store: where command state lives.
        broker: the broker to publish through (its own client id and session).
        prefix: the device topics' prefix.
        tick_s: how often expiry is checked.
    """

    def __init__(
        self, store: Store, broker: BrokerConfig, prefix: str = "iot", tick_s: float = 1.0
    ) -> None:
        self._store = store
        self._broker = broker
        self._prefix = prefix.rstrip("/")
        self._tick_s = tick_s
        self._session: MqttSession | None = None
        self._open: dict[str, CommandRow] = {}
        self._online: set[str] = set()
        self._encoder = msgspec.json.Encoder()

    async def on_start(self) -> None:
        """Load the open commands, follow the devices, keep a link to the broker."""
        DEVICE_NEWS.subscribe(self.context.bus, self.context.ref)
        for command in await self._store.list_commands(states=_OPEN, limit=100_000):
            self._open[command.id] = command
        self.context.start_background(self._keep_link, "mqtt-link")
        self.context.every(self._tick_s, ExpiryTick, "expiry-timer")

    async def handle(self, message: CommanderMessage) -> None:
        """Queue, follow a device, or expire and retry."""
        if isinstance(message, Queued):
            self._open[message.command.id] = message.command
            await self._send_ready(message.command.device_id)
        elif isinstance(message, DeviceNews):
            await self._follow(message)
        else:
            await self._expire()
            await self._send_ready()

    async def _follow(self, news: DeviceNews) -> None:
        device = news.device_id
        was_online = device in self._online
        for event in news.events:
            if isinstance(event, CommandAck):
                self._open.pop(event.command_id, None)
            elif isinstance(event, DeviceLink) and not event.online:
                self._online.discard(device)
            elif isinstance(event, DeviceHello | DeviceLink):
                self._online.add(device)
        if news.readings:
            self._online.add(device)
        if device in self._online and not was_online:
            await self._send_ready(device)

    async def _send_ready(self, device: str | None = None) -> None:
        """Send the queued commands of online devices (of ``device`` only, if given)."""
        if self._session is None:
            return
        for command in list(self._open.values()):
            if command.state is not CommandState.QUEUED or command.device_id not in self._online:
                continue
            if device is not None and command.device_id != device:
                continue
            if not await self._send(self._session, command):
                return

    async def _send(self, session: MqttSession, command: CommandRow) -> bool:
        """Publish one command and mark it sent; False if the broker link failed."""
        wire = _Wire(id=command.id, command=command.command, params=dict(command.params),
                     expires_at=command.expires_at)  # fmt: skip
        topic = f"{self._prefix}/{command.device_id}/command"
        try:
            await session.publish(topic, self._encoder.encode(wire), qos=1)
        except MqttLinkError as exc:
            _log.warning("cannot send command %s to %s: %s", command.id, command.device_id, exc)
            return False
        now = datetime.now(UTC)
        try:
            changed = await self._store.update_command(
                command.id, state=CommandState.SENT, at=now, from_states=[CommandState.QUEUED]
            )
        except StoreUnavailableError as exc:
            # it went out: the device's answer settles it; the store learns it then
            _log.warning("command %s sent, but not marked so: %s", command.id, exc)
            changed = None
        if changed is None:
            self._open[command.id] = _with_state(command, CommandState.SENT, now)
            return True
        self._open[command.id] = changed
        await self._publish(changed)
        return True

    async def _expire(self) -> None:
        now = datetime.now(UTC)
        for command in [c for c in self._open.values() if c.expires_at <= now]:
            try:
                changed = await self._store.update_command(
                    command.id, state=CommandState.EXPIRED, at=now, from_states=_OPEN,
                    error="no acknowledgement before expires_at",
                )  # fmt: skip
            except StoreUnavailableError:
                return  # the next tick tries again
            del self._open[command.id]
            if changed is not None:
                _log.info("command %s to %s expired", command.id, command.device_id)
                await self._publish(changed)

    async def _publish(self, command: CommandRow) -> None:
        update = CommandUpdate(id=command.id, device_id=command.device_id,
                               command=command.command, state=command.state,
                               updated_at=command.updated_at, error=command.error)  # fmt: skip
        await COMMANDS.publish(self.context.bus, command.device_id, update)

    async def _keep_link(self) -> None:
        backoff = Backoff(RECONNECT)
        while True:
            try:
                async with open_session(self._broker) as session:
                    backoff.reset()
                    self._session = session
                    await self.context.ref.send(ExpiryTick())  # send what waited
                    async for _ in session.messages():
                        pass  # subscribes to nothing: returns only when the link breaks
            except MqttLinkError as exc:
                _log.warning("commander: broker link down: %s", exc)
            finally:
                self._session = None
            await backoff.sleep()


def _with_state(command: CommandRow, state: CommandState, at: datetime) -> CommandRow:
    """``command`` in a new state (kept in memory when the store could not say so)."""
    return msgspec.structs.replace(command, state=state, updated_at=at)
