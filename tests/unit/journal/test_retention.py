"""Cursors reported by sinks, and retention that respects every one of them."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
import pytest

from meterhub.adapters.journal import Journal, JournalError
from tests.unit.journal._frames import frame, record_size, segments

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2025, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _age(path: Path, age: timedelta) -> None:
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))


async def _five_segments(directory: Path) -> int:
    """Write 50 records, 10 per segment (seqs 1-10, 11-20, ...); return the segment size."""
    size = record_size(1, frame(1))
    async with Journal(directory, segment_bytes=size * 10, fsync=False) as journal:
        for i in range(50):
            journal.append(frame(i))
    return size * 10


async def test_cursors_are_persisted_atomically_and_reloaded(tmp_path: Path) -> None:
    async with Journal(tmp_path) as journal:
        for i in range(10):
            journal.append(frame(i))
        journal.report_cursor("store", 7)
        journal.report_cursor("bridge", 3)
        await journal.flush()
        on_disk = msgspec.json.decode((tmp_path / "cursors.json").read_bytes())
        assert on_disk == {"bridge": 3, "store": 7}
        journal.report_cursor("store", 9)
        journal.forget_cursor("bridge")
        with pytest.raises(ValueError, match="outside"):
            journal.report_cursor("store", 11)
    assert not (tmp_path / "cursors.json.tmp").exists()
    async with Journal(tmp_path) as journal:
        assert journal.cursors == {"store": 9}


async def test_a_damaged_cursors_file_stops_the_journal_from_opening(tmp_path: Path) -> None:
    (tmp_path / "cursors.json").write_bytes(b'{"store": ')
    with pytest.raises(JournalError, match=r"cursors .* are damaged"):
        async with Journal(tmp_path):
            pass


async def test_nothing_is_pruned_before_any_cursor_is_reported(tmp_path: Path) -> None:
    segment_bytes = await _five_segments(tmp_path)
    for path in segments(tmp_path):
        _age(path, 30 * DAY)
    async with Journal(tmp_path, segment_bytes=segment_bytes) as journal:
        assert journal.prune(DAY, NOW) == 0
    assert len(segments(tmp_path)) == 5


async def test_retention_waits_for_the_slowest_cursor_and_for_age(tmp_path: Path) -> None:
    segment_bytes = await _five_segments(tmp_path)
    files = segments(tmp_path)
    for path, days in zip(files, [40, 35, 20, 3, 1], strict=True):
        _age(path, days * DAY)
    async with Journal(tmp_path, segment_bytes=segment_bytes, fsync=False) as journal:
        journal.report_cursor("store", 50)
        journal.report_cursor("bridge", 19)  # inside the second segment
        assert journal.prune(30 * DAY, NOW) == 1  # only 1-10: the bridge needs 20
        assert segments(tmp_path) == files[1:]

        journal.report_cursor("bridge", 20)
        assert journal.prune(30 * DAY, NOW) == 1  # 11-20; the bridge still needs 21-30
        journal.report_cursor("bridge", 30)
        assert journal.prune(30 * DAY, NOW) == 0  # passed, but 21-30 is only 20 days old
        assert journal.prune(10 * DAY, NOW) == 1  # with a shorter limit it may go
        assert segments(tmp_path) == files[3:]

        journal.report_cursor("bridge", 50)
        assert journal.prune(timedelta(0), NOW) == 1  # never the active segment
        assert segments(tmp_path) == files[4:]
        assert [s for s, _ in journal.read(0)] == list(range(41, 51))
        assert journal.statistics().segments == 1

    async with Journal(tmp_path, segment_bytes=segment_bytes) as journal:
        assert journal.last_seq == 50  # numbering survives losing old segments
        assert journal.append(frame(50)) == 51


async def test_a_young_segment_keeps_older_ones_behind_it(tmp_path: Path) -> None:
    segment_bytes = await _five_segments(tmp_path)
    files = segments(tmp_path)
    for path, days in zip(files, [2, 40, 40, 40, 40], strict=True):
        _age(path, days * DAY)
    async with Journal(tmp_path, segment_bytes=segment_bytes) as journal:
        journal.report_cursor("store", 50)
        # the oldest-first prefix stops at the first young segment: no holes
        assert journal.prune(30 * DAY, NOW) == 0
        assert journal.prune(DAY, NOW) == 4
