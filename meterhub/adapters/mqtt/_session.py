"""One MQTT v5 connection to the broker, with acks in the caller's hands.

aiomqtt 2.x acknowledges a QoS 1 message as soon as it is queued, before the caller has
kept it (aiomqtt issue #345), and it loses queued messages past
``max_queued_incoming_messages``. This session turns paho's manual ack on before the
connect, leaves the queue unbounded and lets the broker's ReceiveMaximum bound the flow
instead: a message is acknowledged only when the caller says it is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import ssl
from typing import TYPE_CHECKING, Any, Self, cast

import aiomqtt
import anyio
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from meterhub.adapters.transports import TransportError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from meterhub.adapters.mqtt._config import BrokerConfig

_log = logging.getLogger(__name__)
_CLOSE_TIMEOUT_S = 5.0
_FIRST_FAILURE_CODE = 0x80  # MQTT v5 §2.4: reason codes from 0x80 up are failures


class MqttLinkError(TransportError):
    """The connection to the broker could not be opened or broke.

    Attributes:
        port: the broker's URL.
        reason: what failed, in words (refused, not authorized, TLS, lost).
    """


@dataclasses.dataclass(frozen=True, slots=True)
class Incoming:
    """One PUBLISH from the broker; pass it to :meth:`MqttSession.ack` once it is kept."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


def _paho(client: aiomqtt.Client) -> paho.Client:
    """The paho client under aiomqtt: the one place that reaches into its privates.

    aiomqtt 2.x has no public manual ack (issue #345, draft PR #346); the tests in
    ``tests/integration/mqtt/test_acks.py`` pin the behaviour this relies on.
    """
    return client._client  # noqa: SLF001 (see the docstring)


