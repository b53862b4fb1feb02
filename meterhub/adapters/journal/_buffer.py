"""The append buffer: records numbered and framed on the hot path, waiting for the disk."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import anyio

from meterhub.adapters.journal._errors import JournalError
from meterhub.adapters.journal._record import HEADER, MAX_PAYLOAD, SEQ, encode_frame

if TYPE_CHECKING:
    from pathlib import Path

    from meterhub.model import RawFrame

# bound methods looked up once: append runs for every frame of every meter
_pack_header = HEADER.pack
_pack_seq = SEQ.pack
_crc32 = zlib.crc32


class AppendBuffer:
    """Framed records that are appended but not yet durable.

    ``data`` takes new appends; the flusher moves it to ``pending`` before writing, so
    appends never wait for the disk. Everything up to ``durable_seq`` is synced,
    ``pending`` holds ``durable_seq + 1 .. pending_last`` and ``data`` the rest up
    to ``last_seq``. Used from the event loop thread only; the flusher's worker thread
    sees ``pending`` while the loop leaves it alone.
    """

    def __init__(self, directory: Path, *, max_bytes: int, flush_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.flush_bytes = flush_bytes
        self.data = bytearray()
        self.pending = bytearray()
        self.pending_size = 0
        self.pending_last = 0
        self.last_seq = 0
        self.durable_seq = 0
        self.health: str | None = None
        self.accepting = False
        # append refuses while this is negative (one comparison covers "closed")
        self._accept_limit = -1
        self.wake: anyio.Event

    def start(self, last_seq: int) -> None:
        """Accept appends after ``last_seq``, the last record found on disk."""
        self.last_seq = self.durable_seq = self.pending_last = last_seq
        self.wake = anyio.Event()
        self.accepting = True
        self._accept_limit = self.max_bytes

    def stop(self) -> None:
        """Refuse further appends."""
        self.accepting = False
        self._accept_limit = -1

    def append(self, frame: RawFrame) -> int:
        """Frame ``frame`` as the next record and return its seq."""
        payload = encode_frame(frame)
        data = self.data
        size = len(payload)
        if len(data) + self.pending_size + size > self._accept_limit or size > MAX_PAYLOAD:
            self._refuse(size)
        seq = self.last_seq + 1
        self.last_seq = seq
        data += _pack_header(size, _crc32(payload, _crc32(_pack_seq(seq))), seq)
        data += payload
        if len(data) >= self.flush_bytes and not self.wake.is_set():
            self.wake.set()
        return seq

    def _refuse(self, size: int) -> None:
        if not self.accepting:
            raise JournalError(f"journal {self.directory} is not open", self.directory)
        if size > MAX_PAYLOAD:
            raise JournalError(f"frame of {size} bytes exceeds the journal's record limit")
        raise JournalError(
            f"journal {self.directory} cannot accept data: {self.buffered_bytes} bytes "
            f"are waiting to be written ({self.health or 'writes are too slow'})",
            self.directory,
        )

    def take(self) -> tuple[bytearray, int, int]:
        """Move new appends behind the pending ones; return ``(pending, first, last)`` seqs."""
        if self.data:
            if self.pending:
                self.pending += self.data
            else:
                self.pending = self.data
            self.data = bytearray()
            self.pending_size = len(self.pending)
            self.pending_last = self.last_seq
        return self.pending, self.durable_seq + 1, self.pending_last

    def settle(self, done_bytes: int, done_seq: int) -> int:
        """Drop the first ``done_bytes`` of ``pending``, now durable up to ``done_seq``.

        Returns:
            How many records became durable.
        """
        if not done_bytes:
            return 0
        del self.pending[:done_bytes]
        self.pending_size = len(self.pending)
        count = done_seq - self.durable_seq
        self.durable_seq = done_seq
        return count

    @property
    def buffered(self) -> int:
        """Records appended but not yet durable."""
        return self.last_seq - self.durable_seq

    @property
    def buffered_bytes(self) -> int:
        """Bytes of those records."""
        return len(self.data) + self.pending_size

    @property
    def empty(self) -> bool:
        """Nothing waits to be written."""
        return not self.data and not self.pending
