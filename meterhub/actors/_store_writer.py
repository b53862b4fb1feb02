"""The durable sink: readings into the store, with the journal cursor in the same commit.

Live readings arrive through a ``drop_oldest`` mailbox, so a slow or unavailable store
never slows the meters. Every journal record produces exactly one message for the
writer (a reading, or a ``Skipped`` note for a frame that gave none), so the writer
knows the highest journal seq below which everything is handled, and commits that as
its cursor together with the rows. When it sees a hole it cannot fill from the live
path (its mailbox dropped messages, the store was down, the process was killed), it
re-reads the journal from its cursor and decodes again; writes are idempotent on
(meter, ts, metric), so nothing is stored twice.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Protocol, TypeVar

import anyio
import msgspec

from meterhub.adapters.stores import (
    AlertRow,
    ConsumptionRow,
    StoreError,
    StoreUnavailableError,
    TrendRow,
)
from meterhub.model import Alert, Consumption, DeviceNews, Reading, Skipped, Trend
from meterhub.platform import BatchActor, RestartPolicy, retry
from meterhub.topics import ALERTS, CONSUMPTION, DEVICE_NEWS, READINGS, SKIPPED, TRENDS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from meterhub.actors._pipeline import Pipeline
    from meterhub.adapters.stores import Store
    from meterhub.model import DeviceEvent, RawFrame

    EventSink = Callable[[Sequence[tuple[int | None, DeviceEvent]]], Awaitable[None]]

_log = logging.getLogger(__name__)
SINK = "store"

T = TypeVar("T")
RETRY = RestartPolicy(backoff_initial=0.2, backoff_max=5.0)


def _by_record(
    events: Sequence[tuple[int | None, DeviceEvent]],
) -> list[list[tuple[int | None, DeviceEvent]]]:
    """Split events into runs of one journal record each, in order."""
    records: list[list[tuple[int | None, DeviceEvent]]] = []
    for item in events:
        if records and records[-1][0][0] == item[0] and item[0] is not None:
            records[-1].append(item)
        else:
            records.append([item])
    return records


class JournalReader(Protocol):
    """What the writer needs of the journal."""

    @property
    def last_seq(self) -> int:
        """Seq of the newest record appended."""
        ...

    @property
    def durable_seq(self) -> int:
        """Seq of the newest record on disk."""
        ...

    async def wait_durable(self, seq: int) -> None:
        """Until ``seq`` is on disk."""
        ...

    def read_batch(self, after: int, limit: int) -> list[tuple[int, RawFrame]]:
        """Durable records with seq > ``after`` (blocking file I/O)."""
        ...

    def report_cursor(self, name: str, seq: int) -> None:
        """Tell retention how far a sink got."""
        ...


class FlushTick(msgspec.Struct, frozen=True):
    """Time to write what is batched."""


@dataclasses.dataclass(frozen=True, slots=True)
class WriterSettings:
    """Batching and retry of the store writer."""

    batch_rows: int = 50_000
    flush_interval: float = 0.2
    # a hole older than this (while later records keep arriving) is a loss on the live
    # path; under heavy load a reading may legitimately queue for seconds, and a
    # needless catch-up (decoding again) would only add to that load
    gap_timeout: float = 10.0
    catch_up_batch: int = 2000
    retry: RestartPolicy = RETRY


WriterMessage = Reading | Skipped | DeviceNews | Trend | Consumption | Alert | FlushTick


class StoreWriter(BatchActor[WriterMessage]):
    """Writes readings (durably), trends, consumption and alerts to the store.

    Args:
        store: where rows go.
        journal: the source of truth it catches up from.
        make_pipeline: a fresh pipeline for each catch-up (the one the inputs run).
        settings: batching and retry.
        observe_write: told each committed batch's seconds and rows (metrics).
        apply_events: stores MQTT device events (dead letters, registrations, command
            acks...); called before the cursor passes their records, and again for the
            same events after a crash, so it must be idempotent.
    """

    def __init__(
        self,
        store: Store,
        journal: JournalReader,
        make_pipeline: Callable[[], Pipeline],
        settings: WriterSettings | None = None,
        observe_write: Callable[[float, int], None] | None = None,
        *,
        apply_events: EventSink | None = None,
    ) -> None:
        self._store = store
        self._apply_events = apply_events
        self._journal = journal
        self._make_pipeline = make_pipeline
        self._settings = settings or WriterSettings()
        self._observe_write = observe_write
        self._cursor = 0
        # journal seq -> its reading (None: the record gave none), until the cursor
        # reaches it; then the reading joins the batch
        self._pending: dict[int, Reading | DeviceNews | None] = {}
        self._batch: list[Reading] = []
        # MQTT device events with their journal seq, stored with the readings' batch
        self._events: list[tuple[int | None, DeviceEvent]] = []
        self._batch_rows = 0
        self.refused_events = 0
        """Device events skipped because the store refused them (logged as errors)."""
        self._derived: list[object] = []
        self._oldest_hole_since: float | None = None
        self._dropped_seen = 0
        self.written = 0

    async def on_start(self) -> None:
        """Find the cursor, catch up with the journal, then follow the live path."""
        bus, ref = self.context.bus, self.context.ref
        for topic in (READINGS, SKIPPED, DEVICE_NEWS, TRENDS, CONSUMPTION, ALERTS):
            topic.subscribe(bus, ref)
        self._cursor = await self._retrying(lambda: self._store.read_cursor(SINK))
        self._dropped_seen = self.context.ref.mailbox.dropped
        await self._catch_up()
        self.context.every(self._settings.flush_interval, FlushTick, "flush-timer")

    async def handle_batch(self, messages: list[WriterMessage]) -> None:
        """Sort messages into row batches; write when a batch is full or due."""
        due = False
        derived = self._derived
        for message in messages:
            if isinstance(message, Reading | DeviceNews):
                self._accept(message.journal_seq, message)
            elif isinstance(message, Skipped):
                self._accept(message.seq, None)
            elif isinstance(message, FlushTick):
                due = True
            else:  # trends, consumption, alerts: written after the readings
                derived.append(message)
        if self._dropped():
            # a dropped message may have been an MQTT record whose readings are pending
            # now: the journal, not the half that got through, must fill those seqs
            self._pending.clear()
            await self._write()
            await self._catch_up()
            return
        self._advance()
        if self._hole_too_old():
            await self._write()
            await self._catch_up()
        elif due or self._batch_rows >= self._settings.batch_rows:
            await self._write()

    def _accept(self, seq: int | None, item: Reading | DeviceNews | None) -> None:
        if seq is None:  # not journaled (a test or a plugin): store it, no cursor
            if item is not None:
                self._add(item)
            return
        if seq <= self._cursor:
            return  # already stored (caught up from the journal)
        if isinstance(item, Reading) and isinstance(self._pending.get(seq), DeviceNews):
            return  # one of the readings of an MQTT record taken whole
        self._pending[seq] = item

    def _add(self, item: Reading | DeviceNews) -> None:
        if isinstance(item, DeviceNews):
            for reading in item.readings:
                self._add(reading)
            self._events.extend((item.journal_seq, event) for event in item.events)
            return
        self._batch.append(item)
        self._batch_rows += len(item.values)

    def _advance(self) -> None:
        pending, cursor = self._pending, self._cursor
        while cursor + 1 in pending:
            cursor += 1
            reading = pending.pop(cursor)
            if reading is not None:
                self._add(reading)
        moved = cursor != self._cursor
        self._cursor = cursor
        # the clock measures how long the *current* hole (the seq after the cursor) has
        # been missing; readings of different meters overtake each other all the time
        if not pending:
            self._oldest_hole_since = None
        elif moved or self._oldest_hole_since is None:
            self._oldest_hole_since = time.monotonic()

    def _dropped(self) -> bool:
        dropped = self.context.ref.mailbox.dropped
        if dropped != self._dropped_seen:
            self._dropped_seen = dropped
            return True
        return False

    def _hole_too_old(self) -> bool:
        since = self._oldest_hole_since
        return since is not None and time.monotonic() - since > self._settings.gap_timeout

    async def _write(self, *, everything: bool = False) -> None:
        if everything and self._cursor > self._journal.durable_seq:
            await self._journal.wait_durable(self._cursor)
        batch, cursor = self._take_durable()
        derived, self._derived = self._derived, []
        await self._write_events(cursor)
        if batch:
            rows = sum(len(reading.values) for reading in batch)
            started = time.monotonic()
            await self._retrying(lambda: self._store.ingest(batch, cursor=(SINK, cursor)))
            if self._observe_write is not None:
                self._observe_write(time.monotonic() - started, rows)
            self.written += rows
            if self._oldest_hole_since is not None:
                # time spent writing does not count against the hole: the live path
                # could not deliver to this writer meanwhile
                self._oldest_hole_since += time.monotonic() - started
        self._journal.report_cursor(SINK, cursor)
        if derived:
            await self._write_derived(derived)

    def _take_durable(self) -> tuple[list[Reading], int]:
        """Take the batched readings whose frames are on disk, and their cursor.

        A reading decoded from a frame the journal has not yet written must wait: were
        the process killed now, the journal would hand that seq to another frame after
        the restart, and a cursor already past it would skip that frame for good.
        """
        durable, batch = self._journal.durable_seq, self._batch
        cut = index = len(batch)
        # journaled readings are batched in seq order: scan back to the first durable one
        while index:
            index -= 1
            seq = batch[index].journal_seq
            if seq is not None:
                if seq <= durable:
                    break
                cut = index
        taken, self._batch = batch[:cut], batch[cut:]
        self._batch_rows = sum(len(reading.values) for reading in self._batch)
        return taken, min(self._cursor, durable)

    async def _write_events(self, cursor: int) -> None:
        """Store the device events of records up to ``cursor``, before it is committed."""
        if not self._events:
            return
        events = self._events
        cut = len(events)
        while cut and (seq := events[cut - 1][0]) is not None and seq > cursor:
            cut -= 1
        taken, self._events = events[:cut], events[cut:]
        if taken and self._apply_events is not None:
            apply = self._apply_events
            try:
                await self._retrying(lambda: apply(taken))
            except StoreError:
                # one record the store refuses must not stop the others (it would fail
                # again after each restart): apply record by record, skip what fails
                for record in _by_record(taken):
                    await self._apply_alone(apply, record)

    async def _apply_alone(
        self, apply: EventSink, record: Sequence[tuple[int | None, DeviceEvent]]
    ) -> None:
        try:
            await self._retrying(lambda: apply(record))
        except StoreError as exc:
            self.refused_events += len(record)
            _log.error("the store refused the device events of journal record %s; skipped "
                       "(the journal keeps them for a replay): %s", record[0][0], exc)  # fmt: skip

    async def _write_derived(self, derived: Sequence[object]) -> None:
        trends = [TrendRow(**msgspec.structs.asdict(t)) for t in derived if isinstance(t, Trend)]
        usage = [
            ConsumptionRow(**msgspec.structs.asdict(c))
            for c in derived
            if isinstance(c, Consumption)
        ]
        alerts = [AlertRow(**msgspec.structs.asdict(a)) for a in derived if isinstance(a, Alert)]
        if trends:
            await self._retrying(lambda: self._store.write_trends(trends))
        if usage:
            await self._retrying(lambda: self._store.write_consumption(usage))
        for alert in alerts:
            await self._retrying(lambda a=alert: self._store.upsert_alert(a))  # type: ignore[misc]

    async def _catch_up(self) -> None:
        """Store every journal record after the cursor, decoding it again."""
        head = self._journal.last_seq
        if head <= self._cursor:
            return
        _log.info("catching up from the journal", extra={"from_seq": self._cursor + 1,
                                                         "to_seq": head})  # fmt: skip
        await self._journal.wait_durable(head)
        pipeline = self._make_pipeline()
        while self._cursor < head:
            after, limit = self._cursor, self._settings.catch_up_batch
            records = await anyio.to_thread.run_sync(self._journal.read_batch, after, limit)
            if not records:
                break
            for seq, frame in records:
                outcome = pipeline.run(frame, seq)
                if isinstance(outcome, Reading | DeviceNews):
                    self._add(outcome)
            self._cursor = records[-1][0]
            await self._write(everything=True)
        # what the live path delivered meanwhile for seqs now stored is dropped above
        self._pending = {s: r for s, r in self._pending.items() if s > self._cursor}
        self._advance()
        self._dropped_seen = self.context.ref.mailbox.dropped

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a store call until it succeeds; report the outage while it lasts."""
        system = self.context.system

        def failed(exc: Exception, attempt: int) -> None:
            if attempt == 1:
                _log.warning("store unavailable, holding writes: %s", exc)
                system.set_health(SINK, f"store unavailable: {exc}")

        def recovered(attempts: int) -> None:
            _log.info("store available again after %d attempts", attempts)
            system.set_health(SINK, None)

        return await retry(call, errors=StoreUnavailableError, policy=self._settings.retry,
                           on_failure=failed, on_recovery=recovered)  # fmt: skip

    async def on_stop(self) -> None:
        """Write what is left; fill any hole from the journal (the meters stopped)."""
        self._advance()
        await self._write(everything=True)
        await self._catch_up()
