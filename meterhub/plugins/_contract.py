"""What a plugin implements and what meterhub hands it: the whole plugin API.

A plugin is a class found through a Python entry point, one group per interface:

| group | base class | meterhub runs it as |
|---|---|---|
| ``meterhub.inputs`` | :class:`InputPlugin` | a supervised input actor: what it delivers is journaled, then decoded by its own ``decode`` in the one pipeline |
| ``meterhub.processors`` | :class:`ProcessorPlugin` | a supervised actor subscribed to kinds of the topic table |
| ``meterhub.routes`` | :class:`RoutePlugin` | Litestar handlers under ``/api/v1/plugins/<name>`` |

The entry point's name is the plugin's name; one plugin may provide several interfaces
(the same name in several groups), and ``[plugins.<name>]`` configures all of them. A
plugin sees this module and ``meterhub.model``, never the store, the actors or the app.
"""  # noqa: E501 (a table)

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

import msgspec

from meterhub.model import Alert, Consumption, MeterStatus, Reading, Severity, Trend

if TYPE_CHECKING:
    import logging
    from collections.abc import Mapping, Sequence

API_VERSION = 1
"""The plugin API this meterhub implements; a plugin declares the one it was written for."""

S = TypeVar("S")
T = TypeVar("T")
Role = Literal["public", "viewer", "operator", "admin"]
Kind = Literal["reading", "trend", "consumption", "alert", "status"]
KINDS: tuple[Kind, ...] = ("reading", "trend", "consumption", "alert", "status")
"""The kinds of the topic table a processor may subscribe to."""

ProcessorMessage = Reading | Trend | Consumption | Alert | MeterStatus
"""What a processor's ``handle`` receives: the message type of each subscribed kind."""


class PluginError(Exception):
    """Base of the errors a plugin raises on purpose."""


class InputBroken(PluginError):  # noqa: N818 (a state, like TransportError's cases)
    """An input's source is unreachable.

    meterhub reports its devices offline and runs ``run`` again after a capped backoff
    (not counted as a crash).
    """


class PayloadError(PluginError):
    """``decode`` cannot read a payload.

    Counted as ``malformed`` for its device; the payload stays in the journal for a
    replay after a fix.
    """


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    """Values of one device at one instant, as an input plugin's ``decode`` gives them.

    Attributes:
        ts: when the values were measured (timezone-aware; UTC is stored).
        values: canonical metric names (``energy_import_wh``, ``power_import_w``...) or
            the plugin's own (``price_per_kwh``).
        units: unit per metric, where it says more than the name.
    """

    ts: datetime
    values: dict[str, float | int]
    units: dict[str, str] = msgspec.field(default_factory=dict)


class DeviceInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A device an input plugin reads, registered when the input starts."""

    id: str
    name: str = ""
    device_type: str = "plugin"
    stale_after: float = 120.0
    """Seconds without a delivery before the device shows as stale."""
    offline_after: float = 600.0


# -- what meterhub hands a plugin ---------------------------------------------------------


class InputFeed(Protocol):
    """Where an input plugin delivers its payloads."""

    async def deliver(
        self, device_id: str, payload: bytes, *, received_at: datetime | None = None
    ) -> None:
        """Journal one payload of ``device_id`` (then it is decoded and published).

        Waits while the site applies back-pressure. Returns once the payload is in the
        journal's buffer (on disk within the journal's flush interval).
        """
        ...

    def link_up(self, device_id: str | None = None) -> None:
        """The source works again (None: for every device of this input)."""
        ...

    def link_down(self, reason: str, device_id: str | None = None) -> None:
        """The source broke for one device (None: for every device of this input)."""
        ...


class PluginState(Protocol):
    """A small key-value store of the plugin's own, kept in the site's store."""

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, None if there is none."""
        ...

    async def put(self, key: str, value: bytes) -> None:
        """Keep ``value`` (at most 1 MiB) under ``key`` (at most 200 characters).

        Raises:
            ValueError: the key or the value is too large.
        """
        ...

    async def delete(self, key: str) -> bool:
        """Forget ``key``; False if it was not there."""
        ...

    async def items(self) -> dict[str, bytes]:
        """Every key and value of the plugin."""
        ...


class SiteData(Protocol):
    """Read access to the site's history (the same data the REST API serves)."""

    async def meters(self) -> list[str]:
        """Every device id the site knows (configured meters, MQTT and plugin devices)."""
        ...

    async def readings(
        self,
        meter_id: str,
        *,
        start: datetime,
        end: datetime,
        metrics: Sequence[str] | None = None,
    ) -> list[Sample]:
        """A meter's stored readings with ``start <= ts < end``, in time order.

        Raises:
            ValueError: a time is naive, or the range holds more than 100,000 rows.
        """
        ...

    async def consumption(
        self, meter_id: str, metric: str, *, start: datetime, end: datetime
    ) -> list[Consumption]:
        """A counter's stored consumption intervals starting in ``[start, end)``."""
        ...

    async def latest(self, meter_id: str) -> Sample | None:
        """A meter's newest stored values (each metric's newest), None if it has none."""
        ...


