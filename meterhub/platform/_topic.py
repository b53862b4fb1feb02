"""Typed topics: a name, one message type, and one topic level per key.

The bus itself moves any object on any ``/``-separated topic. A ``Topic`` is the typed
address on top of it: ``READINGS.publish(bus, meter_id, reading)`` only type-checks with
a ``Reading``, and subscribers name the topic object, never a string, so one table of
topics is the whole map of who talks to whom.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from meterhub.platform._actor import ActorRef
    from meterhub.platform._bus import Bus, Subscription
    from meterhub.platform._mailbox import Mailbox

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class Topic(Generic[T]):
    """Messages of one type, published under ``prefix/<key>``.

    Attributes:
        kind: the name users see (the live feed's ``kind``, the upstream payload's).
        prefix: the first topic level.
        message_type: the type every message on it has.
    """

    kind: str
    prefix: str
    message_type: type[T]

    def at(self, key: str) -> str:
        """The concrete topic of one key (a meter id, ``heartbeat``...)."""
        return f"{self.prefix}/{key}"

    @property
    def pattern(self) -> str:
        """The pattern that matches every key."""
        return f"{self.prefix}/+"

    async def publish(self, bus: Bus, key: str, message: T) -> int:
        """Publish ``message`` under ``key`` (waits only on full ``block`` subscribers)."""
        return await bus.publish(self.at(key), message)

    def subscribe(
        self, bus: Bus, target: ActorRef[Any] | Mailbox[Any], key: str = "+"
    ) -> Subscription:
        """Deliver this topic's messages (of one key, or every key) into ``target``."""
        return bus.subscribe(self.at(key), target)
