"""The store writer with a real journal and a real SQLite store."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from meterhub.actors import (
    SINK,
    DeviceDirectory,
    Outcome,
    Pipeline,
    StoreWriter,
    Validator,
    WriterSettings,
)
from meterhub.actors._store_writer import WriterMessage
from meterhub.adapters.journal import Journal
from meterhub.adapters.stores import SqliteStore, StoreError
from meterhub.model import DeadLetter, DeviceEvent, DeviceNews, RawFrame, Reading
from meterhub.platform import ActorRef, ActorSpec, ActorSystem

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from meterhub.actors._store_writer import EventSink

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def frame(n: int) -> RawFrame:
    return RawFrame(meter_id="m1", transport="test", received_at=NOW, payload=bytes([n]))


def reading(seq: int) -> Reading:
    return Reading(meter_id="m1", ts=NOW.replace(second=seq), values={"power_import_w": seq},
                   received_at=NOW, journal_seq=seq)  # fmt: skip


async def stored_seqs(store: SqliteStore) -> list[int | None]:
    rows = await store.query_readings(meters=["m1"], metrics=None, start=NOW,
                                      end=NOW.replace(minute=1), limit=100)  # fmt: skip
    return [row.journal_seq for row in rows]


@contextlib.asynccontextmanager
async def running_writer(
    journal: Journal, store: SqliteStore, pipeline: Pipeline, gap_timeout: float = 10.0, *,
    apply_events: EventSink | None = None, made: list[StoreWriter] | None = None,
) -> AsyncIterator[ActorRef[WriterMessage]]:
    """A store writer over ``journal`` and ``store``, flushing every 20 ms (into ``made``)."""
    await store.migrate()
    settings = WriterSettings(flush_interval=0.02, gap_timeout=gap_timeout)

    def make() -> StoreWriter:
        writer = StoreWriter(store, journal, lambda: pipeline, settings,
                             apply_events=apply_events)  # fmt: skip
        if made is not None:
            made.append(writer)
        return writer

    async with ActorSystem() as system:
        await system.spawn(ActorSpec(SINK, make))
        yield system.lookup(SINK)


class NoDevices(Pipeline):
    """Catch-up that knows no meter: it records each frame it was asked to decode."""

    def __init__(self) -> None:
        super().__init__({}, Validator(), DeviceDirectory)
        self.seen: list[int | None] = []

    def run(self, frame: RawFrame, seq: int | None) -> Outcome:
        self.seen.append(seq)
        return super().run(frame, seq)


def no_decoders() -> NoDevices:
    return NoDevices()


async def test_nothing_is_committed_past_the_journals_disk(tmp_path: Path) -> None:
    # were a reading stored before its frame is on disk, a kill -9 would let the journal
    # give that seq to another frame after the restart, which the cursor would then skip
    async with (
        Journal(tmp_path / "journal", flush_interval=3600, fsync=False) as journal,
        SqliteStore(tmp_path / "db.sqlite") as store,
        running_writer(journal, store, no_decoders()) as ref,
    ):
        seqs = [journal.append(frame(n)) for n in range(3)]
        await journal.flush()  # the first three on disk, the next two only buffered
        seqs += [journal.append(frame(n)) for n in range(3, 5)]
        assert (journal.durable_seq, journal.last_seq) == (3, 5)
        for seq in seqs:
            await ref.send(reading(seq))
        with anyio.fail_after(5):
            while await store.read_cursor(SINK) < 3:  # noqa: ASYNC110 (the writer's progress)
                await anyio.sleep(0.01)
        await anyio.sleep(0.2)  # ten flush ticks: the writer must still hold seqs 4 and 5
        assert await store.read_cursor(SINK) == 3
        assert await stored_seqs(store) == [1, 2, 3]

        await journal.flush()
        with anyio.fail_after(5):
            while await store.read_cursor(SINK) < 5:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        assert await stored_seqs(store) == [1, 2, 3, 4, 5]


class SlowFirstWrite(SqliteStore):
    """A store whose first ingest takes a second, like a batch behind a busy disk."""

    slept = False

    async def ingest(self, readings: Sequence[Reading], *,
                     cursor: tuple[str, int] | None = None) -> int:  # fmt: skip
        if not self.slept:
            self.slept = True
            await anyio.sleep(1.0)
        return await super().ingest(readings, cursor=cursor)


async def test_time_spent_writing_does_not_age_a_hole(tmp_path: Path) -> None:
    # a seq missing while later ones arrive is a loss only after gap_timeout of the
    # writer *receiving*; while it writes, the live path cannot deliver the missing seq,
    # and a needless catch-up (decoding everything again) would deepen an overload
    redecoder = no_decoders()
    async with (
        Journal(tmp_path / "journal", fsync=False) as journal,
        SlowFirstWrite(tmp_path / "db.sqlite") as store,
        running_writer(journal, store, redecoder, gap_timeout=0.6) as ref,
    ):
        for n in range(3):
            journal.append(frame(n))
        await journal.flush()
        await ref.send(reading(1))
        await ref.send(reading(3))  # seq 2 is still on its way
        await anyio.sleep(1.25)  # the slow write of seq 1, then a quarter second of ticks
        # a catch-up would have re-read seq 2 from the journal (its meter is unknown here)
        assert redecoder.seen == []
        assert await store.read_cursor(SINK) == 1
        await ref.send(reading(2))  # the hole fills from the live path
        with anyio.fail_after(5):
            while await store.read_cursor(SINK) < 3:  # noqa: ASYNC110 (the writer's progress)
                await anyio.sleep(0.01)
        assert await stored_seqs(store) == [1, 2, 3]
        assert redecoder.seen == []


def dead_letter(seq: int, reason: str) -> DeadLetter:
    return DeadLetter(device_id="m1", ts=NOW, reason=reason, detail="", topic="telemetry",
                      payload=b"{}", journal_seq=seq)  # fmt: skip


async def test_device_events_the_store_refuses_do_not_stop_the_records_after_them(
    tmp_path: Path,
) -> None:
    # a record the store can never take (a constraint, a value it rejects) would fail
    # again after every restart; it is skipped, logged and left to a replay
    kept: list[str] = []
    made: list[StoreWriter] = []

    async def apply(events: Sequence[tuple[int | None, DeviceEvent]]) -> None:
        reasons = [e.reason for _, e in events if isinstance(e, DeadLetter)]
        if "refused" in reasons:
            msg = "the store refused it"
            raise StoreError(msg)
        kept.extend(reasons)

    async with (
        Journal(tmp_path / "journal", fsync=False) as journal,
        SqliteStore(tmp_path / "db.sqlite") as store,
        running_writer(journal, store, no_decoders(), apply_events=apply, made=made) as ref,
    ):
        for n in range(3):
            journal.append(frame(n))
        await journal.flush()
        await ref.send(DeviceNews(device_id="m1", journal_seq=1,
                                  events=[dead_letter(1, "refused")]))  # fmt: skip
        await ref.send(reading(2))
        await ref.send(DeviceNews(device_id="m1", journal_seq=3,
                                  events=[dead_letter(3, "malformed_json")]))  # fmt: skip
        with anyio.fail_after(5):
            while not kept:  # noqa: ASYNC110 (the writer's progress)
                await anyio.sleep(0.01)
        assert kept == ["malformed_json"]
        assert [writer.refused_events for writer in made] == [1]
        assert await stored_seqs(store) == [2]
        assert await store.read_cursor(SINK) >= 2
