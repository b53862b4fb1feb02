"""What the live feed says on the wire: client requests, server messages, their encoding.

Every server message is a JSON object with a ``kind``. Readings get their own wire shape
(the values trimmed to the metrics a client asked for); trends, consumption, alerts,
statuses and commands go out with all of their fields, so the feed grows with the model;
``device`` messages carry what an MQTT device said besides readings (its events).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast, get_args

import msgspec

from meterhub.model import DeviceMeta, DeviceNews, Quality, Reading
from meterhub.topics import LIVE

Kind = Literal["reading", "trend", "consumption", "alert", "status", "device", "command",
               "plugin"]
"""The live topics' kinds, spelled out for the request schema (checked below)."""
KINDS: tuple[Kind, ...] = cast("tuple[Kind, ...]", tuple(topic.kind for topic in LIVE))
TOPIC_OF_KIND: dict[Kind, str] = {cast("Kind", topic.kind): topic.pattern for topic in LIVE}
"""The bus pattern that carries each kind (from the topic table), one level per meter."""
if set(get_args(Kind)) != set(KINDS):  # pragma: no cover - a table edit without this one
    raise ImportError(f"live kinds {sorted(KINDS)} differ from the schema's {get_args(Kind)}")

_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Subscribe(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="op", tag="subscribe"
):
    """Replace the connection's subscription; an omitted field means everything.

    ``meters`` are meter ids or ``fnmatch`` patterns (``*``, ``?``); ``batch`` asks for
    JSON arrays of messages in one frame when several are queued.
    """

    meters: Annotated[list[_Name], msgspec.Meta(min_length=1, max_length=10_000)] | None = None
    metrics: Annotated[list[_Name], msgspec.Meta(min_length=1, max_length=1_000)] | None = None
    kinds: Annotated[list[Kind], msgspec.Meta(min_length=1)] | None = None
    batch: bool = False


class Unsubscribe(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="op", tag="unsubscribe"
):
    """Stop every delivery; the connection stays open."""


ClientMessage = Subscribe | Unsubscribe
client_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)


class LiveReading(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="reading"):
    """A reading as the feed sends it."""

    meter_id: str
    ts: datetime
    values: dict[str, float | int]
    units: dict[str, str]
    quality: Quality
    quality_rules: list[str]
    seq: int | None
    received_at: datetime | None
    device: DeviceMeta | None = None
    """The registry's entry of the meter: name, type, location, tags, applications."""


class Missed(msgspec.Struct, frozen=True, tag_field="kind", tag="missed"):
    """This many messages were dropped since the last delivery: the client fell behind."""

    count: int


class Subscribed(msgspec.Struct, frozen=True, tag_field="kind", tag="subscribed"):
    """The subscription now in force: every later message follows it."""

    meters: list[str] | None
    metrics: list[str] | None
    kinds: list[str]
    batch: bool


class LiveError(msgspec.Struct, frozen=True, tag_field="kind", tag="error"):
    """A client message was refused; the connection stays open."""

    detail: str


encoder = msgspec.json.Encoder()
"""The one encoder of the feed (msgspec reuses its buffers)."""


def encode_message(kind: Kind, message: Any, metrics: frozenset[str] | None) -> bytes | None:  # noqa: ANN401 (a bus payload)
    """The wire form of one bus message for one metric filter; None when nothing is left."""
    if kind == "reading" and isinstance(message, Reading):
        values = message.values
        units = message.units
        if metrics is not None:
            values = {k: v for k, v in values.items() if k in metrics}
            if not values:
                return None
            units = {k: v for k, v in units.items() if k in metrics}
        return encoder.encode(
            LiveReading(
                meter_id=message.meter_id,
                ts=message.ts,
                values=values,
                units=units,
                quality=message.quality,
                quality_rules=message.quality_rules,
                seq=message.seq,
                received_at=message.received_at,
                device=message.device,
            )
        )
    if isinstance(message, DeviceNews):
        # the readings went out on their own; what a device said besides them, if anything
        if not message.events:
            return None
        events = msgspec.to_builtins(message.events)
        return encoder.encode({"kind": kind, "meter_id": message.device_id, "events": events,
                               "journal_seq": message.journal_seq})  # fmt: skip
    if metrics is not None and getattr(message, "metric", None) not in (None, *metrics):
        return None  # a trend or consumption row of another metric
    fields = msgspec.structs.asdict(message) if isinstance(message, msgspec.Struct) else {}
    return encoder.encode({"kind": kind, **fields})


class Delivery:
    """One bus message on its way to every client that wants it.

    The same object sits in each client's mailbox, so each metric filter is encoded once
    however many clients share it.
    """

    __slots__ = ("_encoded", "kind", "message")

    def __init__(self, kind: Kind, message: object) -> None:
        self.kind: Kind = kind
        self.message = message
        self._encoded: dict[frozenset[str] | None, bytes | None] | None = None

    def encoded(self, metrics: frozenset[str] | None) -> bytes | None:
        """The JSON for clients with this metric filter (cached); None to skip it."""
        cache = self._encoded
        if cache is None:
            cache = self._encoded = {}
        elif metrics in cache:
            return cache[metrics]
        data = cache[metrics] = encode_message(self.kind, self.message, metrics)
        return data
