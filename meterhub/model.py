"""Messages shared by every layer: frozen msgspec Structs with explicit tags.

Wire schemas only grow: a new field gets a default, so journals and upstream consumers
written by an older meterhub still decode.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec


class Quality(enum.StrEnum):
    """How far a reading can be trusted (set by the validator)."""

    GOOD = "good"
    SUSPECT = "suspect"
    INVALID = "invalid"


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """Why an input's framer rejected the bytes of a ``RawFrame`` (they framed to nothing).

    Attributes:
        reason: the decode reason (``checksum``, ``truncated``, ``unsupported``...).
        detail: the framer's words, with the stream offset.
        offset: where the bytes started in the connection's stream.
    """

    reason: str
    detail: str
    offset: int | None = None


class RawFrame(msgspec.Struct, frozen=True, kw_only=True, tag="raw_frame"):
    """One frame or payload exactly as an input received it, before any decoding.

    Attributes:
        meter_id: the device it belongs to.
        transport: the kind of input that received it (``serial``, ``simulator``...).
        received_at: when it arrived (UTC).
        payload: its bytes, as framed by the input.
        format: how to decode it (``mbus``, ``dsmr``...), when the input knows; None
            for records written before the field existed: the device's configured
            format applies.
        rejected: set when ``payload`` holds stream bytes the framer skipped (noise, a
            torn or corrupted frame): journaled anyway, so a replay after a decoder
            fix frames them again.
    """

    meter_id: str
    transport: str
    received_at: datetime
    payload: bytes
    format: str | None = None
    rejected: Rejection | None = None
    topic: str | None = None
    """For MQTT payloads: the topic below ``<prefix>/<device>/`` (``telemetry``,
    ``command/ack``...), which says what the payload is."""


class DeviceMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What the device registry knows about a meter (added by the pipeline's enrich step)."""

    name: str = ""
    device_type: str | None = None
    location: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    applications: list[str] = msgspec.field(default_factory=list)


class Reading(msgspec.Struct, frozen=True, kw_only=True, tag="reading"):
    """One telegram's values at one instant, under canonical metric names.

    ``ts`` is UTC: the meter's own clock where the telegram carries one
    (``ts_source="meter"``), else the receive time (``ts_source="received"``).
    """

    meter_id: str
    ts: datetime
    values: dict[str, float | int]
    units: dict[str, str] = msgspec.field(default_factory=dict)
    received_at: datetime | None = None
    ts_source: str = "meter"
    seq: int | None = None
    meter_number: str | None = None
    text: dict[str, str] = msgspec.field(default_factory=dict)
    quality: Quality = Quality.GOOD
    quality_rules: list[str] = msgspec.field(default_factory=list)
    journal_seq: int | None = None
    device: DeviceMeta | None = None
    unmapped: bool = False
    """The telegram carried numbers that no profile names: the meter needs a profile."""
    origin: str | None = None
    """The processor plugin that derived this reading (None: it came from a meter)."""


class Skipped(msgspec.Struct, frozen=True, kw_only=True, tag="skipped"):
    """A journal record that produced no reading (rejected or duplicate).

    Published so that durable sinks see one message per journal record and know that
    nothing is missing below their cursor.
    """

    meter_id: str
    seq: int


class MeterState(enum.StrEnum):
    """Where a meter stands, as an operator would want to see it."""

    STARTING = "starting"
    ONLINE = "online"
    """Readings arrive."""
    STALE = "stale"
    """No reading for ``stale_after`` seconds, but the link is up."""
    OFFLINE = "offline"
    """The transport is down, or nothing arrived for ``offline_after`` seconds."""
    AUTH_FAILED = "auth_failed"
    """Telegrams arrive but do not decrypt or authenticate: the key is wrong."""
    ERRORS = "errors"
    """Telegrams arrive but are rejected (checksum, truncated, malformed...)."""
    UNMAPPED = "unmapped"
    """Telegrams decode, but no profile names their values: the meter needs a profile."""


class MeterStatus(msgspec.Struct, frozen=True, kw_only=True, tag="meter_status"):
    """A snapshot of one meter's health, published on ``status/<meter_id>``.

    Attributes:
        received: frames its input delivered (each journaled).
        duplicates: frames dropped as repeats of the one before.
        errors: rejections by reason (framing and decoding).
    """

    meter_id: str
    state: MeterState
    since: datetime
    last_reading_at: datetime | None = None
    readings: int = 0
    duplicates: int = 0
    errors: dict[str, int] = msgspec.field(default_factory=dict)
    last_error: str | None = None
    transport_failures: int = 0
    received: int = 0


class Trend(msgspec.Struct, frozen=True, kw_only=True, tag="trend"):
    """Statistics of one metric of one meter over one closed window."""

    meter_id: str
    metric: str
    window_s: int
    window_start: datetime
    avg: float
    min: float
    max: float
    last: float
    count: int


class ConsumptionFlag(enum.StrEnum):
    """How an interval's energy was obtained."""

    MEASURED = "measured"
    """Readings on both sides of the interval, close together."""
    INTERPOLATED = "interpolated"
    """Spread linearly over a gap between readings: the total is right, the shape is not."""
    MISSING = "missing"
    """Unknown: the counter was reset or the meter replaced during the gap."""


