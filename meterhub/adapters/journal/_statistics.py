"""The journal's counters, for metrics and the readiness report."""

from __future__ import annotations

import msgspec


class JournalStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the journal's counters.

    Attributes:
        appended: records appended since the journal was opened.
        flushed: records made durable since the journal was opened.
        bytes: bytes held by all segment files.
        segments: number of segment files.
        buffered: records appended but not yet durable.
        buffered_bytes: bytes of those records.
        last_seq: the seq of the newest appended record.
        durable_seq: the seq of the newest record on disk and synced.
        health: ``None`` when writes succeed, else why they fail.
    """

    appended: int
    flushed: int
    bytes: int
    segments: int
    buffered: int
    buffered_bytes: int
    last_seq: int
    durable_seq: int
    health: str | None
