"""Storage that fails: a full disk, a directory that cannot be written, and recovery."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anyio
import msgspec
import pytest

from meterhub.adapters.journal import Journal, JournalError
from tests.unit.journal._frames import frame, record_size

REPO = Path(__file__).resolve().parents[3]


def test_a_full_disk_keeps_records_buffered_and_recovers(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.journal._full_disk", str(tmp_path / "j")],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = msgspec.json.decode(done.stdout)

    assert len(report["flush_errors"]) == 3
    assert all("disk full while writing segment" in e for e in report["flush_errors"])
    assert "00000000000000000001.seg" in report["flush_errors"][0]
    assert "File too large" in report["flush_errors"][0]
    assert report["health"] == report["flush_errors"][0]
    assert report["durable_while_full"] == 0
    # append keeps accepting up to the buffer bound, then says why it cannot
    assert report["accepted_while_full"] > 0
    assert "cannot accept data" in report["refused"]
    assert "disk full" in report["refused"]
    # the flusher never died: once there is room everything is written
    assert report["health_after"] is None
    assert report["durable_after"] == report["last_seq"] == 40 + report["accepted_while_full"]
    expected = [frame(i, size=1000).payload[:20].decode() for i in range(40)]
    expected += [
        frame(1000 + i, size=1000).payload[:20].decode()
        for i in range(report["accepted_while_full"])
    ]
    assert report["read_back"] == expected
    # logged once per failure episode, not once per attempt
    assert done.stderr.count("journal write failed") == 1
    assert done.stderr.count("journal writes succeed again") == 1


async def test_a_path_that_is_a_file_is_reported_as_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "journal"
    blocker.write_text("not a directory")
    with pytest.raises(
        JournalError, match=re.escape(f"journal directory {blocker} is not writable: it exists")
    ):
        async with Journal(blocker):
            pass
    with pytest.raises(JournalError, match=r"is not writable: .*Not a directory"):
        async with Journal(blocker / "sub"):
            pass


async def test_losing_the_directory_sets_health_and_writing_resumes(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    moved = tmp_path / "moved"
    size = record_size(1, frame(0))
    async with Journal(directory, segment_bytes=size, flush_interval=3600) as journal:
        journal.append(frame(0))
        await journal.flush()
        # the directory disappears and a file takes its place: the next segment
        # cannot be created (the open active segment would still take writes)
        directory.rename(moved)
        directory.write_text("in the way")
        journal.append(frame(1))
        journal.append(frame(2))
        with pytest.raises(
            JournalError, match=re.escape(f"journal directory {directory} is not writable")
        ):
            await journal.flush()
        assert journal.health is not None
        assert "not writable" in journal.health
        assert journal.statistics().buffered == 2
        assert journal.durable_seq == 1

        directory.unlink()
        moved.rename(directory)
        with anyio.fail_after(10):
            await journal.flush()
        # read through statistics(): mypy would keep the narrowing from above
        assert journal.statistics().health is None
        assert journal.durable_seq == 3
    async with Journal(directory) as journal:
        assert [f for _, f in journal.read(0)] == [frame(0), frame(1), frame(2)]


async def test_the_flusher_retries_on_its_own_after_a_failure(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    moved = tmp_path / "moved"
    size = record_size(1, frame(0))
    async with Journal(directory, segment_bytes=size, flush_interval=0.01) as journal:
        journal.append(frame(0))
        await journal.flush()
        directory.rename(moved)
        directory.write_text("in the way")
        seq = journal.append(frame(1))
        with pytest.raises(JournalError):
            await journal.flush()
        directory.unlink()
        moved.rename(directory)
        # no flush(): the background flusher's backoff retry makes it durable
        with anyio.fail_after(10):
            await journal.wait_durable(seq)
        assert journal.health is None


async def test_closing_with_unwritable_records_says_what_was_lost(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    size = record_size(1, frame(0))
    journal = Journal(directory, segment_bytes=size, flush_interval=3600, close_timeout=0.2)

    async def lose_the_directory_and_close() -> None:
        async with journal:
            journal.append(frame(0))
            await journal.flush()
            directory.rename(tmp_path / "moved")
            directory.write_text("in the way")
            journal.append(frame(1))

    with pytest.raises(JournalError, match=r"closed with 1 records \(seq 2\.\.2\) not written"):
        await lose_the_directory_and_close()
    assert journal.statistics().health is not None
