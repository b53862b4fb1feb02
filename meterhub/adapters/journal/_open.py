"""Opening a journal directory: lock it, find its segments, recover the tail."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meterhub.adapters.journal._cursors import load_cursors
from meterhub.adapters.journal._errors import JournalError
from meterhub.adapters.journal._segment import (
    SegmentCatalog,
    SegmentInfo,
    fsync_directory,
    list_segments,
    recover_tail,
    segment_name,
)
from meterhub.adapters.journal._writer import SegmentWriter

if TYPE_CHECKING:
    from pathlib import Path

_log = logging.getLogger(__name__)

LOCK_NAME = "journal.lock"


@dataclass
class OpenedJournal:
    """Everything ``Journal.__aenter__`` needs from the disk."""

    lock_fd: int
    catalog: SegmentCatalog
    writer: SegmentWriter
    last_seq: int
    cursors: dict[str, int]


def _not_writable(directory: Path, exc: OSError) -> JournalError:
    detail = "it exists and is not a directory" if isinstance(exc, FileExistsError) else exc
    return JournalError(f"journal directory {directory} is not writable: {detail}", directory)


def _lock(directory: Path) -> int:
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalError(
            f"journal directory {directory} is in use by another journal", directory
        ) from None
    return fd


def open_journal(directory: Path, *, segment_bytes: int, fsync: bool) -> OpenedJournal:
    """Lock ``directory``, recover its last segment and open it for appending.

    Raises:
        JournalError: the directory cannot be created or written, is in use, or its
            cursors file is damaged.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(directory)
    except OSError as exc:
        raise _not_writable(directory, exc) from exc
    try:
        return _recover(directory, lock_fd, segment_bytes=segment_bytes, fsync=fsync)
    except BaseException:
        os.close(lock_fd)
        raise


def _recover(directory: Path, lock_fd: int, *, segment_bytes: int, fsync: bool) -> OpenedJournal:
    try:
        cursors = load_cursors(directory)
        found = list_segments(directory)
        if not found:
            first = directory / segment_name(1)
            first.touch()
            if fsync:
                fsync_directory(directory)
            found = [(1, first)]
        segments = [SegmentInfo(seq, path, path.stat().st_size) for seq, path in found]
        tail = recover_tail(segments[-1])
        catalog = SegmentCatalog(segments)
        writer = SegmentWriter(directory, catalog, segment_bytes=segment_bytes, fsync=fsync)
    except OSError as exc:
        raise _not_writable(directory, exc) from exc
    _log.info(
        "journal opened",
        extra={
            "directory": str(directory),
            "segments": len(segments),
            "last_seq": tail.last_seq,
            "cut_bytes": tail.cut_bytes,
        },
    )
    return OpenedJournal(lock_fd, catalog, writer, tail.last_seq, cursors)


def release_lock(fd: int) -> None:
    """Let another journal open the directory."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
