"""A per-layout cache for data-notification plaintexts: check the fixed bytes, unpack values.

Push meters send the same list every few seconds: the same OBIS codes, type tags,
{scaler, unit} structures and strings at the same byte positions; only the invoke-id,
the date-times and the numbers change. After one full decode, :class:`ShapeCache`
remembers the plaintext's shape: a mask of its fixed bytes, where each number sits
(one precompiled ``struct``) and how it is named and scaled. A later plaintext of the
same length and system title whose fixed bytes all match is decoded with one masked
compare and one unpack. Anything else (another length, OBIS code, type tag, scaler or
string, or a date-time that is not a valid one) takes the full A-XDR walk, which then
learns the new shape. A shape is only kept when it decodes its own sample to exactly
what the full walk produced.
"""

from __future__ import annotations

import operator
import struct
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from meterhub.adapters.codecs._axdr import read_length
from meterhub.adapters.codecs._cosem import cosem_datetime
from meterhub.adapters.codecs._profiles import first_text
from meterhub.adapters.codecs._telegram import Telegram

if TYPE_CHECKING:
    from collections.abc import Callable

    from meterhub.adapters.codecs._axdr import NotificationHeader
    from meterhub.adapters.codecs._mapping import Resolver
    from meterhub.adapters.codecs._profiles import Profile, ProfileRegistry
    from meterhub.adapters.codecs._telegram import Scalar, TelegramFormat
    from meterhub.adapters.codecs._walker import Entry

# Numbers the walker turns into int/float (IEC 62056-6-2 §4.1.5 Table 2) -> struct code.
_NUMBERS: dict[int, str] = {
    0x05: "i", 0x06: "I", 0x0F: "b", 0x10: "h", 0x11: "B", 0x12: "H",
    0x14: "q", 0x15: "Q", 0x16: "B", 0x17: "f", 0x18: "d",
}  # fmt: skip
_OCTET_STRING = 0x09
_DATE_TIME = 0x19
_DATE_TIME_LEN = 12
_SEQUENCES = (0x01, 0x02)
_INVOKE_ID = (1, 4)  # long-invoke-id, IEC 62056-5-3 §9.3
_CLOCK = "clock"
_METER_NUMBER = "meter_number"
_MAX_SHAPES = 16
_PATIENCE = 8  # consecutive misses before learning slows down
_RETRY_EVERY = 64

_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # placeholder, never returned
Row = tuple[Any, ...]


class _Group(NamedTuple):
    """Numbers that are stored the same way: as sent, multiplied or divided."""

    names: tuple[str, ...]
    pick: Callable[[Row], Row]
    op: Callable[[Any, Any], Any] | None
    factors: tuple[int, ...]


def _picker(indices: list[int]) -> Callable[[Row], Row]:
    if len(indices) == 1:
        index = indices[0]
        return lambda row: (row[index],)
    getter: Callable[[Row], Row] = operator.itemgetter(*indices)
    return getter


class Sample(NamedTuple):
    """One fully decoded plaintext and what the walk found in it."""

    plaintext: bytes
    header: NotificationHeader
    entries: list[Entry]
    trailing: int
    resolver: Resolver
    profile: Profile | None
    title: bytes | None
    telegram: Telegram


class _Uncacheable(Exception):  # noqa: N818 - a private signal, not an error
    """The sample's profile depends on bytes that change between telegrams."""


_HEX = frozenset("0123456789ABCDEF")


def _fits_date_time(prefix: str) -> bool:
    printable = all(" " <= char <= "~" for char in prefix)
    return (len(prefix) <= _DATE_TIME_LEN and printable) or (
        len(prefix) <= 2 * _DATE_TIME_LEN and set(prefix) <= _HEX
    )


def _starts(buf: bytes, start: int, prefixes: tuple[str, ...]) -> bool:
    text = first_text(buf[start : start + _DATE_TIME_LEN])
    return text is not None and text.startswith(prefixes)


