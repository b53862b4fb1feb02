"""Housekeeping on timers: journal health for readiness, rollups, tiered retention."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import anyio
import msgspec

from meterhub.adapters.stores import StoreUnavailableError
from meterhub.platform import Actor

if TYPE_CHECKING:
    from meterhub.adapters.stores import Store

_log = logging.getLogger(__name__)


class JournalHousekeeping(Protocol):
    """What maintenance needs of the journal."""

    @property
    def health(self) -> str | None:
        """``None`` when writing works, else the problem."""
        ...

    def prune(self, max_age: timedelta, now: datetime | None = None) -> int:
        """Delete segments every sink has passed and that are older than ``max_age``."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class Retention:
    """How long each tier is kept."""

    raw_days: int
    rollup_15m_days: int
    rollup_1d_days: int
    journal_days: int
    interval_s: float


class CheckJournal(msgspec.Struct, frozen=True):
    """Time to look at the journal's health."""


class Housekeeping(msgspec.Struct, frozen=True):
    """Time for rollups and retention."""


class MaintenanceActor(Actor[CheckJournal | Housekeeping]):
    """Reports the journal's health, and runs rollups and retention off the hot path."""

    def __init__(self, store: Store, journal: JournalHousekeeping, retention: Retention) -> None:
        self._store = store
        self._journal = journal
        self._retention = retention
        self._reported: str | None = None

    async def on_start(self) -> None:
        """Start the timers."""
        self.context.every(1.0, CheckJournal, "journal-health")
        self.context.every(self._retention.interval_s, Housekeeping, "retention")

    async def handle(self, message: CheckJournal | Housekeeping) -> None:
        """Report the journal's health, or run one round of housekeeping."""
        if isinstance(message, Housekeeping):
            await self.run_once(datetime.now(UTC))
            return
        health = self._journal.health
        if health != self._reported:
            self._reported = health
            self.context.system.set_health("journal", health)

    async def run_once(self, now: datetime) -> None:
        """One round of rollups and retention; a store outage just skips the round."""
        keep = self._retention
        try:
            rolled = await self._store.rollup(now)
            pruned = await self._store.prune(now, raw_days=keep.raw_days,
                                             rollup_15m_days=keep.rollup_15m_days,
                                             rollup_1d_days=keep.rollup_1d_days)  # fmt: skip
        except StoreUnavailableError as exc:
            _log.warning("maintenance skipped, store unavailable: %s", exc)
            return
        segments = await anyio.to_thread.run_sync(
            self._journal.prune, timedelta(days=keep.journal_days), now
        )
        fields = {f"pruned_{tier}": count for tier, count in pruned.items()}
        fields |= {"rollup_rows": rolled, "segments_removed": segments}
        _log.info("maintenance done", extra=fields)
