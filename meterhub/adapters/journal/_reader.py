"""Reading records back: by seq for sinks catching up, by time for replay.

Readers run in worker threads (or in small batches) while the flusher appends; they
open segments read-only and never read past the durable seq they were given, so a
half-written record at the end of the active segment is never looked at.
"""

from __future__ import annotations

import logging
import mmap
import os
from typing import TYPE_CHECKING

import msgspec

from meterhub.adapters.journal._errors import CorruptRecordError
from meterhub.adapters.journal._record import HEADER_SIZE, decode_frame, probe, resync
from meterhub.adapters.journal._segment import INDEX_SPACING, SegmentInfo, start_index

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from meterhub.adapters.journal._record import Buffer
    from meterhub.model import RawFrame

_log = logging.getLogger(__name__)


def read_records(
    segments: list[SegmentInfo], after: int, limit: int
) -> Iterator[tuple[int, RawFrame]]:
    """Yield ``(seq, frame)`` for ``after < seq <= limit`` from ``segments`` (oldest first).

    Raises:
        CorruptRecordError: a record the caller asked for does not verify.
    """
    if not segments or after >= limit:
        return
    first = start_index(segments, after + 1)
    for k in range(first, len(segments)):
        segment = segments[k]
        if segment.first_seq > limit:
            return
        last = limit
        if k + 1 < len(segments):
            last = min(limit, segments[k + 1].first_seq - 1)
        yield from _read_segment(segment, after, last)


def _read_segment(segment: SegmentInfo, after: int, last: int) -> Iterator[tuple[int, RawFrame]]:
    try:
        file = segment.path.open("rb")
    except FileNotFoundError:
        # pruned while we were reading: retention only removes what every sink has passed
        return
    with file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            yield from _walk(b"", 0, segment, after, last)
            return
        with mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ) as view:
            yield from _walk(view, size, segment, after, last)


def _walk(
    buf: Buffer, size: int, segment: SegmentInfo, after: int, last: int
) -> Iterator[tuple[int, RawFrame]]:
    """Walk one segment's records from the nearest indexed start up to seq ``last``."""
    seq, pos = segment.index.floor(after + 1)
    prev, indexed_at = seq - 1, pos
    while prev < last:
        result = probe(buf, pos, size) if pos < size else "segment ends early"
        if isinstance(result, str):
            prev, pos = _skip_damage(
                buf, size, segment, pos=pos, prev=prev, after=after, last=last, reason=result
            )
            continue
        seq, end = result
        if seq > after:
            yield seq, _decode(buf, segment, pos, end, seq)
        if pos - indexed_at >= INDEX_SPACING:
            segment.index.add(seq, pos)
            indexed_at = pos
        prev, pos = seq, end


def _decode(buf: Buffer, segment: SegmentInfo, pos: int, end: int, seq: int) -> RawFrame:
    try:
        return decode_frame(buf[pos + HEADER_SIZE : end])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptRecordError(
            segment.path, pos, f"payload does not decode as a RawFrame: {exc}", seq - 1, seq
        ) from exc


def _skip_damage(
    buf: Buffer,
    size: int,
    segment: SegmentInfo,
    *,
    pos: int,
    prev: int,
    after: int,
    last: int,
    reason: str,
) -> tuple[int, int]:
    """Step over damage at ``pos``; raise if it swallowed seqs the caller asked for.

    Returns:
        The seq just before the next verifying record, and that record's offset.
    """
    nxt = resync(buf, pos + 1, size, prev) if pos < size else None
    if nxt is None:
        resume, new_pos = last, size
    else:
        found = probe(buf, nxt, size)
        assert isinstance(found, tuple)  # noqa: S101 - resync only returns verified offsets
        resume, new_pos = found[0] - 1, nxt
        # remember the way round, so a reader resuming after the damage starts there
        segment.index.add(found[0], nxt, force=True)
    if resume > max(prev, after):
        raise CorruptRecordError(segment.path, pos, reason, prev, resume)
    if resume == prev:
        # junk between two consecutive records: nothing lost, nothing to stop a sink for
        _log.warning(
            "skipped damaged bytes between journal records",
            extra={"segment": str(segment.path), "offset": pos, "reason": reason},
        )
    return resume, new_pos


def filter_span(
    records: Iterator[tuple[int, RawFrame]],
    start: datetime | None,
    end: datetime | None,
    meter: str | None,
) -> Iterator[tuple[int, RawFrame]]:
    """Keep records received in ``[start, end)`` from ``meter`` (``None`` means any)."""
    for seq, frame in records:
        if meter is not None and frame.meter_id != meter:
            continue
        if start is not None and frame.received_at < start:
            continue
        if end is not None and frame.received_at >= end:
            continue
        yield seq, frame
