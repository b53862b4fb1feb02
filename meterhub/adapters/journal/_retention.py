"""Retention: which sealed segments every sink has passed and that are old enough.

A segment's age is its file's modification time, the moment its newest record was
written. Every record's ``received_at`` lies at or before that moment, so this is
never younger than the newest record, and it costs a ``stat`` instead of decoding a
64 MiB segment (``received_at`` is not even monotonic across meters).
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from meterhub.adapters.journal._errors import JournalError
from meterhub.adapters.journal._segment import fsync_directory

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import timedelta

    from meterhub.adapters.journal._segment import SegmentCatalog, SegmentInfo

_log = logging.getLogger(__name__)


def prunable(
    segments: list[SegmentInfo],
    cursors: Mapping[str, int],
    max_age: timedelta,
    now: datetime,
) -> list[SegmentInfo]:
    """The oldest segments that may go: passed by every cursor and older than ``max_age``.

    Only a prefix is returned, so the journal never gets holes; the last segment (the
    active one) is never returned. With no cursor reported, nothing may go.
    """
    if not cursors:
        return []
    slowest = min(cursors.values())
    doomed: list[SegmentInfo] = []
    for segment, following in itertools.pairwise(segments):
        if slowest < following.first_seq - 1:
            break
        try:
            written = datetime.fromtimestamp(segment.path.stat().st_mtime, UTC)
        except FileNotFoundError:
            doomed.append(segment)
            continue
        if now - written <= max_age:
            break
        doomed.append(segment)
    return doomed


def prune_segments(
    catalog: SegmentCatalog,
    cursors: Mapping[str, int],
    max_age: timedelta,
    now: datetime,
    *,
    fsync: bool,
) -> int:
    """Delete what ``prunable`` allows and forget it; return how many segments went.

    Raises:
        JournalError: a segment could not be deleted (those before it are gone).
    """
    removed: list[SegmentInfo] = []
    try:
        for segment in prunable(catalog.snapshot(), cursors, max_age, now):
            segment.path.unlink(missing_ok=True)
            removed.append(segment)
        if removed and fsync:
            fsync_directory(removed[0].path.parent)
    except OSError as exc:
        where = Path(exc.filename) if exc.filename else None
        raise JournalError(f"cannot delete journal segment: {exc}", where) from exc
    finally:
        catalog.remove(removed)
    if removed:
        _log.info(
            "pruned journal segments",
            extra={"segments": len(removed), "first_seq": catalog.snapshot()[0].first_seq},
        )
    return len(removed)
