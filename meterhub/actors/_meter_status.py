"""A meter's health as its actor reports it: state, counters per rejection, last error."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


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


class MeterStatus(msgspec.Struct, frozen=True, kw_only=True, tag="meter_status"):
    """A snapshot of one meter's health, published on ``status/<meter_id>``."""

    meter_id: str
    state: MeterState
    since: datetime
    last_reading_at: datetime | None = None
    readings: int = 0
    duplicates: int = 0
    errors: dict[str, int] = msgspec.field(default_factory=dict)
    last_error: str | None = None
    transport_failures: int = 0
