"""Frames and file helpers shared by the journal tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from meterhub.adapters.journal._record import encode_frame, frame_record
from meterhub.adapters.journal._segment import list_segments
from meterhub.model import RawFrame

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def frame(i: int, *, meter: str | None = None, size: int = 40) -> RawFrame:
    """A distinct, recognisable frame for index ``i``."""
    body = f"/ISK5 frame {i};".encode()
    return RawFrame(
        meter_id=meter or f"meter-{i % 3}",
        transport="serial",
        received_at=T0 + timedelta(seconds=i),
        payload=(body * (size // len(body) + 1))[:size],
    )


def record_size(seq: int, item: RawFrame) -> int:
    """Bytes the record for ``item`` at ``seq`` takes on disk."""
    return len(frame_record(seq, encode_frame(item)))


def segments(directory: Path) -> list[Path]:
    """Segment files, oldest first."""
    return [path for _, path in list_segments(directory)]