class _GatedQueue(asyncio.Queue[aiomqtt.Message]):  # noqa: TID251 (aiomqtt's queue_type)
    """aiomqtt's incoming queue that stops reading the socket while it is too full.

    The broker should hold back past our ReceiveMaximum, and does while nothing is
    acknowledged; but Mosquitto 2.0.11, once acks flow, sends every live message at once
    (measured: 8,300 queued against a window of 1,000). So the window is also kept here:
    at ``high`` messages waiting the socket's reader is removed, and TCP pushes back on
    the broker, which keeps the rest in its queue for the session; at half of it the
    reader is back. The queue stays unbounded (a full aiomqtt queue drops messages).
    """

    def __init__(self, made: list[_GatedQueue], high: int, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        made.append(self)  # aiomqtt makes it: this is how its maker finds it
        self.client: aiomqtt.Client  # set by its maker right after the client is made
        self._high, self._low = max(1, high), max(0, high // 2)
        self._paused: int | None = None  # the socket's fd while not read
        self._armed = False
        self._loop = asyncio.get_running_loop()  # made in the loop; paho calls back in it

    def arm(self) -> None:
        """Gate from now on; call it once subscribed.

        Before, the SUBACK must still be read while a resumed session's backlog waits for
        the caller (that backlog keeps to the window: nothing is acknowledged yet).
        """
        self._armed = True

    def put_nowait(self, item: aiomqtt.Message) -> None:
        super().put_nowait(item)
        if self._armed and self._paused is None and self.qsize() >= self._high:
            sock = self._paho().socket()
            if sock is not None:
                self._paused = sock.fileno()
                self._loop.remove_reader(self._paused)

    def get_nowait(self) -> aiomqtt.Message:
        item = super().get_nowait()
        if self._paused is not None and self.qsize() <= self._low:
            fd, self._paused = self._paused, None
            sock = self._paho().socket()
            if sock is not None and sock.fileno() == fd:  # not closed meanwhile
                self._loop.add_reader(fd, self._read)
        return item

    def _paho(self) -> paho.Client:
        return _paho(self.client)

    def _read(self) -> None:
        """Read from the socket as the reader that aiomqtt registers at the connect does."""
        paho_client = self._paho()
        try:
            while True:
                paho_client.loop_read()
                sock: Any = paho_client.socket()
                if not (hasattr(sock, "pending") and sock.pending() > 0):  # TLS: decoded bytes
                    break
        except Exception as exc:  # noqa: BLE001 (aiomqtt's own: the connection broke)
            disconnected: asyncio.Future[None] = self.client._disconnected  # noqa: SLF001
            if not disconnected.done():
                disconnected.set_exception(exc)


class _Messages:
    """The incoming PUBLISHes, in the order the broker sent them."""

    def __init__(self, session: MqttSession) -> None:
        self._session = session
        self._messages = session.client.messages

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Incoming:
        try:
            message: aiomqtt.Message = await self._messages.__anext__()
        except aiomqtt.MqttError as exc:
            raise self._session.link_error(exc, "lost the connection") from exc
        return Incoming(
            topic=message.topic.value,
            payload=message.payload,
            qos=message.qos,
            retain=message.retain,
            mid=message.mid,
        )


class MqttSession:
    """An open connection: receive, acknowledge, publish. Made by :func:`open_session`."""

    def __init__(self, config: BrokerConfig, client: aiomqtt.Client) -> None:
        self.config = config
        self.client = client

    def messages(self) -> AsyncIterator[Incoming]:
        """Every message from the subscriptions, in receive order.

        Raises:
            MqttLinkError: the connection is lost (iterate a new session to go on).
        """
        return _Messages(self)

    def ack(self, message: Incoming) -> None:
        """Send the PUBACK for a QoS 1 message now; nothing for QoS 0.

        MQTT v5 §4.6 wants acks in the order the messages came: call it so.

        Raises:
            MqttLinkError: the connection is gone (the broker will send it again).
        """
        if message.qos == 0:
            return
        code = _paho(self.client).ack(message.mid, message.qos)
        if code != paho.MQTT_ERR_SUCCESS:
            reason = f"could not acknowledge message {message.mid}: {paho.error_string(code)}"
            raise MqttLinkError(self.config.url, reason)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish; at QoS 1 return once the broker has acknowledged it.

        Raises:
            MqttLinkError: the connection is lost or the broker did not answer in time.
        """
        try:
            await self.client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            raise self.link_error(exc, f"could not publish to {topic}") from exc

    def link_error(self, exc: aiomqtt.MqttError, what: str) -> MqttLinkError:
        """Translate an aiomqtt error into ours."""
        return MqttLinkError(self.config.url, f"{what}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    """The reason in an aiomqtt error chain, in words ('Disconnected' says little)."""
    cause = exc.__cause__
    text = str(exc)
    if isinstance(cause, BaseException) and str(cause):
        text = f"{text} ({cause})"
    return text


def _connect_reason(config: BrokerConfig, exc: aiomqtt.MqttError) -> str:
    """Why a connect failed, named so that an operator knows where to look."""
    text = _describe(exc)
    if isinstance(exc, MqttConnectError):
        code = exc.rc.value if isinstance(exc.rc, ReasonCode) else exc.rc
        if code in {4, 5, 0x86, 0x87}:  # 3.1.1 §3.2.2.3 codes 4, 5; v5 reason codes
            return f"not authorized as {config.username!r} (check username and password): {text}"
        return f"refused by the broker: {text}"
    if "SSL" in text or "certificate" in text.lower():
        return f"TLS failed (check ca_file, cert_file and the broker's certificate): {text}"
    if "refused" in text.lower():
        return f"connection refused (is a broker listening there?): {text}"
    if "timed out" in text:
        # paho drops a connection closed before the CONNACK (a TLS alert, a listener
        # that wants a client certificate) without telling aiomqtt: it only times out
        hint = "; does it want a client certificate?" if config.tls else ""
        return (
            f"no answer to CONNECT within {config.timeout_s:g} s "
            f"(the broker closed the connection or is too slow{hint})"
        )
    return f"could not connect: {text}"


def _tls_context(config: BrokerConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.ca_file)
    if config.cert_file is not None:
        context.load_cert_chain(config.cert_file, config.key_file)
    if config.tls_insecure:
        context.check_hostname = False
    return context


async def _client(config: BrokerConfig) -> tuple[aiomqtt.Client, _GatedQueue]:
    tls_context = None
    if config.tls:
        try:
            # reading the certificates blocks: off the loop
            tls_context = await anyio.to_thread.run_sync(_tls_context, config)
        except (OSError, ssl.SSLError) as exc:
            reason = f"TLS: cannot load the certificates or key: {exc}"
            raise MqttLinkError(config.url, reason) from exc
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = config.session_expiry_s
    properties.ReceiveMaximum = config.receive_maximum
    will = None
    if config.will is not None:
        will = aiomqtt.Will(
            config.will.topic, config.will.payload, config.will.qos, config.will.retain
        )
    made: list[_GatedQueue] = []
    client = aiomqtt.Client(
        config.host,
        config.port,
        username=config.username,
        password=config.password,
        identifier=config.client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=will,
        keepalive=config.keepalive_s,
        # never "first only": a new client object would wipe the stored session
        clean_start=config.clean_start,
        # unbounded: a full queue drops messages paho has taken (STACK constraint 4);
        # the broker's ReceiveMaximum bounds it, since we ack only what is kept, and
        # the queue stops reading the socket should the broker send more
        max_queued_incoming_messages=0,
        queue_type=cast("type[asyncio.Queue[aiomqtt.Message]]",  # noqa: TID251
                        functools.partial(_GatedQueue, made, config.receive_maximum)),
        properties=properties,
        tls_context=tls_context,
        timeout=config.timeout_s,
    )
    [queue] = made
    queue.client = client
    # before the connect, or what the broker queued for the session is acked unseen
    _paho(client).manual_ack_set(on=True)
    return client, queue


async def _subscribe(session: MqttSession, subscriptions: Sequence[tuple[str, int]]) -> None:
    for topic, qos in subscriptions:
        try:
            # retained messages (a device's hello and status) only for a new
            # subscription: a resumed session already had them, replays would repeat them
            options = SubscribeOptions(qos=qos, retainHandling=1)
            granted = await session.client.subscribe(topic, options=options)
        except aiomqtt.MqttError as exc:
            raise session.link_error(exc, f"could not subscribe to {topic}") from exc
        for code in granted:
            value = code.value if isinstance(code, ReasonCode) else code
            if value >= _FIRST_FAILURE_CODE:
                reason = f"the broker refused the subscription to {topic}: {code}"
                raise MqttLinkError(session.config.url, reason)


@contextlib.asynccontextmanager
async def open_session(
    config: BrokerConfig, subscriptions: Sequence[tuple[str, int]] = ()
) -> AsyncIterator[MqttSession]:
    """Connect (MQTT v5, the session kept unless ``clean_start``) and subscribe.

    The subscriptions are made again on every open: a broker that lost the session
    (expired, restarted without persistence) then still sends what the site wants.
    There is no reconnect here; the caller opens a new session after a backoff.

    Raises:
        MqttLinkError: the connect or a subscription failed.
    """
    client, queue = await _client(config)
    try:
        await client.__aenter__()
    except aiomqtt.MqttError as exc:
        raise MqttLinkError(config.url, _connect_reason(config, exc)) from exc
    try:
        session = MqttSession(config, client)
        await _subscribe(session, subscriptions)
        queue.arm()
        yield session
    finally:
        # a DISCONNECT, even when cancelled; unacked messages stay in the session
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(_CLOSE_TIMEOUT_S) as late,
            contextlib.suppress(aiomqtt.MqttError),
        ):
            await client.__aexit__(None, None, None)
        if late.cancelled_caught:
            _log.warning("%s: the broker did not confirm the disconnect", config.url)
