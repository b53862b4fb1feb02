"""Request and response bodies of the API (msgspec Structs; they shape the OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from meterhub.adapters.stores import (
    AlertRow,
    Application,
    BucketRow,
    ConsumptionPeriod,
    DeviceType,
    ReadingRow,
    TrendRow,
)
from meterhub.model import MeterStatus, Reading
from meterhub.platform import ActorStatus
from meterhub.plugins import PluginReport

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NAME_PATTERN,
                                   description="letters, digits, '.', '_' and '-'")]  # fmt: skip
Text = Annotated[str, msgspec.Meta(max_length=1000)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
MeterKey = Annotated[str, msgspec.Meta(
    pattern=r"^([0-9A-Fa-f]{32})?$",
    description="Write-only AES-128 key (32 hex digits; empty clears it). Not used yet: in "
    "this version meter keys come from the site configuration ([[meters]] key), so only "
    "the fact that one was set is recorded; it is never stored or returned.",
)]  # fmt: skip
Metadata = Annotated[dict[Annotated[str, msgspec.Meta(min_length=1, max_length=64)], Text],
                     msgspec.Meta(max_length=50)]  # fmt: skip


class _Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A request body: unknown fields are errors."""


class DeviceUpdate(_Body, frozen=True, kw_only=True):
    """A device's editable fields."""

    name: Text = ""
    device_type: Name
    location: Text = ""
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    metadata: Metadata = msgspec.field(default_factory=dict)
    meter_key: MeterKey | None = None


class DeviceCreate(DeviceUpdate, frozen=True, kw_only=True):
    """A new device."""

    id: Name


class DeviceOut(msgspec.Struct, frozen=True, kw_only=True):
    """A device as the API shows it (never its meter key)."""

    id: str
    name: str
    device_type: str
    location: str
    tags: list[str]
    metadata: dict[str, str]
    meter_key_set: bool
    """Whether a meter key was given through the API (the key itself is never shown)."""
    created_at: datetime
    updated_at: datetime
    source: Literal["config", "api", "mqtt"] = "api"
    """``config``: a ``[[meters]]`` table of the site's file owns it (read-only here);
    ``mqtt``: an MQTT device registered itself with its hello."""
    format: str | None = None
    """Of a configured meter: its wire format (``mbus``, ``dsmr``...)."""
    input: str | None = None
    """Of a configured meter: where its frames come from (``serial``, ``simulator``)."""
    profile: str | None = None
    """Of a configured meter: the decoding profile (``auto``: chosen per telegram)."""
    state: str | None = None
    """The meter's live state (``online``, ``offline``...), null if nothing reads it."""
    approval: str | None = None
    """Of an MQTT device: ``accepted``, ``pending`` or ``rejected`` (``PUT .../approval``)."""


class DevicesOut(msgspec.Struct, frozen=True, kw_only=True):
    """Devices ordered by id."""

    items: list[DeviceOut]


class Latest(msgspec.Struct, frozen=True, kw_only=True):
    """A meter's live state from its actor: status and latest reading (null until known)."""

    meter_id: str
    status: MeterStatus | None
    reading: Reading | None


class ReadingsPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of raw rows (``readings``) or of buckets (``buckets``)."""

    bucket: str | None = None
    agg: str | None = None
    readings: list[ReadingRow] = msgspec.field(default_factory=list)
    buckets: list[BucketRow] = msgspec.field(default_factory=list)
    next_cursor: str | None = None
    """Pass as ``cursor`` for the next page; null on the last page."""


class MeterConsumption(msgspec.Struct, frozen=True, kw_only=True):
    """One meter's energy per calendar period of ``tz``."""

    meter_id: str
    metric: str
    period: str
    tz: str
    periods: list[ConsumptionPeriod]


class ConsumptionOut(msgspec.Struct, frozen=True, kw_only=True):
    """Energy per meter and period."""

    items: list[MeterConsumption]


class TrendsOut(msgspec.Struct, frozen=True, kw_only=True):
    """Trend windows ordered by meter, metric and start."""

    items: list[TrendRow]


class AlertsOut(msgspec.Struct, frozen=True, kw_only=True):
    """Alerts, newest first."""

    items: list[AlertRow]


class AlertActionOut(msgspec.Struct, frozen=True, kw_only=True):
    """The alerter accepted the change."""

    id: str
    action: Literal["acknowledge", "resolve"]
    state: Literal["acknowledged", "resolved"]


class DeviceTypeIn(_Body, frozen=True, kw_only=True):
    """A device type's fields."""

    description: Text = ""
    metrics: Annotated[list[Tag], msgspec.Meta(max_length=200)] = msgspec.field(
        default_factory=list
    )


class ApplicationIn(_Body, frozen=True, kw_only=True):
    """An application's fields: the device types it serves."""

    description: Text = ""
    device_types: Annotated[list[Name], msgspec.Meta(max_length=200)] = msgspec.field(
        default_factory=list
    )


class DeviceTypesOut(msgspec.Struct, frozen=True, kw_only=True):
    """Device types ordered by name."""

    items: list[DeviceType]


class ApplicationsOut(msgspec.Struct, frozen=True, kw_only=True):
    """Applications ordered by name."""

    items: list[Application]


class MeterHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One meter's state and decode errors, from its actor's live state."""

    meter_id: str
    state: str | None
    readings: int
    decode_errors: int
    errors: dict[str, int]
    last_error: str | None


class StatusOut(msgspec.Struct, frozen=True, kw_only=True):
    """Every actor and every meter."""

    actors: list[ActorStatus]
    meters: list[MeterHealth]
    plugins: list[PluginReport] = msgspec.field(default_factory=list)


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """The process answers."""

    status: Literal["ok"] = "ok"