class ProcessorContext(Protocol):
    """What a processor may do: publish, raise alerts, read history, keep state."""

    @property
    def name(self) -> str:
        """The plugin's name."""
        ...

    @property
    def logger(self) -> logging.Logger:
        """The plugin's logger (``meterhub.plugin.<name>``)."""
        ...

    @property
    def data(self) -> SiteData:
        """The site's history."""
        ...

    @property
    def state(self) -> PluginState:
        """The plugin's own key-value store."""
        ...

    async def publish_reading(
        self,
        meter_id: str,
        ts: datetime,
        values: Mapping[str, float | int],
        units: Mapping[str, str] | None = None,
    ) -> None:
        """Publish a derived reading: stored, aggregated and live like a meter's.

        The plugin itself does not receive the readings it publishes.
        """
        ...

    async def raise_alert(
        self,
        key: str,
        meter_id: str,
        *,
        message: str,
        severity: Severity = Severity.WARNING,
        value: float | None = None,
        evidence: Mapping[str, float | int | str] | None = None,
    ) -> None:
        """Open an alert (rule ``<plugin>:<key>``), or keep the open one; idempotent.

        It follows the normal life cycle: listed, acknowledged and resolved through the
        API, stored, and live on the feed.
        """
        ...

    async def clear_alert(self, key: str, meter_id: str, *, value: float | None = None) -> None:
        """Resolve the alert ``key`` of ``meter_id`` if one is open."""
        ...

    async def publish_event(self, name: str, key: str, data: Mapping[str, Any]) -> None:
        """Push a plugin event to live-feed clients (kind ``plugin``); not stored."""
        ...


class RouteContext(Protocol):
    """What a route plugin's handlers may use."""

    @property
    def name(self) -> str:
        """The plugin's name."""
        ...

    @property
    def data(self) -> SiteData:
        """The site's history."""
        ...

    @property
    def state(self) -> PluginState:
        """The plugin's own key-value store (shared with its processor)."""
        ...


# -- what a plugin implements ----------------------------------------------------------------


class _Plugin(Generic[S]):
    """What every interface declares: the API version, its version, its settings.

    Attributes:
        api_version: the plugin API the plugin was written for (:data:`API_VERSION`).
        version: the plugin's own version, shown by ``meterhub plugins list``.
        settings_type: a msgspec Struct that ``[plugins.<name>]`` is decoded into
            (unknown keys are refused when it says ``forbid_unknown_fields=True``); None:
            the plugin takes no settings. A ``check()`` method on it, if there is one,
            is called after decoding and may raise ``ValueError`` naming the key.
    """

    api_version: ClassVar[int]
    version: ClassVar[str] = "0"
    settings_type: ClassVar[type[Any] | None] = None

    def __init__(self, settings: S) -> None:
        self.settings = settings


class InputPlugin(_Plugin[S]):
    """A source of payloads (its own protocol, an API client, a file, a price feed).

    ``run`` delivers payloads; ``decode`` turns one payload into samples. Decoding is
    separate so that the journal holds the payload as received and every path (live,
    the store's catch-up, ``meterhub replay``) decodes it the same way.
    """

    def devices(self) -> Sequence[DeviceInfo]:
        """The devices known before ``run`` starts (more may appear as it delivers)."""
        return ()

    async def run(self, feed: InputFeed) -> None:
        """Deliver payloads until cancelled.

        Raises:
            InputBroken: the source is unreachable (retried after a backoff).
        """
        raise NotImplementedError

    def decode(self, device_id: str, payload: bytes) -> Sequence[Sample]:
        """Turn one delivered payload into samples: pure, no I/O.

        Raises:
            PayloadError: the payload cannot be read.
        """
        raise NotImplementedError


class ProcessorPlugin(_Plugin[S]):
    """Custom processing on the bus: derived readings, alerts, live events.

    Attributes:
        subscribes: the kinds (``KINDS``) whose messages ``handle`` receives.
        durable: take readings from the journal instead of the live bus, with a cursor
            of the plugin's own: after downtime or a crash, every reading since the
            cursor is handled, in journal order (each record is decoded a second time).
        mailbox: most messages waiting for the plugin; beyond that the oldest are
            dropped, so a slow plugin never slows the site.
    """

    subscribes: ClassVar[tuple[Kind, ...]] = ("reading",)
    durable: ClassVar[bool] = False
    mailbox: ClassVar[int] = 10_000

    async def start(self, context: ProcessorContext) -> None:
        """Prepare (load state, read history); called at every (re)start."""

    async def handle(self, message: ProcessorMessage, context: ProcessorContext) -> None:
        """Handle one message of a subscribed kind; an exception is a crash."""
        raise NotImplementedError

    async def stop(self, context: ProcessorContext) -> None:
        """Save what must survive; called on a clean stop."""


class RoutePlugin(_Plugin[S]):
    """Custom output API: Litestar route handlers mounted under ``/api/v1/plugins/<name>``.

    Every handler declares the role it needs with ``opt=requires("viewer")``; a plugin
    with a handler that declares none is refused.
    """

    def route_handlers(self, context: RouteContext) -> Sequence[Any]:
        """The Litestar handlers (``@get``... functions or controllers) to mount."""
        raise NotImplementedError


ACCESS_OPT = "access"
"""The handler ``opt`` key that carries the role (the API's access level)."""


def requires(role: Role) -> dict[str, Any]:
    """The ``opt`` of a route handler that needs ``role`` (``public`` needs no key)."""
    return {ACCESS_OPT: role}
