"""Snapshots of the runtime for the API, readiness and metrics."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class ActorState(enum.StrEnum):
    """Life cycle of one supervised actor or supervisor."""

    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class ActorStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One actor's or supervisor's state and counters at one instant."""

    name: str
    kind: str
    parent: str | None
    state: ActorState
    mailbox_depth: int = 0
    mailbox_capacity: int = 0
    mailbox_policy: str | None = None
    processed: int = 0
    failed: int = 0
    dropped: int = 0
    restarts: int = 0
    handling_seconds: float = 0.0
    last_error: str | None = None
    last_error_at: datetime | None = None


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the site serves everything: components that gave up are named."""

    ready: bool
    state: str
    failed: list[str] = msgspec.field(default_factory=list)
    reasons: dict[str, str] = msgspec.field(default_factory=dict)
    degraded: list[str] = msgspec.field(default_factory=list)
    """Optional components that are out (a refused or disabled plugin): the site
    serves without them, so it is still ready; their reasons are in ``reasons``."""
