"""The journal: every raw frame, appended before decoding, durable in small groups."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Self

import anyio
import anyio.to_thread

from meterhub.adapters.journal._buffer import AppendBuffer
from meterhub.adapters.journal._cursors import CursorBook
from meterhub.adapters.journal._errors import JournalError
from meterhub.adapters.journal._flusher import Flusher
from meterhub.adapters.journal._open import open_journal, release_lock
from meterhub.adapters.journal._reader import filter_span, read_records
from meterhub.adapters.journal._retention import prune_segments
from meterhub.adapters.journal._statistics import JournalStatistics

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterator, Mapping
    from datetime import timedelta
    from types import TracebackType

    from meterhub.adapters.journal._open import OpenedJournal
    from meterhub.model import RawFrame

_log = logging.getLogger(__name__)

MIB = 1024 * 1024


class Journal:
    """Append-only, checksummed, segmented log of every raw frame a site receives.

    ``append`` is synchronous and only buffers; a background flusher writes and syncs
    the buffer every ``flush_interval`` seconds (sooner past ``flush_bytes``) in a
    worker thread. Sinks read back with ``read`` from their own cursor and report it
    with ``report_cursor`` so that ``prune`` knows what every sink has passed.

    Not thread-safe: call ``append``, ``flush`` and the cursor methods from the event
    loop that opened the journal. ``read``, ``read_batch``, ``read_span`` and ``prune``
    block on file I/O and may run in worker threads.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        segment_bytes: int = 64 * MIB,
        flush_interval: float = 0.05,
        fsync: bool = True,
        max_buffer_bytes: int = 256 * MIB,
        flush_bytes: int = MIB,
        close_timeout: float = 10.0,
        on_flush: Callable[[float, int], None] | None = None,
    ) -> None:
        """Prepare a journal (no I/O yet).

        Args:
            directory: where the segments and the cursors file live.
            segment_bytes: size at which a segment is closed and a new one begun.
            flush_interval: longest time an appended record waits for the disk.
            fsync: sync each group commit (off only for tests and benchmarks).
            max_buffer_bytes: most bytes appended and not yet written.
            flush_bytes: buffered bytes that start a flush before the interval ends.
            close_timeout: seconds a clean close waits for the last flush.
            on_flush: told each group commit's seconds and bytes written (metrics).
        """
        self._on_flush = on_flush
        if segment_bytes <= 0 or max_buffer_bytes <= 0 or flush_bytes <= 0:
            raise ValueError("segment_bytes, max_buffer_bytes and flush_bytes must be positive")
        if flush_interval <= 0 or close_timeout <= 0:
            raise ValueError("flush_interval and close_timeout must be positive")
        self._directory = Path(directory)
        self._segment_bytes = segment_bytes
        self._flush_interval = flush_interval
        self._fsync = fsync
        self._close_timeout = close_timeout
        self._buffer = AppendBuffer(
            self._directory, max_bytes=max_buffer_bytes, flush_bytes=flush_bytes
        )
        self._used = False
        self._opened_at_seq = 0
        self._cursors = CursorBook({})
        self._limiter = anyio.CapacityLimiter(1)
        self._disk: OpenedJournal | None = None
        self._flusher: Flusher | None = None
        self._stack = contextlib.AsyncExitStack()

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Open or recover the directory and start the flusher.

        Raises:
            JournalError: the directory cannot be used (not writable, in use, damaged
                cursors file).
        """
        if self._used:
            raise JournalError("a Journal can be opened only once", self._directory)
        self._used = True
        disk = await anyio.to_thread.run_sync(
            lambda: open_journal(
                self._directory, segment_bytes=self._segment_bytes, fsync=self._fsync
            ),
            limiter=self._limiter,
        )
        self._disk = disk
        self._opened_at_seq = disk.last_seq
        self._cursors = CursorBook(disk.cursors)
        self._buffer.start(disk.last_seq)
        self._flusher = Flusher(
            self._buffer, disk.writer, self._cursors,
            flush_interval=self._flush_interval, fsync=self._fsync, limiter=self._limiter,
            on_flush=self._on_flush,
        )  # fmt: skip
        task_group = await self._stack.enter_async_context(anyio.create_task_group())
        await task_group.start(self._flusher.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop accepting, write and sync everything buffered, and close.

        Raises:
            JournalError: records could not be written before ``close_timeout``
                (only when no other exception is already propagating).
        """
        flusher, disk = self._open_parts()
        self._buffer.stop()
        flusher.stop()
        try:
            # the flusher returns on its own; the body's exception is the caller's, so
            # it is not fed into the task group (that would wrap it in a group)
            await self._stack.aclose()
        finally:
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(self._close_timeout):
                    await flusher.drain()
                with contextlib.suppress(OSError):
                    await anyio.to_thread.run_sync(disk.writer.close, limiter=self._limiter)
                release_lock(disk.lock_fd)
                flusher.close()
                self._disk = None
        lost = self._unwritten()
        if lost is not None and exc is None:
            raise lost

    def _unwritten(self) -> JournalError | None:
        buffer = self._buffer
        if not buffer.buffered:
            return None
        reason = (
            f"journal {self._directory} closed with {buffer.buffered} records "
            f"(seq {buffer.durable_seq + 1}..{buffer.last_seq}) not written: {buffer.health}"
        )
        _log.error(reason)
        return JournalError(reason, self._directory)

    def _open_parts(self) -> tuple[Flusher, OpenedJournal]:
        if self._disk is None or self._flusher is None or not self._buffer.accepting:
            raise JournalError(f"journal {self._directory} is not open", self._directory)
        return self._flusher, self._disk

    # -- writing -------------------------------------------------------------------------

    def append(self, frame: RawFrame) -> int:
        """Buffer ``frame`` for the journal and return its seq; never waits.

        Cheap enough for every meter's hot path: encodes, frames and buffers.

        Raises:
            JournalError: the journal is not open, or writes have failed long enough
                that ``max_buffer_bytes`` are waiting (the frame is not taken).
        """
        return self._buffer.append(frame)

    async def flush(self) -> None:
        """Write and sync everything appended so far (and the reported cursors).

        Raises:
            JournalError: a write attempt made for this call failed (the records stay
                buffered and are retried), or the journal closed first.
        """
        flusher, _ = self._open_parts()
        await flusher.flush()

    async def wait_durable(self, seq: int) -> None:
        """Wait until the record ``seq`` is on disk and synced.

        Keeps waiting while writes fail; bound it with ``anyio.fail_after``.

        Raises:
            ValueError: ``seq`` was never appended.
            JournalError: the journal is not open, or closed before ``seq`` was written.
        """
        if seq > self._buffer.last_seq:
            raise ValueError(f"seq {seq} was never appended (last seq is {self.last_seq})")
        if seq <= self._buffer.durable_seq:
            return
        flusher, _ = self._open_parts()
        await flusher.wait_durable(seq)

    # -- reading -------------------------------------------------------------------------

    def read(self, after: int, *, until: int | None = None) -> Iterator[tuple[int, RawFrame]]:
        """Iterate durable records with ``after < seq <= until``, oldest first.

        Blocking file I/O: run it in a worker thread or take small batches.

        Raises:
            JournalError: the journal is not open.
            CorruptRecordError: (while iterating) a record in range does not verify;
                ``read(after=error.resume_after)`` continues past it.
        """
        _, disk = self._open_parts()
        durable = self._buffer.durable_seq
        limit = durable if until is None else min(until, durable)
        return read_records(disk.catalog.snapshot(), after, limit)

    def read_batch(self, after: int, limit: int) -> list[tuple[int, RawFrame]]:
        """Return up to ``limit`` durable records after seq ``after``."""
        return list(islice(self.read(after), limit))

    def read_span(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        meter: str | None = None,
    ) -> Iterator[tuple[int, RawFrame]]:
        """Iterate durable records received in ``[start, end)``, optionally from one meter.

        Scans the whole journal: ``received_at`` is not ordered across meters, so
        replay (rare) pays for a full pass rather than trusting an index.
        """
        return filter_span(self.read(0), start, end, meter)

    # -- cursors and retention -------------------------------------------------------------

    def report_cursor(self, name: str, seq: int) -> None:
        """Record that sink ``name`` has fully handled every record up to ``seq``.

        Persisted by the flusher (``cursors.json``); a sink's own storage holds its
        authoritative cursor, this report only tells retention what it may delete.

        Raises:
            ValueError: ``seq`` is negative or past ``last_seq``.
        """
        self._cursors.report(name, seq, self._buffer.last_seq)

    def forget_cursor(self, name: str) -> None:
        """Stop holding segments back for a sink that is gone for good."""
        self._cursors.forget(name)

    @property
    def cursors(self) -> Mapping[str, int]:
        """A copy of the reported cursors by sink name."""
        return self._cursors.snapshot()

    def prune(self, max_age: timedelta, now: datetime | None = None) -> int:
        """Delete old sealed segments that every reported cursor has passed.

        A segment goes when every cursor is at or past its last seq and it was last
        written more than ``max_age`` before ``now``; only the oldest such run goes,
        so the journal never has holes. Blocking file I/O. The active segment is
        never deleted, and with no cursor reported nothing is.

        Returns:
            The number of segments removed.

        Raises:
            JournalError: the journal is not open, or a segment could not be deleted.
        """
        _, disk = self._open_parts()
        return prune_segments(
            disk.catalog, self._cursors.snapshot(), max_age, now or datetime.now(UTC),
            fsync=self._fsync,
        )  # fmt: skip

    # -- state ---------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """Where the segments live."""
        return self._directory

    @property
    def last_seq(self) -> int:
        """The seq of the newest appended record (0 when the journal is empty)."""
        return self._buffer.last_seq

    @property
    def durable_seq(self) -> int:
        """The seq of the newest record that is on disk and synced."""
        return self._buffer.durable_seq

    @property
    def health(self) -> str | None:
        """``None`` while writes succeed, else why they fail (for the readiness report)."""
        return self._buffer.health

    def statistics(self) -> JournalStatistics:
        """A snapshot of the journal's counters."""
        buffer = self._buffer
        catalog = self._disk.catalog if self._disk is not None else None
        return JournalStatistics(
            appended=buffer.last_seq - self._opened_at_seq,
            flushed=self._flusher.flushed if self._flusher is not None else 0,
            bytes=catalog.total_bytes() if catalog is not None else 0,
            segments=len(catalog) if catalog is not None else 0,
            buffered=buffer.buffered,
            buffered_bytes=buffer.buffered_bytes,
            last_seq=buffer.last_seq,
            durable_seq=buffer.durable_seq,
            health=buffer.health,
        )