class _Layout:
    """Collects the variable regions of a sample while its entries are classified."""

    def __init__(self, sample: Sample) -> None:
        self.sample = sample
        self.holes: list[tuple[int, int]] = [_INVOKE_ID]
        self.numbers: list[tuple[int, str, str | None]] = []  # start, code, name
        self.resolved: list[tuple[int | None, int, bool]] = []  # scaler, factor, divide
        self.stamps: list[tuple[int, str | None]] = []  # start, name (None: timestamp)
        self.tags: dict[int, int | None] = {}  # tag offset -> date-time start
        self.names: list[str] = []

    def header(self) -> None:
        header = self.sample.header
        if header.date_time is not None and cosem_datetime(header.date_time) is not None:
            start = header.body_offset - _DATE_TIME_LEN
            self.holes.append((start, _DATE_TIME_LEN))
            self.stamps.append((start, None))

    def entry(self, index: int, entry: Entry) -> None:
        obis, value, scaler, unit_code, at = entry
        number = type(value) is int or type(value) is float
        name: str | None = None
        if obis is not None:
            # The same resolution map_entries does, so the names agree.
            found = self.sample.resolver.resolve(
                obis, scaler if number else None, unit_code if number else None
            )
            name = found.name
            self.names.append(name)
        elif index == self.sample.trailing:
            self.names.append(_METER_NUMBER)
        tag = self.sample.plaintext[at]
        if number and tag in _NUMBERS:
            code = _NUMBERS[tag]
            self.holes.append((at + 1, struct.calcsize(">" + code)))
            self.tags[at] = None
            if obis is not None:
                self.numbers.append((at + 1, code, name))
                self.resolved.append((found.scaler, found.factor, found.divide))
            return
        start = self._date_time(at, value)
        if start is not None:
            self.holes.append((start, _DATE_TIME_LEN))
            self.tags[at] = start
            self.stamps.append((start, None if name in (None, _CLOCK) else name))

    def _date_time(self, at: int, value: object) -> int | None:
        """Return where a valid date-time's 12 bytes start, or ``None``."""
        if type(value) is not bytes or cosem_datetime(value) is None:
            return None
        buf = self.sample.plaintext
        if buf[at] == _OCTET_STRING and buf[at + 1] == _DATE_TIME_LEN:
            return at + 2
        return at + 1 if buf[at] == _DATE_TIME else None

    def unique_names(self) -> bool:
        """Tell whether every varying value is the only writer of its name."""
        counts = Counter(self.names)
        varying = [name for _, _, name in self.numbers] + [n for _, n in self.stamps if n]
        return all(counts[name] == 1 for name in varying if name is not None)

    def guard(self, registry: ProfileRegistry) -> tuple[int, tuple[str, ...]] | None:
        """Return the profile prefixes a varying first element could match, and its start.

        Profiles may match on the text of the body's first element. A number never has
        one; a date-time's 12 bytes read as 12 ASCII characters or 24 hex digits.

        Raises:
            _Uncacheable: when the sample itself matches one of those prefixes.
        """
        buf = self.sample.plaintext
        body = self.sample.header.body_offset
        if buf[body] not in _SEQUENCES:
            return None
        count, first = read_length(buf, body + 1)
        start = self.tags.get(first) if count > 0 else None
        if start is None:
            return None
        prefixes = tuple(
            prefix
            for prefix in registry.first_value_prefixes("dlms", self.sample.title, count)
            if _fits_date_time(prefix)
        )
        if not prefixes:
            return None
        if _starts(buf, start, prefixes):
            raise _Uncacheable
        return start, prefixes


class Shape:
    """The fixed bytes and value positions of one plaintext layout."""

    __slots__ = (
        "_groups",
        "_guard",
        "_mask",
        "_meter_number",
        "_numbers",
        "_profile",
        "_stamps",
        "_template",
        "_title",
        "_units",
        "_unmapped",
        "_values",
    )

    def __init__(self, layout: _Layout, guard: tuple[int, tuple[str, ...]] | None) -> None:
        sample = layout.sample
        self._guard = guard
        mask = bytearray(b"\xff" * len(sample.plaintext))
        for start, size in layout.holes:
            mask[start : start + size] = bytes(size)
        self._mask = int.from_bytes(mask, "big")
        self._template = int.from_bytes(sample.plaintext, "big") & self._mask
        self._numbers = _struct(layout.numbers)
        self._groups = _groups(layout)
        self._stamps = tuple(layout.stamps)
        telegram = sample.telegram
        self._values = dict(telegram.values)
        self._units = dict(telegram.units)
        self._meter_number = telegram.meter_number
        self._title = telegram.system_title
        self._profile = telegram.profile
        self._unmapped = telegram.unmapped

    def decode(
        self, plaintext: bytes, fmt: TelegramFormat, frame_counter: int | None
    ) -> Telegram | None:
        """Decode a plaintext of this shape, or return ``None`` if it is not one."""
        if int.from_bytes(plaintext, "big") & self._mask != self._template:
            return None
        guard = self._guard
        if guard is not None and _starts(plaintext, *guard):
            return None  # the new first element could select another profile
        values = self._values.copy()
        valid, stamp = self._times(plaintext, values)
        if not valid:
            return None
        numbers = self._numbers.unpack_from(plaintext)
        for names, pick, op, factors in self._groups:
            picked = pick(numbers)
            values.update(
                zip(names, picked if op is None else map(op, picked, factors), strict=True)
            )
        return Telegram(
            format=fmt,
            meter_number=self._meter_number,
            timestamp=stamp,
            values=values,
            units=self._units.copy(),
            objects=[],
            system_title=self._title,
            frame_counter=frame_counter,
            profile=self._profile,
            unmapped=self._unmapped,
        )

    def _times(self, plaintext: bytes, values: dict[str, Scalar]) -> tuple[bool, datetime | None]:
        stamp: datetime | None = None
        last, last_raw = _NO_TIME, b""
        for start, name in self._stamps:
            raw = plaintext[start : start + _DATE_TIME_LEN]
            if raw != last_raw:
                # Kaifa repeats the header time in the body: decode it once.
                found = cosem_datetime(raw)
                if found is None:
                    return False, None
                last, last_raw = found, raw
            if name is not None:
                values[name] = last.isoformat()
            elif stamp is None:
                stamp = last
        return True, stamp


