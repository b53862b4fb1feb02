"""A real uvicorn server on 127.0.0.1 serving the live feed of a real Bus, and a client kit."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import anyio
import msgspec
import uvicorn
from litestar import Litestar, Router, WebSocket, websocket
from websockets.asyncio.client import ClientConnection, connect

from meterhub.api._live import LiveFeed
from meterhub.model import (
    Alert,
    AlertState,
    Consumption,
    ConsumptionFlag,
    DeviceMeta,
    MeterState,
    MeterStatus,
    Reading,
    Severity,
    Trend,
)
from meterhub.platform import Bus

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DEADLINE = 10.0


class FakeSite:
    """The part of ``SiteView`` the live feed uses: a real bus."""

    def __init__(self) -> None:
        self._bus = Bus()

    @property
    def bus(self) -> Bus:
        return self._bus


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test owns signals
        yield


@contextlib.asynccontextmanager
async def serve(router: Router, **config: Any) -> AsyncIterator[str]:
    """Serve ``router`` on a free port; yields the feed's ``ws://`` URL."""
    app = Litestar(route_handlers=[router])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, lifespan="off", log_level="warning", **config))
    with sock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: server.serve(sockets=[sock]))
            try:
                # the socket listens already: a client that connects now waits in its backlog
                yield f"ws://127.0.0.1:{port}/api/v1/live"
            finally:
                server.should_exit = True


@contextlib.asynccontextmanager
async def client(url: str, **options: Any) -> AsyncIterator[ClientConnection]:
    async with connect(url, open_timeout=DEADLINE, **options) as ws:
        yield ws


async def receive(ws: ClientConnection, timeout: float = DEADLINE) -> Any:
    """The next frame, decoded; fails after ``timeout`` seconds without one."""
    with anyio.fail_after(timeout):
        return msgspec.json.decode(await ws.recv())


async def subscribe(ws: ClientConnection, **fields: Any) -> dict[str, Any]:
    """Send a subscription and wait for the server's confirmation."""
    await ws.send(msgspec.json.encode({"op": "subscribe", **fields}).decode())
    reply = await receive(ws)
    assert reply["kind"] == "subscribed", reply
    return reply


class CountingFeed:
    """A route around ``LiveFeed.serve`` that counts connections the server has finished."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self.finished = 0
        self._changed = anyio.Event()

    def router(self) -> Router:
        @websocket("/live")
        async def live(socket: WebSocket[Any, Any, Any]) -> None:
            try:
                await self.feed.serve(socket)
            finally:
                self.finished += 1
                self._changed.set()
                self._changed = anyio.Event()

        return Router(path="/api/v1", route_handlers=[live])

    async def wait_finished(self, count: int, timeout: float = DEADLINE) -> None:
        with anyio.fail_after(timeout):
            while self.finished < count:
                await self._changed.wait()


def reading(meter_id: str, seq: int = 0, **values: float) -> Reading:
    values = values or {"power_import_w": 100.0 + seq, "energy_import_wh": 5000.0 + seq}
    units = {"power_import_w": "W", "energy_import_wh": "Wh"}
    return Reading(
        meter_id=meter_id,
        ts=T0,
        values=values,
        units={k: v for k, v in units.items() if k in values},
        seq=seq,
        received_at=T0,
        device=DeviceMeta(
            name=f"Meter {meter_id}",
            device_type="household",
            location="Hall",
            tags=["pv"],
            applications=["billing"],
        ),
    )


def trend(meter_id: str, metric: str = "power_import_w") -> Trend:
    return Trend(
        meter_id=meter_id,
        metric=metric,
        window_s=60,
        window_start=T0,
        avg=1.0,
        min=0.5,
        max=2.0,
        last=1.5,
        count=12,
    )


def consumption(meter_id: str, metric: str = "energy_import_wh") -> Consumption:
    return Consumption(
        meter_id=meter_id,
        metric=metric,
        interval_start=T0,
        interval_s=3600,
        wh=42.0,
        flag=ConsumptionFlag.MEASURED,
    )


def alert(meter_id: str) -> Alert:
    return Alert(
        id=f"a-{meter_id}",
        rule="overvoltage",
        meter_id=meter_id,
        severity=Severity.WARNING,
        state=AlertState.OPEN,
        message="voltage above 253 V",
        value=255.0,
        opened_at=T0,
        updated_at=T0,
    )


def status(meter_id: str) -> MeterStatus:
    return MeterStatus(meter_id=meter_id, state=MeterState.ONLINE, since=T0, readings=3)


async def publish_all_kinds(bus: Bus, meter_id: str) -> None:
    await bus.publish(f"readings/{meter_id}", reading(meter_id))
    await bus.publish(f"trends/{meter_id}", trend(meter_id))
    await bus.publish(f"consumption/{meter_id}", consumption(meter_id))
    await bus.publish(f"alerts/{meter_id}", alert(meter_id))
    await bus.publish(f"status/{meter_id}", status(meter_id))
