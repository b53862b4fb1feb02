"""In-process publish/subscribe with a mailbox per subscriber.

Topics are ``/``-separated like MQTT topics and patterns use MQTT's wildcards (``+`` one
level, ``#`` the rest), so the names carry over unchanged to the upstream bridge. Each
subscriber brings its own mailbox and overflow policy: a full ``drop_oldest`` subscriber
loses its own oldest messages and never slows the publisher; only a full ``block``
subscriber makes ``publish`` wait.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

from meterhub.platform._actor import ActorRef
from meterhub.platform._errors import MailboxClosedError

if TYPE_CHECKING:
    from meterhub.platform._mailbox import Mailbox

_log = logging.getLogger(__name__)


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT-style match of ``topic`` against ``pattern`` (``+`` and ``#`` wildcards)."""
    if pattern in (topic, "#"):
        return True
    pat = pattern.split("/")
    top = topic.split("/")
    for i, part in enumerate(pat):
        if part == "#":
            return True
        if i >= len(top) or (part not in ("+", top[i])):
            return False
    return len(pat) == len(top)


def validate_pattern(pattern: str) -> None:
    """Reject patterns MQTT would reject (``#`` not last, wildcards inside a level)."""
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        if "#" in part and (part != "#" or i != len(parts) - 1):
            raise ValueError(f"invalid topic pattern {pattern!r}: '#' must be a whole last level")
        if "+" in part and part != "+":
            raise ValueError(f"invalid topic pattern {pattern!r}: '+' must be a whole level")


class Subscription:
    """One pattern delivered into one mailbox; ``cancel`` or use as a context manager."""

    __slots__ = ("_bus", "mailbox", "pattern")

    def __init__(self, bus: Bus, pattern: str, mailbox: Mailbox[Any]) -> None:
        self._bus = bus
        self.pattern = pattern
        self.mailbox = mailbox

    def cancel(self) -> None:
        """Stop delivering to this mailbox."""
        self._bus.unsubscribe(self.pattern, self.mailbox)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cancel()


class Bus:
    """Topic-based fan-out to subscriber mailboxes."""

    def __init__(self) -> None:
        self._subs: dict[tuple[str, int], tuple[str, Mailbox[Any]]] = {}
        self._routes: dict[str, tuple[Mailbox[Any], ...]] = {}
        self.published = 0
        self.undeliverable = 0

    def subscribe(self, pattern: str, target: ActorRef[Any] | Mailbox[Any]) -> Subscription:
        """Deliver every message published on a matching topic into ``target``.

        Subscribing the same mailbox to the same pattern twice is a no-op, so an actor
        may subscribe again in ``on_start`` after a restart.
        """
        validate_pattern(pattern)
        mailbox = target.mailbox if isinstance(target, ActorRef) else target
        key = (pattern, id(mailbox))
        if key not in self._subs:
            self._subs[key] = (pattern, mailbox)
            # the cached routes gain the new mailbox where it matches; clearing them all
            # would make every publisher rebuild its route after each client subscribes
            for topic, route in list(self._routes.items()):
                if mailbox not in route and topic_matches(pattern, topic):
                    self._routes[topic] = (*route, mailbox)
        return Subscription(self, pattern, mailbox)

    def unsubscribe(self, pattern: str, mailbox: Mailbox[Any]) -> None:
        """Remove one subscription (no error if it is gone)."""
        if self._subs.pop((pattern, id(mailbox)), None) is not None:
            self._forget_routes_of(mailbox)

    def unsubscribe_all(self, mailbox: Mailbox[Any]) -> None:
        """Remove every subscription of one mailbox (its actor stopped for good)."""
        for key in [k for k, (_, mb) in self._subs.items() if mb is mailbox]:
            del self._subs[key]
        self._forget_routes_of(mailbox)

    def _forget_routes_of(self, mailbox: Mailbox[Any]) -> None:
        # only the routes that reached this mailbox are rebuilt (another of its patterns
        # may still match them)
        for topic in [t for t, route in self._routes.items() if mailbox in route]:
            del self._routes[topic]

    def _route(self, topic: str) -> tuple[Mailbox[Any], ...]:
        route = self._routes.get(topic)
        if route is None:
            seen: dict[int, Mailbox[Any]] = {}
            for pattern, mailbox in self._subs.values():
                if topic_matches(pattern, topic):
                    seen.setdefault(id(mailbox), mailbox)
            route = self._routes[topic] = tuple(seen.values())
        return route

    async def publish(self, topic: str, message: object) -> int:
        """Deliver to every matching subscriber, waiting only on full ``block`` ones.

        Returns:
            How many subscribers accepted the message.
        """
        self.published += 1
        delivered = 0
        for mailbox in self._route(topic):
            try:
                if not mailbox.put_nowait(message):
                    await mailbox.put(message)
            except MailboxClosedError:
                self.undeliverable += 1
                continue
            delivered += 1
        return delivered

    def publish_nowait(self, topic: str, message: object) -> list[Mailbox[Any]]:
        """Deliver without waiting.

        Returns:
            The ``block`` mailboxes that were full and did not take the message (empty
            when everyone took it), so the caller can decide to wait or count.
        """
        self.published += 1
        refused: list[Mailbox[Any]] = []
        for mailbox in self._route(topic):
            try:
                if not mailbox.put_nowait(message):
                    refused.append(mailbox)
            except MailboxClosedError:
                self.undeliverable += 1
        return refused

    def subscriber_count(self, topic: str) -> int:
        """How many mailboxes a message on ``topic`` reaches."""
        return len(self._route(topic))
