"""Segment files on disk: naming, the in-memory catalogue, and tail recovery.

A segment is an append-only file of records named by the seq of its first record,
zero-padded to 20 digits so that names sort like numbers. Only the last segment is
ever written; the others are sealed.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meterhub.adapters.journal._record import probe, resync

if TYPE_CHECKING:
    from pathlib import Path

_log = logging.getLogger(__name__)

SUFFIX = ".seg"
INDEX_SPACING = 256 * 1024
"""Bytes between sparse index entries: a lookup scans at most this much of a segment."""


def segment_name(first_seq: int) -> str:
    """File name of the segment whose first record has ``first_seq``."""
    return f"{first_seq:020d}{SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """The segment files in ``directory`` as ``(first_seq, path)``, oldest first."""
    found = []
    for path in directory.iterdir():
        stem = path.name.removesuffix(SUFFIX)
        if path.name.endswith(SUFFIX) and stem.isdigit() and path.is_file():
            found.append((int(stem), path))
    found.sort()
    return found


def fsync_directory(directory: Path) -> None:
    """Make created, renamed and deleted names in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SparseIndex:
    """Known ``(seq, offset)`` record starts inside one segment, about every 256 KiB.

    Filled by the writer as it appends and by readers as they pass, so finding a seq
    scans at most ``INDEX_SPACING`` bytes instead of the whole segment. Thread-safe:
    the flusher thread and reader threads add entries concurrently.
    """

    def __init__(self, first_seq: int) -> None:
        self._seqs = [first_seq]
        self._offsets = [0]
        self._lock = threading.Lock()

    def add(self, seq: int, offset: int, *, force: bool = False) -> None:
        """Remember that record ``seq`` starts at ``offset``, unless a known start is near.

        ``force`` keeps it anyway: used for the first record after damage.
        """
        with self._lock:
            i = bisect.bisect_right(self._seqs, seq)
            if i and self._seqs[i - 1] == seq:
                return
            near_before = i and offset - self._offsets[i - 1] < INDEX_SPACING
            near_after = i < len(self._seqs) and self._offsets[i] - offset < INDEX_SPACING
            if (near_before or near_after) and not force:
                return
            self._seqs.insert(i, seq)
            self._offsets.insert(i, offset)

    def floor(self, seq: int) -> tuple[int, int]:
        """The indexed record start with the largest seq not above ``seq``."""
        with self._lock:
            i = max(bisect.bisect_right(self._seqs, seq) - 1, 0)
            return self._seqs[i], self._offsets[i]


@dataclass(eq=False)
class SegmentInfo:
    """What the journal knows about one segment without reading it."""

    first_seq: int
    path: Path
    size: int
    index: SparseIndex = field(init=False)

    def __post_init__(self) -> None:
        self.index = SparseIndex(self.first_seq)


class SegmentCatalog:
    """The segments in seq order, shared between the flusher, readers and retention."""

    def __init__(self, segments: list[SegmentInfo]) -> None:
        self._lock = threading.Lock()
        self._segments = segments

    def snapshot(self) -> list[SegmentInfo]:
        """A copy of the list, safe to iterate while segments roll or are pruned."""
        with self._lock:
            return list(self._segments)

    def add(self, segment: SegmentInfo) -> None:
        """Register a new active segment (always the newest)."""
        with self._lock:
            self._segments.append(segment)

    def remove(self, segments: list[SegmentInfo]) -> None:
        """Forget pruned segments."""
        with self._lock:
            gone = set(map(id, segments))
            self._segments = [s for s in self._segments if id(s) not in gone]

    @property
    def active(self) -> SegmentInfo:
        """The segment being written."""
        with self._lock:
            return self._segments[-1]

    def total_bytes(self) -> int:
        """Bytes held by all segments."""
        with self._lock:
            return sum(s.size for s in self._segments)

    def __len__(self) -> int:
        with self._lock:
            return len(self._segments)


def start_index(segments: list[SegmentInfo], seq: int) -> int:
    """Index into ``segments`` of the segment that holds ``seq`` (0 when it is older than all)."""
    firsts = [s.first_seq for s in segments]
    return max(bisect.bisect_right(firsts, seq) - 1, 0)


@dataclass(frozen=True)
class TailReport:
    """What recovery found in the last segment."""

    last_seq: int
    good_end: int
    cut_bytes: int


def recover_tail(segment: SegmentInfo) -> TailReport:
    """Scan the last segment, cut a torn tail, and find the last seq it holds.

    A crash can leave the end of the file half-written (short header, short payload,
    or bytes whose checksum fails). Those bytes are cut, never read as data. Damage
    followed by records that still verify is not a torn tail but rot: it is logged
    and kept, and the reader reports it.
    """
    data = segment.path.read_bytes()
    size = len(data)
    pos, last_seq = 0, segment.first_seq - 1
    while pos < size:
        result = probe(data, pos, size)
        if isinstance(result, tuple):
            last_seq, pos = result[0], result[1]
            continue
        nxt = resync(data, pos + 1, size, last_seq)
        if nxt is None:
            break
        _log.error(
            "damaged record inside the active segment, keeping the records after it",
            extra={"segment": str(segment.path), "offset": pos, "reason": result},
        )
        pos = nxt
    cut = size - pos
    if cut:
        with segment.path.open("r+b") as file:
            file.truncate(pos)
            os.fsync(file.fileno())
        _log.warning(
            "cut a torn record from the end of the journal",
            extra={"segment": str(segment.path), "offset": pos, "cut_bytes": cut},
        )
    segment.size = pos
    return TailReport(last_seq=last_seq, good_end=pos, cut_bytes=cut)
