"""Appending, reading back, rolling segments, and durability signals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from meterhub.adapters.journal import Journal, JournalError, JournalStatistics
from tests.unit.journal._frames import T0, frame, record_size, segments


async def test_round_trip_survives_reopen_and_seq_continues(tmp_path: Path) -> None:
    frames = [frame(i) for i in range(500)]
    async with Journal(tmp_path) as journal:
        seqs = [journal.append(f) for f in frames]
    assert seqs == list(range(1, 501))

    async with Journal(tmp_path) as journal:
        assert journal.last_seq == journal.durable_seq == 500
        assert list(journal.read(0)) == list(zip(seqs, frames, strict=True))
        assert journal.append(frame(500)) == 501
        await journal.flush()
        assert [seq for seq, _ in journal.read(499)] == [500, 501]


async def test_empty_journal_starts_at_one(tmp_path: Path) -> None:
    async with Journal(tmp_path / "new" / "journal") as journal:
        assert (journal.last_seq, journal.durable_seq) == (0, 0)
        assert list(journal.read(0)) == []
        assert journal.append(frame(0)) == 1
    assert [p.name for p in segments(tmp_path / "new" / "journal")] == ["00000000000000000001.seg"]


async def test_segments_roll_and_reads_cross_them(tmp_path: Path) -> None:
    size = record_size(1, frame(1))
    frames = [frame(i) for i in range(100)]
    async with Journal(tmp_path, segment_bytes=size * 10 + 1, flush_interval=0.01) as journal:
        for i, item in enumerate(frames):
            journal.append(item)
            if i % 7 == 0:
                await journal.flush()
    files = segments(tmp_path)
    # 11 records fill a segment past its limit; names are the first seq of each
    assert [int(p.stem) for p in files] == list(range(1, 101, 11))
    assert all(p.stat().st_size == 11 * size for p in files[:-1])

    async with Journal(tmp_path, segment_bytes=size * 10 + 1) as journal:
        assert [f for _, f in journal.read(0)] == frames
        assert [s for s, _ in journal.read(20, until=25)] == [21, 22, 23, 24, 25]
        assert [s for s, _ in journal.read(32, until=34)] == [33, 34]
        assert journal.read_batch(95, 3) == [(96, frames[95]), (97, frames[96]), (98, frames[97])]
        assert journal.read_batch(100, 10) == []
        assert journal.statistics().segments == len(files)


async def test_one_flush_larger_than_a_segment_is_split_at_record_boundaries(
    tmp_path: Path,
) -> None:
    size = record_size(1, frame(1))
    async with Journal(tmp_path, segment_bytes=size * 3, flush_interval=3600) as journal:
        for i in range(10):
            journal.append(frame(i))
        await journal.flush()
        assert [int(p.stem) for p in segments(tmp_path)] == [1, 4, 7, 10]
        assert [s for s, _ in journal.read(0)] == list(range(1, 11))


async def test_read_after_a_cursor_in_a_large_segment(tmp_path: Path) -> None:
    frames = [frame(i, size=300) for i in range(3000)]  # ~1 MiB: the sparse index is used
    async with Journal(tmp_path, fsync=False) as journal:
        for item in frames:
            journal.append(item)
        await journal.flush()
        for cursor in (0, 1, 777, 2500, 2999):
            assert journal.read_batch(cursor, 2) == [
                (s, frames[s - 1]) for s in range(cursor + 1, min(cursor + 3, 3001))
            ]
        assert journal.read_batch(3000, 5) == []


async def test_read_never_returns_records_that_are_not_durable(tmp_path: Path) -> None:
    async with Journal(tmp_path, flush_interval=3600) as journal:
        first = journal.append(frame(0))
        assert journal.durable_seq == 0
        assert list(journal.read(0)) == []
        await journal.flush()
        journal.append(frame(1))
        assert [s for s, _ in journal.read(0)] == [first]
        assert journal.statistics().buffered == 1


async def test_wait_durable_returns_once_the_flusher_has_synced(tmp_path: Path) -> None:
    async with Journal(tmp_path, flush_interval=0.01) as journal:
        seq = 0
        for i in range(50):
            seq = journal.append(frame(i))
        with anyio.fail_after(10):
            await journal.wait_durable(seq)
        assert journal.durable_seq >= seq
        await journal.wait_durable(1)  # already durable: returns at once
        with pytest.raises(ValueError, match="never appended"):
            await journal.wait_durable(seq + 1)


async def test_a_full_buffer_wakes_the_flusher_before_its_interval(tmp_path: Path) -> None:
    async with Journal(tmp_path, flush_interval=3600, flush_bytes=2000) as journal:
        seq = 0
        while journal.statistics().buffered_bytes < 2000:
            seq = journal.append(frame(seq))
        with anyio.fail_after(10):
            await journal.wait_durable(seq)


async def test_read_span_filters_on_time_and_meter(tmp_path: Path) -> None:
    async with Journal(tmp_path) as journal:
        for i in range(30):
            journal.append(frame(i))
        await journal.flush()
        span = list(journal.read_span(T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)))
        assert [s for s, _ in span] == list(range(11, 21))
        mine = list(journal.read_span(meter="meter-1"))
        assert [f.meter_id for _, f in mine] == ["meter-1"] * 10
        assert [s for s, _ in journal.read_span(end=T0 + timedelta(seconds=3))] == [1, 2, 3]


async def test_statistics_count_appends_flushes_and_bytes(tmp_path: Path) -> None:
    size = record_size(1, frame(1))
    async with Journal(tmp_path, flush_interval=3600) as journal:
        for i in range(4):
            journal.append(frame(i))
        before = journal.statistics()
        await journal.flush()
        after = journal.statistics()
    assert before == JournalStatistics(
        appended=4, flushed=0, bytes=0, segments=1, buffered=4, buffered_bytes=4 * size,
        last_seq=4, durable_seq=0, health=None,
    )  # fmt: skip
    assert after == JournalStatistics(
        appended=4, flushed=4, bytes=4 * size, segments=1, buffered=0, buffered_bytes=0,
        last_seq=4, durable_seq=4, health=None,
    )  # fmt: skip


async def test_closing_writes_what_is_buffered_even_when_the_body_fails(tmp_path: Path) -> None:
    async def fail_inside() -> None:
        async with Journal(tmp_path, flush_interval=3600) as journal:
            journal.append(frame(0))
            journal.append(frame(1))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()
    async with Journal(tmp_path) as journal:
        assert [s for s, _ in journal.read(0)] == [1, 2]


async def test_append_and_read_refuse_a_journal_that_is_not_open(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    with pytest.raises(JournalError, match="is not open"):
        journal.append(frame(0))
    async with journal:
        journal.append(frame(0))
    with pytest.raises(JournalError, match="is not open"):
        journal.append(frame(1))
    with pytest.raises(JournalError, match="is not open"):
        journal.read(0)
    with pytest.raises(JournalError, match="only once"):
        async with journal:
            pass


async def test_a_directory_is_used_by_one_journal_at_a_time(tmp_path: Path) -> None:
    async with Journal(tmp_path):
        with pytest.raises(JournalError, match="in use by another journal"):
            async with Journal(tmp_path):
                pass
    async with Journal(tmp_path):
        pass


def test_constructor_validates_and_does_no_io(tmp_path: Path) -> None:
    Journal(tmp_path / "not" / "created")
    assert not (tmp_path / "not").exists()
    with pytest.raises(ValueError, match="positive"):
        Journal(tmp_path, segment_bytes=0)
    with pytest.raises(ValueError, match="positive"):
        Journal(tmp_path, flush_interval=0)


async def test_closing_under_cancellation_still_writes_what_is_buffered(tmp_path: Path) -> None:
    with anyio.CancelScope() as scope:
        async with Journal(tmp_path, flush_interval=3600) as journal:
            journal.append(frame(0))
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    async with Journal(tmp_path) as journal:
        assert [f for _, f in journal.read(0)] == [frame(0)]


async def test_a_sink_catches_up_from_a_thread_while_meters_append(tmp_path: Path) -> None:
    received: list[int] = []

    def catch_up(cursor: int) -> int:
        for seq, item in journal.read_batch(cursor, 500):
            assert item == frame(seq - 1, size=200)
            received.append(seq)
            cursor = seq
        return cursor

    async with Journal(tmp_path, segment_bytes=64 * 1024, flush_interval=0.005) as journal:
        cursor = 0
        for i in range(5000):
            journal.append(frame(i, size=200))
            if i % 250 == 0:
                cursor = await anyio.to_thread.run_sync(catch_up, cursor)
        await journal.flush()
        while cursor < journal.last_seq:
            cursor = await anyio.to_thread.run_sync(catch_up, cursor)
    assert received == list(range(1, 5001))
