"""Torn tails are cut on open; damage inside a segment is reported and stepped over."""

from __future__ import annotations

import logging
import os
import shutil
from typing import TYPE_CHECKING

import pytest

from meterhub.adapters.journal import CorruptRecordError, Journal
from meterhub.adapters.journal._record import HEADER_SIZE
from tests.unit.journal._frames import frame, record_size, segments

if TYPE_CHECKING:
    from pathlib import Path

N = 12


async def _write(directory: Path, count: int = N, **options: int) -> list[int]:
    """Write ``count`` frames; return each record's start offset in the single segment."""
    async with Journal(directory, fsync=False, **options) as journal:
        for i in range(count):
            journal.append(frame(i))
    offsets, pos = [], 0
    for i in range(count):
        offsets.append(pos)
        pos += record_size(i + 1, frame(i))
    return offsets


async def _read_all(directory: Path) -> tuple[int, list[int]]:
    async with Journal(directory, fsync=False) as journal:
        return journal.last_seq, [seq for seq, _ in journal.read(0)]


async def test_a_tail_torn_at_any_byte_is_cut_and_numbering_continues(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    offsets = await _write(tmp_path / "orig")
    original = segments(tmp_path / "orig")[0].read_bytes()
    last_start = offsets[-1]
    for cut in range(last_start, len(original)):
        work = tmp_path / f"cut{cut}"
        work.mkdir()
        (work / "00000000000000000001.seg").write_bytes(original[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            async with Journal(work, fsync=False) as journal:
                assert journal.last_seq == N - 1
                assert [f for _, f in journal.read(0)] == [frame(i) for i in range(N - 1)]
                assert journal.append(frame(99)) == N
        assert segments(work)[0].stat().st_size == last_start + record_size(N, frame(99))
        torn = [r for r in caplog.records if "torn" in r.getMessage()]
        if cut == last_start:
            assert torn == []  # a clean end: nothing to cut
        else:
            assert [r.__dict__["cut_bytes"] for r in torn] == [cut - last_start]
        shutil.rmtree(work)


@pytest.mark.parametrize(
    "garbage",
    [b"\x00" * 4096, os.urandom(300), b"\xff" * 7, b"\x10\x00\x00\x00" + b"\x00" * 12],
    ids=["zeros", "random", "short", "zero-seq-header"],
)
async def test_garbage_after_the_last_record_is_cut(tmp_path: Path, garbage: bytes) -> None:
    await _write(tmp_path)
    path = segments(tmp_path)[0]
    good = path.stat().st_size
    with path.open("ab") as file:
        file.write(garbage)
    assert await _read_all(tmp_path) == (N, list(range(1, N + 1)))
    assert path.stat().st_size == good


async def test_a_bad_checksum_on_the_last_record_cuts_only_that_record(tmp_path: Path) -> None:
    offsets = await _write(tmp_path)
    path = segments(tmp_path)[0]
    data = bytearray(path.read_bytes())
    data[offsets[-1] + HEADER_SIZE + 3] ^= 0x01
    path.write_bytes(data)
    assert await _read_all(tmp_path) == (N - 1, list(range(1, N)))
    assert path.stat().st_size == offsets[-1]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(data)


async def test_bit_rot_in_an_older_segment_is_reported_and_skippable(tmp_path: Path) -> None:
    size = record_size(1, frame(1))
    await _write(tmp_path, 40, segment_bytes=size * 10)
    first = segments(tmp_path)[0]
    _flip(first, 3 * size + HEADER_SIZE + 5)  # the payload of seq 4

    async with Journal(tmp_path, fsync=False) as journal:
        assert journal.last_seq == 40
        seen: list[int] = []
        with pytest.raises(CorruptRecordError) as caught:
            seen.extend(seq for seq, _ in journal.read(0))
        error = caught.value
        assert seen == [1, 2, 3]
        assert (error.path, error.offset) == (first, 3 * size)
        assert (error.last_good_seq, error.resume_after) == (3, 4)
        assert f"{first} at byte {3 * size}: bad checksum" in str(error)
        assert [s for s, _ in journal.read(error.resume_after)] == list(range(5, 41))
        # a reader already past the damage never notices it
        assert [s for s, _ in journal.read(4, until=6)] == [5, 6]


async def test_a_damaged_length_field_is_stepped_over(tmp_path: Path) -> None:
    size = record_size(1, frame(1))
    await _write(tmp_path, 30, segment_bytes=size * 10)
    first = segments(tmp_path)[0]
    _flip(first, 2 * size + 2)  # seq 3's length now points far past the segment
    async with Journal(tmp_path, fsync=False) as journal:
        with pytest.raises(CorruptRecordError, match=r"implausible length|short payload") as caught:
            list(journal.read(0))
        assert (caught.value.offset, caught.value.resume_after) == (2 * size, 3)
        assert [s for s, _ in journal.read(3)] == list(range(4, 31))


async def test_a_zeroed_region_loses_only_the_records_it_covers(tmp_path: Path) -> None:
    size = record_size(1, frame(1))
    await _write(tmp_path, 30, segment_bytes=size * 10)
    first = segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[size + 10 : 4 * size + 20] = bytes(3 * size + 10)  # seq 2..5 damaged
    first.write_bytes(data)
    async with Journal(tmp_path, fsync=False) as journal:
        with pytest.raises(CorruptRecordError) as caught:
            list(journal.read(0))
        assert (caught.value.last_good_seq, caught.value.resume_after) == (1, 5)
        assert [s for s, _ in journal.read(5)] == list(range(6, 31))


async def test_damage_at_the_end_of_a_sealed_segment_resumes_in_the_next(tmp_path: Path) -> None:
    size = record_size(1, frame(1))
    await _write(tmp_path, 30, segment_bytes=size * 10)
    first = segments(tmp_path)[0]
    with first.open("r+b") as file:
        file.truncate(10 * size - 7)  # seq 10 (the segment's last) lost its tail
    async with Journal(tmp_path, fsync=False) as journal:
        with pytest.raises(CorruptRecordError, match="short payload") as caught:
            list(journal.read(0))
        assert (caught.value.last_good_seq, caught.value.resume_after) == (9, 10)
        assert [s for s, _ in journal.read(10, until=12)] == [11, 12]


async def test_rot_inside_the_active_segment_keeps_the_records_after_it(tmp_path: Path) -> None:
    offsets = await _write(tmp_path)
    path = segments(tmp_path)[0]
    size = path.stat().st_size
    _flip(path, offsets[5] + HEADER_SIZE + 1)
    async with Journal(tmp_path, fsync=False) as journal:
        assert path.stat().st_size == size  # not mistaken for a torn tail
        assert journal.last_seq == N
        with pytest.raises(CorruptRecordError) as caught:
            list(journal.read(0))
        assert caught.value.resume_after == 6
        assert [s for s, _ in journal.read(6)] == list(range(7, N + 1))
        assert journal.append(frame(N)) == N + 1
