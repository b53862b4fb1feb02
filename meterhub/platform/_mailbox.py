"""Bounded mailboxes with a declared overflow policy.

A mailbox is a deque guarded by two one-shot events, not an anyio memory stream: the
actor loop takes everything that is waiting in one batch, which avoids one event-loop
iteration per message (STACK.md §7 measured ~250k items/s per hop for ``await send`` /
``await receive`` against millions for drained batches).
"""

from __future__ import annotations

import enum
from collections import deque
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

from meterhub.platform._errors import MailboxClosedError

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


class MailboxPolicy(enum.StrEnum):
    """What a full mailbox does with a new message."""

    BLOCK = "block"
    """The sender waits (back-pressure); ``put_nowait`` reports failure."""
    DROP_OLDEST = "drop_oldest"
    """The oldest queued message is discarded and counted; senders never wait."""


class Mailbox(Generic[T]):
    """A bounded, single-consumer queue of messages for one actor.

    Args:
        owner: name of the owning actor, used in errors.
        capacity: most messages held at once.
        policy: what happens when a message arrives at a full mailbox.
    """

    __slots__ = (
        "_capacity",
        "_closed",
        "_items",
        "_not_empty",
        "_senders",
        "accepted",
        "dropped",
        "owner",
        "policy",
        "shedding",
        "wake",
    )

    def __init__(self, owner: str, capacity: int, policy: MailboxPolicy) -> None:
        if capacity < 1:
            raise ValueError("mailbox capacity must be at least 1")
        self.owner = owner
        self.policy = policy
        self._capacity = capacity
        # made on the first message: an empty deque's first block alone is over 600 bytes,
        # a lot for each of 100,000 idle actors
        self._items: deque[T] | None = None
        self._not_empty: anyio.Event | None = None
        # senders waiting on a full ``block`` mailbox, first come first served: each
        # message goes in as room is made, and no newcomer overtakes them (racing for the
        # room instead, one sender could wait for ever under steady overload)
        self._senders: deque[_Waiting[T]] | None = None
        self._closed = False
        self.accepted = 0
        self.dropped = 0
        self.wake: Callable[[], None] | None = None
        """Called once when a message arrives while nobody waits in ``get_batch``."""
        self.shedding = False
        """While True a full ``block`` mailbox drops its oldest message instead of making
        senders wait: its actor crashed and waits for a restart, and a component that
        is not running must never hold up anyone."""

    @property
    def capacity(self) -> int:
        """Most messages the mailbox holds at once."""
        return self._capacity

    @property
    def closed(self) -> bool:
        """True once the mailbox stopped accepting messages."""
        return self._closed

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0

    def put_nowait(self, item: T) -> bool:
        """Enqueue without waiting.

        Returns:
            False when a ``block`` mailbox is full; True otherwise (a ``drop_oldest``
            mailbox makes room by discarding its oldest message).

        Raises:
            MailboxClosedError: the mailbox no longer accepts messages.
        """
        if self._closed:
            raise MailboxClosedError(self.owner)
        items = self._items
        if items is None:
            items = self._items = deque()
        elif len(items) >= self._capacity or self._senders:
            if self.policy is MailboxPolicy.BLOCK and not self.shedding:
                return False
            items.popleft()
            self.dropped += 1
        items.append(item)
        self.accepted += 1
        waiter = self._not_empty
        if waiter is not None:
            self._not_empty = None
            waiter.set()
        elif self.wake is not None:
            wake, self.wake = self.wake, None
            wake()
        return True

    async def put(self, item: T) -> None:
        """Enqueue, waiting while a ``block`` mailbox is full.

        Raises:
            MailboxClosedError: the mailbox was closed before or while waiting.
        """
        if self.put_nowait(item):
            return
        waiting = _Waiting(item)
        if self._senders is None:
            self._senders = deque()
        self._senders.append(waiting)
        try:
            await waiting.done.wait()
        except BaseException:
            if not waiting.accepted:
                self._senders.remove(waiting)
            raise
        if not waiting.accepted:
            raise MailboxClosedError(self.owner)

    async def wait(self) -> None:
        """Until a message is queued or the mailbox is closed."""
        while not self._items and not self._closed:
            waiter = self._not_empty
            if waiter is None:
                waiter = self._not_empty = anyio.Event()
            await waiter.wait()

    async def get_batch(self, limit: int) -> list[T]:
        """Take up to ``limit`` messages, waiting until at least one is there.

        Returns:
            A non-empty list, oldest first; an empty list once the mailbox is closed
            and fully drained.
        """
        while not self._items:
            if self._closed:
                return []
            waiter = self._not_empty
            if waiter is None:
                waiter = self._not_empty = anyio.Event()
            await waiter.wait()
        return self.take_nowait(limit)

    def take_nowait(self, limit: int) -> list[T]:
        """Take up to ``limit`` queued messages without waiting (empty list if none)."""
        items = self._items
        if not items:  # None or empty
            return []
        if len(items) <= limit:
            batch = list(items)
            items.clear()
        else:
            batch = [items.popleft() for _ in range(limit)]
        self._wake_senders()
        return batch

    def requeue_front(self, items: list[T]) -> None:
        """Put messages taken by ``get_batch`` back at the head, in their order.

        Used when an actor crashed in the middle of a batch, so the messages it had
        not reached yet are handled by the restarted actor. May exceed the capacity
        briefly: these messages were already accepted.
        """
        if self._items is None:
            self._items = deque()
        self._items.extendleft(reversed(items))

    def close(self) -> None:
        """Stop accepting messages; what is queued stays available to ``get_batch``."""
        self._closed = True
        self._wake_senders()
        waiter = self._not_empty
        if waiter is not None:
            self._not_empty = None
            waiter.set()

    def shed(self, *, on: bool) -> None:
        """Turn shedding on or off; senders waiting on a full mailbox are let through."""
        self.shedding = on
        if on:
            self._wake_senders()

    def discard(self) -> int:
        """Drop everything queued (counted in ``dropped``); how many were dropped."""
        count = len(self)
        if self._items:
            self._items.clear()
        self.dropped += count
        self._wake_senders()
        return count

    def reopen(self) -> None:
        """Accept messages again after ``close`` (an isolated actor is tried again)."""
        self._closed = False

    def _wake_senders(self) -> None:
        """Move waiting senders' messages in, oldest first, as far as there is room.

        A closed mailbox releases them refused; a shedding one takes them all, dropping
        its oldest messages to make room.
        """
        senders = self._senders
        if not senders:
            return
        if self._items is None:
            self._items = deque()
        items, moved = self._items, False
        while senders and (self._closed or self.shedding or len(items) < self._capacity):
            waiting = senders.popleft()
            if not self._closed:
                if len(items) >= self._capacity:
                    items.popleft()
                    self.dropped += 1
                items.append(waiting.item)
                self.accepted += 1
                waiting.accepted = moved = True
            waiting.done.set()
        waiter = self._not_empty
        if moved and waiter is not None:
            self._not_empty = None
            waiter.set()


class _Waiting(Generic[T]):
    """A message whose sender waits for room in a full ``block`` mailbox."""

    __slots__ = ("accepted", "done", "item")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = anyio.Event()
        self.accepted = False
