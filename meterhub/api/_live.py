"""The WebSocket live feed at ``/api/v1/live``.

Protocol (every frame is JSON text):

- The client sends ``{"op": "subscribe", "meters": [...], "metrics": [...], "kinds": [...],
  "batch": false}`` (each field optional: omitted means everything; meters may be
  ``fnmatch`` patterns such as ``"*"`` or ``"hall-?"``), at any time, to replace its
  subscription, or ``{"op": "unsubscribe"}``. The server answers
  ``{"kind": "subscribed", ...}``; every later message follows the new subscription.
  A refused message gets ``{"kind": "error", "detail": ...}`` and the connection stays open.
- The server pushes one message per matching bus message: ``kind`` ``reading`` (values
  and units trimmed to the requested metrics; a reading with none of them is skipped),
  ``trend``, ``consumption`` (only the requested metrics), ``alert`` and ``status``
  (all fields). With ``"batch": true`` the messages drained together travel as one
  JSON array per frame; otherwise each is its own frame.
- ``{"kind": "missed", "count": N}`` comes before the next delivery when the client fell
  behind and its queue (bounded, drop-oldest) lost N messages.

Idle connections are kept honest by WebSocket protocol pings from uvicorn
(``ws_ping_interval``/``ws_ping_timeout``, 20 s each by default): a client that stops
answering is closed with 1011. Browsers answer pings by themselves, so clients need no
code for it. The server needs a WebSocket implementation installed (``websockets``,
which uvicorn's ``ws="auto"`` picks, or ``wsproto``, which does not ping).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from litestar import Router, WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from meterhub.api._live_hub import LiveClient, LiveHub, LiveStatistics
from meterhub.api._live_wire import (
    LiveError,
    Missed,
    Subscribe,
    Subscribed,
    Unsubscribe,
    client_decoder,
    encoder,
)

if TYPE_CHECKING:
    from meterhub.api._view import SiteView
    from meterhub.platform import Bus

__all__ = ["LiveFeed", "LiveStatistics", "live_router"]

_log = logging.getLogger(__name__)

CLIENT_QUEUE = 1000
"""Messages held for one client before its oldest are dropped."""
BATCH_LIMIT = 1000
"""Most messages drained and sent in one go."""
_CLOSED_ERRORS = (
    WebSocketDisconnect,
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
)


def live_router(view: SiteView) -> Router:
    """The routes of the live feed."""
    return LiveFeed(view.bus).router()


class LiveFeed:
    """The live feed of one bus: its hub and its WebSocket route.

    Args:
        bus: where the site publishes readings, trends, consumption, alerts, statuses.
        capacity: messages queued per client before the oldest are dropped.
    """

    def __init__(self, bus: Bus, *, capacity: int = CLIENT_QUEUE) -> None:
        self.hub = LiveHub(bus)
        self._capacity = capacity
        self._connections = 0

    def router(self) -> Router:
        """A Router serving the feed at ``/api/v1/live``."""

        @websocket("/live")
        async def live(socket: WebSocket[Any, Any, Any]) -> None:
            await self.serve(socket)

        return Router(path="/api/v1", route_handlers=[live])

    def statistics(self) -> LiveStatistics:
        """Clients and delivery counters."""
        return self.hub.statistics()

    async def serve(self, socket: WebSocket[Any, Any, Any]) -> None:
        """Run one connection until the client leaves."""
        self._connections += 1
        client = LiveClient(f"live-{self._connections}", self._capacity)
        connection = _Connection(socket, self.hub, client)
        await socket.accept()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(connection.pump, tg.cancel_scope)
                await connection.listen()
                tg.cancel_scope.cancel()
        finally:
            self.hub.close(client)


class _Connection:
    """The two halves of one connection: client requests in, deliveries out.

    Both send under one lock, so a ``subscribed`` answer is never overtaken by messages of
    the old subscription.
    """

    def __init__(self, socket: WebSocket[Any, Any, Any], hub: LiveHub, client: LiveClient) -> None:
        self._socket = socket
        self._hub = hub
        self._client = client
        self._lock = anyio.Lock()

    async def listen(self) -> None:
        """Handle client messages until the client disconnects."""
        while True:
            event = await self._socket.receive()
            if event["type"] == "websocket.disconnect":
                return
            text, raw = event.get("text"), event.get("bytes")
            data = text if isinstance(text, str) else raw if isinstance(raw, bytes) else b""
            try:
                request = client_decoder.decode(data)
            except msgspec.DecodeError as exc:
                reply: msgspec.Struct = LiveError(f"invalid message: {exc}")
            except RecursionError:  # msgspec's answer to JSON nested too deeply
                reply = LiveError("invalid message: nested too deeply")
            else:
                reply = self._apply(request)
            async with self._lock:
                if not await self._send(encoder.encode(reply)):
                    return

    def _apply(self, request: Subscribe | Unsubscribe) -> msgspec.Struct:
        client = self._client
        if isinstance(request, Unsubscribe):
            self._hub.subscribe(client, None)
            return Subscribed(meters=[], metrics=None, kinds=[], batch=False)
        self._hub.subscribe(client, request)
        return Subscribed(
            meters=None if client.meters is None else list(client.meters),
            metrics=request.metrics,
            kinds=list(client.kinds),
            batch=client.batch,
        )

    async def pump(self, scope: anyio.CancelScope) -> None:
        """Send what the mailbox holds, a whole batch at a time, until the client leaves."""
        client = self._client
        mailbox = client.mailbox
        while True:
            batch = await mailbox.get_batch(BATCH_LIMIT)
            if not batch:
                break
            generation = client.generation
            dropped = mailbox.dropped
            async with self._lock:
                if generation != client.generation:
                    continue  # taken under a subscription that was replaced meanwhile
                parts: list[bytes] = []
                if dropped > client.reported_dropped:
                    parts.append(encoder.encode(Missed(dropped - client.reported_dropped)))
                    client.reported_dropped = dropped
                metrics = client.metrics
                for delivery in batch:
                    data = delivery.encoded(metrics)
                    if data is not None:
                        parts.append(data)
                if not await self._send_all(parts, batch=client.batch):
                    break
        scope.cancel()

    async def _send_all(self, parts: list[bytes], *, batch: bool) -> bool:
        if batch and parts:
            return await self._send(b"[" + b",".join(parts) + b"]")
        for part in parts:
            if not await self._send(part):
                return False
        return True

    async def _send(self, data: bytes) -> bool:
        """Send one text frame; False once the client is gone."""
        try:
            await self._socket.send_data(data.decode())
        except _CLOSED_ERRORS:
            return False
        return True