class Consumption(msgspec.Struct, frozen=True, kw_only=True, tag="consumption"):
    """Energy used in one interval, computed from a cumulative counter."""

    meter_id: str
    metric: str
    interval_start: datetime
    interval_s: int
    wh: float
    flag: ConsumptionFlag


class AlertState(enum.StrEnum):
    """Life cycle of an alert."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(enum.StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alert(msgspec.Struct, frozen=True, kw_only=True, tag="alert"):
    """One alert; the same id is published again on every state change."""

    id: str
    rule: str
    meter_id: str
    severity: Severity
    state: AlertState
    message: str
    value: float | None = None
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    evidence: dict[str, float | int | str] = msgspec.field(default_factory=dict)
    """What made a plugin raise it (the statistics behind an anomaly...)."""


class PluginEvent(msgspec.Struct, frozen=True, kw_only=True, tag="plugin"):
    """Something a processor plugin pushes to the live feed (``plugins/<key>``).

    Attributes:
        plugin: the plugin's name.
        name: what happened, in the plugin's words (``cost``...).
        key: what it is about, usually a meter id (the live feed's meter filter).
        data: the plugin's fields (JSON-encodable).
    """

    plugin: str
    name: str
    key: str
    ts: datetime
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class Approval(enum.StrEnum):
    """Whether an MQTT device's data is taken in (``[mqtt] unknown_devices``)."""

    ACCEPTED = "accepted"
    PENDING = "pending"
    """Registered; its telemetry waits in the dead letters until an operator accepts it."""
    REJECTED = "rejected"


class DeviceHello(msgspec.Struct, frozen=True, kw_only=True, tag="hello"):
    """A device introduced itself: it is registered, or its entry is updated."""

    device_id: str
    ts: datetime
    device_type: str
    fw_version: str | None = None
    capabilities: list[str] = msgspec.field(default_factory=list)
    approval: Approval = Approval.ACCEPTED


class DeviceLink(msgspec.Struct, frozen=True, kw_only=True, tag="link"):
    """A device's own word on its connection (``status``, or the broker's last will)."""

    device_id: str
    ts: datetime
    online: bool
    reason: str = ""
    """``heartbeat``, ``will`` (the broker's last-will message), or the device's words."""
    details: dict[str, float | int | str | bool] = msgspec.field(default_factory=dict)


class SequenceGap(msgspec.Struct, frozen=True, kw_only=True, tag="gap"):
    """A data-quality event: telemetry sequence numbers are missing."""

    device_id: str
    ts: datetime
    after_seq: int
    next_seq: int
    missing: int


class CounterRestart(msgspec.Struct, frozen=True, kw_only=True, tag="restart"):
    """The device started counting again (it rebooted): not a gap."""

    device_id: str
    ts: datetime
    last_seq: int
    next_seq: int


class CommandAck(msgspec.Struct, frozen=True, kw_only=True, tag="command_ack"):
    """A device answered a command (``command/ack``)."""

    device_id: str
    ts: datetime
    command_id: str
    ok: bool
    result: dict[str, object] = msgspec.field(default_factory=dict)
    error: str | None = None


class OtaProgress(msgspec.Struct, frozen=True, kw_only=True, tag="ota_status"):
    """A device's firmware update moved on (``ota/status``)."""

    device_id: str
    ts: datetime
    ota_id: str
    state: str
    """``downloading``, ``installing``, ``updated`` or ``failed``."""
    progress: float | None = None
    error: str | None = None


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, tag="dead_letter"):
    """A payload that gave nothing usable, kept with the reason and its raw bytes.

    Attributes:
        reason: ``malformed_json``, ``wrong_type``, ``oversize``, ``unknown_device_type``,
            ``wrong_device``, ``unknown_topic``, ``unregistered``, ``pending_device``,
            ``rejected_device``.
        detail: what exactly was wrong, and where in the payload.
        journal_seq: the journal record holding the whole payload.
    """

    device_id: str
    ts: datetime
    reason: str
    detail: str
    topic: str
    payload: bytes
    journal_seq: int | None = None


DeviceEvent = (
    DeviceHello | DeviceLink | SequenceGap | CounterRestart | CommandAck | OtaProgress | DeadLetter
)
"""What an MQTT device's payloads say besides readings (journaled, so replayed too)."""


class DeviceNews(msgspec.Struct, frozen=True, kw_only=True, tag="device_news"):
    """Everything one journal record of an MQTT device gave: readings and events.

    Published on ``devices/<id>`` once per record, after the record's readings went out
    on ``readings/<id>``: the store writer takes the record from this message whole.
    """

    device_id: str
    journal_seq: int | None
    readings: list[Reading] = msgspec.field(default_factory=list)
    events: list[DeviceEvent] = msgspec.field(default_factory=list)
    duplicates: int = 0


class CommandState(enum.StrEnum):
    """Life cycle of a command sent to an MQTT device."""

    QUEUED = "queued"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"
    EXPIRED = "expired"


class CommandUpdate(msgspec.Struct, frozen=True, kw_only=True, tag="command"):
    """A command changed state (published on ``commands/<device>`` for the live feed)."""

    id: str
    device_id: str
    command: str
    state: CommandState
    updated_at: datetime
    error: str | None = None


Message = (
    RawFrame
    | Reading
    | Skipped
    | Trend
    | Consumption
    | Alert
    | MeterStatus
    | DeviceNews
    | CommandUpdate
    | PluginEvent
)
