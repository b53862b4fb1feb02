"""Messages shared by every layer: frozen msgspec Structs with explicit tags.

Wire schemas only grow: a new field gets a default, so journals and upstream consumers
written by an older meterhub still decode.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class Quality(enum.StrEnum):
    """How far a reading can be trusted (set by the validator)."""

    GOOD = "good"
    SUSPECT = "suspect"
    INVALID = "invalid"


class RawFrame(msgspec.Struct, frozen=True, kw_only=True, tag="raw_frame"):
    """Bytes exactly as a transport received them, before any decoding."""

    meter_id: str
    transport: str
    received_at: datetime
    payload: bytes


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


Message = RawFrame | Reading
