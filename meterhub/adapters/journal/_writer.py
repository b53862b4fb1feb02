"""The segment writer: appends batches of records and makes them durable.

Runs only in the journal's flusher thread (one at a time, through a
``CapacityLimiter(1)``), so it needs no lock of its own; the catalogue it shares
with readers has one.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meterhub.adapters.journal._errors import JournalError
from meterhub.adapters.journal._record import HEADER, HEADER_SIZE
from meterhub.adapters.journal._segment import (
    SegmentCatalog,
    SegmentInfo,
    fsync_directory,
    segment_name,
)

if TYPE_CHECKING:
    from pathlib import Path

_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENOENT}


def describe_os_error(exc: OSError, directory: Path, segment: Path) -> JournalError:
    """Translate a write failure into a ``JournalError`` an operator can act on."""
    if exc.errno in _DISK_FULL:
        return JournalError(f"disk full while writing segment {segment}: {exc}", segment)
    if exc.errno in _NOT_WRITABLE:
        return JournalError(f"journal directory {directory} is not writable: {exc}", directory)
    return JournalError(f"cannot write segment {segment}: {exc}", segment)


@dataclass(frozen=True)
class WriteOutcome:
    """How much of a batch reached the disk.

    Attributes:
        done_bytes: bytes from the start of the batch that are written and synced.
        done_seq: the last seq among them (``first_seq - 1`` when none).
        error: why the rest was not written, ``None`` when all of it was.
    """

    done_bytes: int
    done_seq: int
    error: JournalError | None


def _split(view: memoryview, start: int, room: int) -> tuple[int, int]:
    """Bytes from ``start`` up to and including the record that crosses ``room``, and its seq."""
    off, seq = start, 0
    while off - start < room and off < len(view):
        length, _, seq = HEADER.unpack_from(view, off)
        off += HEADER_SIZE + length
    return off - start, seq


class SegmentWriter:
    """Owns the active segment's file descriptor."""

    def __init__(
        self, directory: Path, catalog: SegmentCatalog, *, segment_bytes: int, fsync: bool
    ) -> None:
        self._directory = directory
        self._catalog = catalog
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._segment = catalog.active
        self._fd = os.open(self._segment.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._needs_truncate = False

    @property
    def segment(self) -> SegmentInfo:
        """The segment being written."""
        return self._segment

    def write(self, batch: bytearray, first_seq: int, last_seq: int) -> WriteOutcome:
        """Append whole records ``first_seq..last_seq`` and sync them, rolling segments as needed.

        On failure the file is cut back to the last synced record, so a retry of the
        remaining bytes never leaves a torn record behind a good one.
        """
        done, done_seq = 0, first_seq - 1
        with memoryview(batch) as view:
            try:
                if self._needs_truncate:
                    os.ftruncate(self._fd, self._segment.size)
                    self._needs_truncate = False
                while done < len(view):
                    if self._segment.size >= self._segment_bytes:
                        self._roll(done_seq + 1)
                    room = self._segment_bytes - self._segment.size
                    if len(view) - done <= room:
                        count, chunk_last = len(view) - done, last_seq
                    else:
                        count, chunk_last = _split(view, done, room)
                    self._append(view[done : done + count], done_seq + 1)
                    done += count
                    done_seq = chunk_last
            except OSError as exc:
                self._needs_truncate = True
                return WriteOutcome(done, done_seq, self._undo(exc))
        return WriteOutcome(done, done_seq, None)

    def _append(self, chunk: memoryview, first_seq: int) -> None:
        segment = self._segment
        written = 0
        while written < len(chunk):
            # os.write may write less than asked (at a size limit); the next call
            # then raises the real error
            written += os.write(self._fd, chunk[written:])
        if self._fsync:
            os.fdatasync(self._fd)
        start = segment.size
        segment.size += written
        segment.index.add(first_seq, start)
        self._needs_truncate = False

    def _undo(self, exc: OSError) -> JournalError:
        error = describe_os_error(exc, self._directory, self._segment.path)
        # if this cut fails too, the next write cuts first; recovery on open also cuts
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._segment.size)
            self._needs_truncate = False
        return error

    def _roll(self, first_seq: int) -> None:
        """Seal the active segment and start ``first_seq``'s; on failure the old one stays."""
        path = self._directory / segment_name(first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            # a previous roll may have created the file and failed afterwards
            os.ftruncate(fd, 0)
            if self._fsync:
                fsync_directory(self._directory)
        except OSError:
            os.close(fd)
            raise
        os.close(self._fd)
        self._fd = fd
        self._segment = SegmentInfo(first_seq, path, 0)
        self._catalog.add(self._segment)

    def close(self) -> None:
        """Sync and close the active segment."""
        try:
            if self._fsync:
                os.fdatasync(self._fd)
        finally:
            os.close(self._fd)
