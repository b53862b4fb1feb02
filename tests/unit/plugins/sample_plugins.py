# ruff: noqa: ARG002 (the plugin API's signatures)
"""Plugins the unit tests load through real ``EntryPoint`` objects (``<module>:<class>``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from litestar import get

from meterhub.plugins import (
    API_VERSION,
    DeviceInfo,
    InputBroken,
    InputFeed,
    InputPlugin,
    PayloadError,
    ProcessorPlugin,
    RoutePlugin,
    Sample,
    requires,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from meterhub.plugins import ProcessorContext, ProcessorMessage, RouteContext

MODULE = __name__


class LimitSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    limit: float
    metric: str = "power_import_w"
    window_s: int = 60

    def check(self) -> None:
        if self.limit <= 0:
            raise ValueError(f"limit: must be above 0, got {self.limit:g}")


class GoodProcessor(ProcessorPlugin[LimitSettings]):
    api_version = API_VERSION
    version = "1.2"
    settings_type = LimitSettings

    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        return None


class FutureProcessor(ProcessorPlugin[None]):
    api_version = 2

    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        return None


class UndeclaredProcessor(ProcessorPlugin[None]):
    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        return None


class NotAPlugin:
    api_version = API_VERSION


class PlainProcessor(ProcessorPlugin[None]):
    """Takes no settings."""

    api_version = API_VERSION


class PayloadSamples(InputPlugin[None]):
    """Payloads are msgpack-encoded lists of samples; ``bad`` is refused.

    Other bytes that are not msgpack raise msgspec's own error: a plugin bug (it should
    have said ``PayloadError``) that meterhub must survive.
    """

    api_version = API_VERSION

    def devices(self) -> Sequence[DeviceInfo]:
        return [DeviceInfo(id="ext-1")]

    def decode(self, device_id: str, payload: bytes) -> Sequence[Sample]:
        if payload == b"bad":
            raise PayloadError("not a sample list")
        return msgspec.msgpack.decode(payload, type=list[Sample])


def samples_payload(*samples: Sample) -> bytes:
    """What :class:`PayloadSamples` decodes back to ``samples``."""
    return msgspec.msgpack.encode(list(samples))


class RouteSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    limit: float
    metric: str = "power_import_w"
    window_s: int = 60


class EchoRoutes(RoutePlugin[RouteSettings]):
    """The route side of a plugin whose processor is :class:`GoodProcessor`."""

    api_version = API_VERSION
    settings_type = RouteSettings

    def route_handlers(self, context: RouteContext) -> Sequence[Any]:
        @get("/limit", opt=requires("viewer"))
        async def limit() -> dict[str, float]:
            return {"limit": self.settings.limit}

        return [limit]


class ScriptSettings(msgspec.Struct, frozen=True, kw_only=True):
    payloads: list[bytes]
    then: Literal["broken", "silent-broken", "return"] = "return"
    received_at: datetime | None = None


class ScriptedInput(InputPlugin[ScriptSettings]):
    """Delivers its payloads to device ``ext-1``, then breaks or returns."""

    api_version = API_VERSION
    settings_type = ScriptSettings

    async def run(self, feed: InputFeed) -> None:
        for payload in self.settings.payloads:
            await feed.deliver("ext-1", payload, received_at=self.settings.received_at)
        if self.settings.then == "broken":
            raise InputBroken("api.example: 503 Service Unavailable")
        if self.settings.then == "silent-broken":
            raise InputBroken
