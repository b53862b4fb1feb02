"""Query helpers: time ranges, name lists, opaque keyset cursors and CSV."""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec

from meterhub.api._problems import bad_param

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from meterhub.adapters.stores import PageKey

# stores and their date arithmetic are only asked about times a meter can have seen
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_NAMES = 1000


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """Where the next page starts, and the query it belongs to."""

    ts: datetime
    meter_id: str
    metric: str
    start: datetime
    end: datetime
    query: str


_cursor_decoder = msgspec.json.Decoder(Cursor)


def aware(value: datetime | None, name: str) -> datetime | None:
    """A query time as UTC (naive means UTC), inside the range stores handle."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not EARLIEST <= value <= LATEST:
        raise bad_param("query", name, f"must be between {EARLIEST:%Y} and {LATEST:%Y}")
    return value


def time_range(
    start: datetime | None, end: datetime | None, default_span: timedelta
) -> tuple[datetime, datetime]:
    """``[start, end)`` with defaults: end now, start ``default_span`` before end."""
    end_ = aware(end, "end") or datetime.now(UTC)
    start_ = aware(start, "start") or max(EARLIEST, end_ - default_span)
    if start_ >= end_:
        raise bad_param("query", "end", "must be later than start")
    return start_, end_


def names(values: Sequence[str] | None, param: str) -> list[str] | None:
    """Repeated and comma-separated names as one list; None (all) when none is given."""
    if not values:
        return None
    out = sorted({part.strip() for value in values for part in value.split(",") if part.strip()})
    if len(out) > MAX_NAMES:
        raise bad_param("query", param, f"at most {MAX_NAMES} names")
    return out or None


def fingerprint(*parts: object) -> str:
    """A short digest of the query parameters a cursor is bound to."""
    return hashlib.sha256(msgspec.json.encode(parts)).hexdigest()[:16]


def encode_cursor(key: PageKey, start: datetime, end: datetime, query: str) -> str:
    """The opaque text of a cursor."""
    raw = msgspec.json.encode(Cursor(key[0], key[1], key[2], start, end, query))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, query: str) -> Cursor:
    """A cursor given back by a client; 400 if it is damaged or from another query."""
    try:
        cursor = _cursor_decoder.decode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise bad_param("query", "cursor", "not a cursor this API returned") from exc
    if cursor.query != query or cursor.ts.tzinfo is None:
        raise bad_param("query", "cursor", "belongs to a different query; start again without it")
    return cursor


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """RFC 4180 CSV; times in ISO 8601, empty cells for nulls."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [v.isoformat() if isinstance(v, datetime) else "" if v is None else v for v in row]
        )
    return out.getvalue().encode()