def _struct(numbers: list[tuple[int, str, str | None]]) -> struct.Struct:
    parts = [">"]
    cursor = 0
    for start, code, _ in numbers:
        parts.append(f"{start - cursor}x{code}")
        cursor = start + struct.calcsize(">" + code)
    return struct.Struct("".join(parts))


def _groups(layout: _Layout) -> tuple[_Group, ...]:
    # The same arithmetic as map_entries: value * 10**s, or value / 10**-s for s < 0.
    kinds: dict[Callable[[Any, Any], Any] | None, list[tuple[int, str, int]]] = {}
    for index, ((_, _, name), (scaler, factor, divide)) in enumerate(
        zip(layout.numbers, layout.resolved, strict=True)
    ):
        op = None if scaler is None else operator.truediv if divide else operator.mul
        kinds.setdefault(op, []).append((index, name or "", factor))
    return tuple(
        _Group(
            tuple(name for _, name, _ in slots),
            _picker([index for index, _, _ in slots]),
            op,
            tuple(factor for _, _, factor in slots),
        )
        for op, slots in kinds.items()
    )


def learn(sample: Sample, registry: ProfileRegistry) -> Shape | None:
    """Build the shape of a decoded sample, or ``None`` when it cannot be cached."""
    layout = _Layout(sample)
    layout.header()
    for index, entry in enumerate(sample.entries):
        layout.entry(index, entry)
    if not layout.unique_names():
        return None
    try:
        guard = layout.guard(registry)
    except _Uncacheable:
        return None  # the profile was picked by the first element, which changes
    shape = Shape(layout, guard)
    telegram = sample.telegram
    if shape.decode(sample.plaintext, telegram.format, telegram.frame_counter) != telegram:
        return None
    return shape


class ShapeCache:
    """The shapes one meter stream has shown, keyed by system title and length."""

    def __init__(self, registry: ProfileRegistry) -> None:
        self._registry = registry
        self._generation = registry.generation
        self._shapes: dict[tuple[bytes | None, int], Shape] = {}
        self._misses_in_row = 0
        self.hits = 0
        self.misses = 0
        self.learned = 0

    def decode(
        self,
        plaintext: bytes,
        title: bytes | None,
        fmt: TelegramFormat,
        frame_counter: int | None,
    ) -> Telegram | None:
        """Decode a plaintext whose shape is known; ``None`` sends it down the full walk."""
        if self._registry.generation != self._generation:
            self._shapes.clear()  # the profiles changed: names and scalers may differ
            self._generation = self._registry.generation
        shape = self._shapes.get((title, len(plaintext)))
        if shape is not None:
            telegram = shape.decode(plaintext, fmt, frame_counter)
            if telegram is not None:
                self.hits += 1
                self._misses_in_row = 0
                return telegram
        self.misses += 1
        self._misses_in_row += 1
        return None

    def wants(self) -> bool:
        """Tell whether the last miss is worth learning (not when shapes never repeat)."""
        missed = self._misses_in_row
        return missed <= _PATIENCE or missed % _RETRY_EVERY == 0

    def learn(self, sample: Sample) -> None:
        """Remember the shape of a sample that the full walk decoded."""
        shape = learn(sample, self._registry)
        if shape is None:
            return
        if len(self._shapes) >= _MAX_SHAPES:
            self._shapes.clear()
        self._shapes[sample.title, len(sample.plaintext)] = shape
        self.learned += 1
