# ruff: noqa: ARG002 (the plugin API's signatures)
"""Plugins the integration tests run in a real Site, found through real EntryPoint objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from litestar import get, post
from litestar.params import FromPath, JSONBody

from meterhub.plugins import (
    API_VERSION,
    DeviceInfo,
    InputFeed,
    InputPlugin,
    PayloadError,
    ProcessorPlugin,
    Reading,
    RoutePlugin,
    Sample,
    Severity,
    requires,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from meterhub.plugins import ProcessorContext, ProcessorMessage, RouteContext

EPOCH = datetime(2026, 12, 1, tzinfo=UTC)


class FeedSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    count: int
    device: str = "ext-1"


class CountingInput(InputPlugin[FeedSettings]):
    """Delivers ``count`` payloads ``<n>`` (one sample each, a minute apart), one garbage."""

    api_version = API_VERSION
    version = "0.1"
    settings_type = FeedSettings

    def devices(self) -> Sequence[DeviceInfo]:
        return [DeviceInfo(id=self.settings.device, name="external counter")]

    async def run(self, feed: InputFeed) -> None:
        for n in range(self.settings.count):
            await feed.deliver(self.settings.device, str(n).encode())
        await feed.deliver(self.settings.device, b"not a number")
        await anyio.sleep_forever()

    def decode(self, device_id: str, payload: bytes) -> Sequence[Sample]:
        try:
            n = int(payload)
        except ValueError:
            raise PayloadError(f"{payload[:20]!r} is not a count") from None
        return [Sample(ts=EPOCH + timedelta(minutes=n), values={"energy_import_wh": 1000 * n})]


class Crashy(ProcessorPlugin[None]):
    """Raises on every reading."""

    api_version = API_VERSION
    subscribes = ("reading",)

    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        raise RuntimeError(f"crashy bug on {getattr(message, 'meter_id', '?')}")


class LimitSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    metric: str = "energy_import_wh"
    limit: float


class Limit(ProcessorPlugin[LimitSettings]):
    """An alert (with evidence) for a meter whose metric passes the limit; a derived reading."""

    api_version = API_VERSION
    settings_type = LimitSettings
    subscribes = ("reading",)

    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        if not isinstance(message, Reading):
            return
        value = message.values.get(self.settings.metric)
        if value is None:
            return
        await context.publish_reading(f"{message.meter_id}:double", message.ts,
                                      {"double_wh": 2 * value})
        if value > self.settings.limit:
            await context.raise_alert("limit", message.meter_id, severity=Severity.CRITICAL,
                                      message=f"{value:g} > {self.settings.limit:g}",
                                      value=value, evidence={"limit": self.settings.limit})


class Durable(ProcessorPlugin[None]):
    """Counts the journal seqs of the readings it gets, in its state (a durable sink)."""

    api_version = API_VERSION
    durable = True
    subscribes = ("reading",)

    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        if isinstance(message, Reading):
            seen = await context.state.get("seqs") or b""
            await context.state.put("seqs", seen + f"{message.journal_seq},".encode())


class Echo(RoutePlugin[None]):
    """A viewer route that reads the history and an operator route that writes state."""

    api_version = API_VERSION

    def route_handlers(self, context: RouteContext) -> Sequence[Any]:
        @get("/latest/{meter_id:str}", opt=requires("viewer"))
        async def latest(meter_id: FromPath[str]) -> dict[str, Any]:
            sample = await context.data.latest(meter_id)
            return {"values": sample.values if sample else None}

        @post("/mark", opt=requires("operator"), status_code=200)
        async def mark(data: JSONBody[dict[str, str]]) -> dict[str, str]:
            await context.state.put("mark", data["text"].encode())
            return data

        return [latest, mark]


class NoRole(RoutePlugin[None]):
    """A handler without a declared role: the plugin must be refused."""

    api_version = API_VERSION

    def route_handlers(self, context: RouteContext) -> Sequence[Any]:
        @get("/open")
        async def open_route() -> str:
            return "open"

        return [open_route]
