"""The flusher: group commits of the append buffer, off the event loop, that survive failures.

Every ``flush_interval`` (or sooner when the buffer passes ``flush_bytes``) it hands
what is buffered to a worker thread that writes and syncs it. A failed write keeps
the records buffered, sets ``health``, logs once per failure episode and is retried
with backoff; it never ends the flusher.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from meterhub.adapters.journal._cursors import save_cursors
from meterhub.adapters.journal._errors import JournalError
from meterhub.adapters.journal._writer import WriteOutcome

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from meterhub.adapters.journal._buffer import AppendBuffer
    from meterhub.adapters.journal._cursors import CursorBook
    from meterhub.adapters.journal._writer import SegmentWriter

_log = logging.getLogger(__name__)

_MAX_BACKOFF = 5.0


class Flusher:
    """Moves the append buffer to disk; the only code that calls the segment writer."""

    def __init__(
        self,
        buffer: AppendBuffer,
        writer: SegmentWriter,
        cursors: CursorBook,
        *,
        flush_interval: float,
        fsync: bool,
        limiter: anyio.CapacityLimiter,
        on_flush: Callable[[float, int], None] | None = None,
    ) -> None:
        self._buffer = buffer
        self._on_flush = on_flush
        self._writer = writer
        self._cursors = cursors
        self._directory: Path = buffer.directory
        self._flush_interval = flush_interval
        self._fsync = fsync
        self._limiter = limiter
        self.flushed = 0
        self._stopping = False
        self._closed = False
        self._attempts = 0
        self._failed_attempt = 0
        self._last_error: JournalError | None = None
        self._attempt_done = anyio.Event()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Commit in groups until ``stop``; the final drain is ``drain``'s job."""
        task_status.started()
        delay = self._flush_interval
        while not self._should_stop():
            with anyio.move_on_after(delay):
                await self._buffer.wake.wait()
            self._buffer.wake = anyio.Event()
            if self._should_stop():
                return
            if await self.flush_once():
                delay = self._flush_interval
            else:
                # back off while the disk is full; flush() wakes us early to retry
                delay = min(max(delay * 2, 0.1), _MAX_BACKOFF)

    def _should_stop(self) -> bool:
        # a call, not the attribute: mypy would carry the loop test's narrowing past await
        return self._stopping

    def stop(self) -> None:
        """Ask ``run`` to return."""
        self._stopping = True
        self._buffer.wake.set()

    async def drain(self) -> None:
        """Write until nothing is left, retrying failures; bound it with a deadline."""
        while not self._buffer.empty or self._cursors.dirty:
            if not await self.flush_once():
                await anyio.sleep(min(self._flush_interval * 4, 1.0))

    def close(self) -> None:
        """Mark the end: waiters whose seq is not durable now fail."""
        self._closed = True
        self._signal()

    async def flush_once(self) -> bool:
        """One group commit; True when everything taken was written."""
        batch, first, last = self._buffer.take()
        cursors = self._cursors.take_dirty()
        if not batch and cursors is None:
            return True
        self._attempts += 1
        started = time.perf_counter()
        outcome = await anyio.to_thread.run_sync(
            self._write, batch, first, last, cursors, limiter=self._limiter
        )
        if self._on_flush is not None:
            self._on_flush(time.perf_counter() - started, outcome.done_bytes)
        self.flushed += self._buffer.settle(outcome.done_bytes, outcome.done_seq)
        if outcome.error is not None and cursors is not None:
            self._cursors.mark_dirty()
        self._record(outcome.error)
        return outcome.error is None

    def _write(
        self, batch: bytearray, first: int, last: int, cursors: dict[str, int] | None
    ) -> WriteOutcome:
        """In the worker thread: the records first, then the cursors file."""
        outcome = WriteOutcome(0, first - 1, None)
        if batch:
            outcome = self._writer.write(batch, first, last)
        if cursors is None or outcome.error is not None:
            return outcome
        try:
            save_cursors(self._directory, cursors, fsync=self._fsync)
        except OSError as exc:
            error = JournalError(f"cannot save journal cursors in {self._directory}: {exc}")
            return WriteOutcome(outcome.done_bytes, outcome.done_seq, error)
        return outcome

    def _record(self, error: JournalError | None) -> None:
        buffer = self._buffer
        if error is None:
            if buffer.health is not None:
                _log.warning(
                    "journal writes succeed again",
                    extra={"directory": str(self._directory), "durable_seq": buffer.durable_seq},
                )
            buffer.health = None
        else:
            if buffer.health is None:
                # once per failure episode: the records stay buffered and are retried
                _log.error(
                    "journal write failed, keeping records buffered and retrying: %s",
                    error.reason,
                    extra={"directory": str(self._directory), "buffered": buffer.buffered},
                )
            buffer.health = error.reason
            self._last_error = error
            self._failed_attempt = self._attempts
        self._signal()

    def _signal(self) -> None:
        done, self._attempt_done = self._attempt_done, anyio.Event()
        done.set()

    async def flush(self) -> None:
        """Write everything appended so far and the reported cursors.

        Raises:
            JournalError: an attempt made for this call failed, or the journal closed.
        """
        target = self._buffer.last_seq
        asked_at = self._attempts
        while self._buffer.durable_seq < target or self._cursors.dirty:
            self._buffer.wake.set()
            await self._attempt_done.wait()
            if self._failed_attempt > asked_at and self._last_error is not None:
                raise JournalError(self._last_error.reason, self._last_error.path)
            self._check_not_closed(target)

    async def wait_durable(self, seq: int) -> None:
        """Wait until ``seq`` is durable, through failures.

        Raises:
            JournalError: the journal closed first.
        """
        while self._buffer.durable_seq < seq:
            self._check_not_closed(seq)
            await self._attempt_done.wait()

    def _check_not_closed(self, seq: int) -> None:
        if self._closed and self._buffer.durable_seq < seq:
            raise JournalError(
                f"journal {self._directory} closed before seq {seq} was written: "
                f"{self._buffer.health}",
                self._directory,
            )
