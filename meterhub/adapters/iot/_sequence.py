"""Telemetry sequence numbers: duplicates, gaps, restarts and late messages.

The rules are ``docs/mqtt-protocol.md``'s ("Sequence numbers"). Memory per device is
bounded: only the last :data:`WINDOW` sequence numbers are remembered.
"""

from __future__ import annotations

from collections import deque

import msgspec

WINDOW = 1024
"""How many sequence numbers are remembered, and how far back a late message may be."""


class Fresh(msgspec.Struct, frozen=True):
    """The next reading, or the first one ever seen."""


class Duplicate(msgspec.Struct, frozen=True):
    """A sequence number seen before (a QoS 1 redelivery): drop the reading."""


class Gap(msgspec.Struct, frozen=True):
    """The reading jumped forward: ``missing`` readings after ``after`` never came."""

    after: int
    missing: int


class Restart(msgspec.Struct, frozen=True):
    """The device started counting again after ``last``: not a gap."""

    last: int


class Late(msgspec.Struct, frozen=True):
    """A lower sequence number not seen before: a reading from inside an earlier gap."""


Verdict = Fresh | Duplicate | Gap | Restart | Late


class SequenceTracker:
    """What one device's next sequence number means, given those before it."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._boot: int | str | None = None
        self._seen: set[int] = set()
        self._order: deque[int] = deque()

    @property
    def last(self) -> int | None:
        """The highest sequence number since the last restart (``None``: none yet)."""
        return self._last

    def observe(
        self, seq: int, *, boot: int | str | None = None, after_hello: bool = False
    ) -> Verdict:
        """Judge ``seq`` and remember it.

        Args:
            seq: the reading's sequence number.
            boot: the reading's boot id, if it has one; a change is a restart.
            after_hello: the device said ``hello`` since its last reading, so a lower
                ``seq`` is a restart (the device rebooted), not a late message.
        """
        last, booted = self._last, self._boot
        if boot is not None:
            self._boot = boot
        if last is None:
            self._remember(seq)
            return Fresh()
        rebooted = boot is not None and booted is not None and boot != booted
        # A hello or a new boot before the duplicate check: a rebooted device counts
        # from 0 again, through numbers the window still holds.
        if rebooted or (after_hello and seq < last):
            return self._restart(seq, last)
        if seq in self._seen:
            return Duplicate()
        if seq > last:
            self._remember(seq)
            return Fresh() if seq == last + 1 else Gap(after=last, missing=seq - last - 1)
        if seq < last - WINDOW:
            return self._restart(seq, last)
        self._remember(seq, late=True)
        return Late()

    def _restart(self, seq: int, last: int) -> Restart:
        self._seen.clear()
        self._order.clear()
        self._remember(seq)
        return Restart(last=last)

    def _remember(self, seq: int, *, late: bool = False) -> None:
        if not late:
            self._last = seq
        self._seen.add(seq)
        self._order.append(seq)
        if len(self._order) > WINDOW:
            self._seen.discard(self._order.popleft())
