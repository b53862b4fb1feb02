"""Dynamic energy prices per time slot (an hour, a quarter-hour) and the CSV files they come in."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

_LAST_SLOT_ALONE_S = 3600
_LAYOUTS = {("start", "price"): False, ("start", "end", "price"): True}
_HEADER_TEXT = "'start,price' or 'start,end,price'"


class PriceTable:
    """Prices per kWh for time slots, looked up by instant.

    Slots may leave gaps (no price is known there) but must not overlap.
    """

    __slots__ = ("_ends", "_prices", "_starts")

    def __init__(self, slots: Iterable[tuple[datetime, int, Decimal]]) -> None:
        """Build the table from ``(start, seconds, price per kWh)`` slots in any order.

        Raises:
            ValueError: a start is naive, a length is not positive, a price is not finite
                or two slots overlap.
        """
        rows = sorted((_checked_slot(*slot) for slot in slots), key=itemgetter(0))
        for (start, end, _), (later, _, _) in pairwise(rows):
            if later < end:
                raise ValueError(
                    f"price slots overlap: {later.isoformat()} is before the end of the slot "
                    f"from {start.isoformat()} ({end.isoformat()})"
                )
        self._starts = [start for start, _, _ in rows]
        self._ends = [end for _, end, _ in rows]
        self._prices = [price for _, _, price in rows]

    def __len__(self) -> int:
        return len(self._starts)

    def __repr__(self) -> str:
        if not self._starts:
            return "PriceTable(0 slots)"
        span = f"{self._starts[0].isoformat()} to {self._ends[-1].isoformat()}"
        return f"PriceTable({len(self)} slots, {span})"

    def price_at(self, instant: datetime) -> Decimal | None:
        """The price per kWh of the slot containing ``instant``; None where no price is known.

        Raises:
            ValueError: ``instant`` is naive.
        """
        _require_aware(instant)
        index = bisect_right(self._starts, instant) - 1
        if index >= 0 and instant < self._ends[index]:
            return self._prices[index]
        return None

    def boundaries(self, start: datetime, end: datetime) -> list[datetime]:
        """Sorted slot edges (starts and ends, in UTC) strictly inside ``(start, end)``.

        Raises:
            ValueError: ``start`` or ``end`` is naive.
        """
        _require_aware(start)
        _require_aware(end)
        first = bisect_right(self._ends, start)  # the first slot that ends after start
        stop = bisect_left(self._starts, end)  # past the last slot that starts before end
        edges: set[datetime] = set()
        for index in range(first, stop):
            edges.add(self._starts[index])
            edges.add(self._ends[index])
        return sorted(edge for edge in edges if start < edge < end)


def _checked_slot(
    start: datetime, seconds: int, price: Decimal
) -> tuple[datetime, datetime, Decimal]:
    _require_aware(start)
    if seconds <= 0:
        raise ValueError(f"the price slot at {start.isoformat()} lasts {seconds} s")
    if not price.is_finite():
        raise ValueError(f"the price of the slot at {start.isoformat()} is {price}")
    utc = start.astimezone(UTC)
    return utc, utc + timedelta(seconds=seconds), price


def _require_aware(instant: datetime) -> None:
    if instant.utcoffset() is None:
        raise ValueError(f"expected a time with a UTC offset, got the naive {instant.isoformat()}")


class _Row(NamedTuple):
    line: int
    start: datetime
    end: datetime | None
    price: Decimal


def load_price_csv(path: Path) -> PriceTable:
    """Read dynamic prices from a CSV file.

    The header is ``start,price`` or ``start,end,price``. Times are ISO 8601 with a UTC
    offset (``2026-03-29T01:45:00+01:00`` or ``...Z``); the price is per kWh. Without an
    ``end`` column each slot lasts until the next row's start, and the last one as long as
    the one before it (an hour if it is the only one). Blank lines and lines starting with
    ``#`` are skipped.

    Raises:
        ValueError: the text is not such a file; the message names the file and the line.
        OSError: the file cannot be read.
    """
    lines = list(_data_lines(path.read_text(encoding="utf-8-sig")))
    if not lines:
        raise ValueError(f"{path}: empty, expected the header {_HEADER_TEXT}")
    (header_line, header), *body = lines
    columns = tuple(field.strip().lower() for field in header)
    if columns not in _LAYOUTS:
        raise ValueError(
            f"{path}, line {header_line}: expected the header {_HEADER_TEXT}, "
            f"got {','.join(header)!r}"
        )
    has_end = _LAYOUTS[columns]
    rows = [_parse_row(path, line, fields, has_end=has_end) for line, fields in body]
    return PriceTable(_slots(path, rows))


def _data_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped.split(",")


def _parse_row(path: Path, line: int, fields: list[str], *, has_end: bool) -> _Row:
    where = f"{path}, line {line}"
    expected = 3 if has_end else 2
    if len(fields) != expected:
        raise ValueError(f"{where}: expected {expected} fields, got {len(fields)}")
    start = _parse_time(where, "start", fields[0])
    end = _parse_time(where, "end", fields[1]) if has_end else None
    text = fields[-1].strip()
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{where}: price: expected a number, got {text!r}") from None
    if not price.is_finite():
        raise ValueError(f"{where}: price: expected a finite number, got {text!r}")
    return _Row(line, start, end, price)


def _parse_time(where: str, column: str, field: str) -> datetime:
    text = field.strip()
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where}: {column}: expected an ISO 8601 time, got {text!r}") from None
    if instant.utcoffset() is None:
        raise ValueError(
            f"{where}: {column}: {text!r} has no UTC offset (add one such as +01:00 or Z)"
        )
    return instant.astimezone(UTC)


def _slots(path: Path, rows: list[_Row]) -> Iterator[tuple[datetime, int, Decimal]]:
    for before, after in pairwise(rows):
        if after.start <= before.start:
            raise ValueError(
                f"{path}, line {after.line}: start {after.start.isoformat()} is not after the "
                f"previous start {before.start.isoformat()}: rows must be sorted by start"
            )
    previous_end: datetime | None = None
    previous_seconds = _LAST_SLOT_ALONE_S
    for index, row in enumerate(rows):
        where = f"{path}, line {row.line}"
        if previous_end is not None and row.start < previous_end:
            raise ValueError(
                f"{where}: start {row.start.isoformat()} is before the end of the previous "
                f"slot ({previous_end.isoformat()}): slots must not overlap"
            )
        end = row.end
        if end is None and index + 1 < len(rows):
            end = rows[index + 1].start
        seconds = previous_seconds if end is None else _seconds(where, row.start, end)
        yield row.start, seconds, row.price
        previous_end = row.start + timedelta(seconds=seconds)
        previous_seconds = seconds


def _seconds(where: str, start: datetime, end: datetime) -> int:
    length = end - start
    if length <= timedelta(0):
        raise ValueError(
            f"{where}: the slot ends at {end.isoformat()}, not after its start {start.isoformat()}"
        )
    if length % timedelta(seconds=1):
        raise ValueError(f"{where}: the slot lasts {length}, not a whole number of seconds")
    return length // timedelta(seconds=1)
