"""The live hub: routes bus messages into the mailboxes of live-feed clients.

Each client owns a platform ``Mailbox`` with the ``drop_oldest`` policy, so a client that
does not keep up loses its own oldest messages (counted in ``Mailbox.dropped``) and never
slows the publisher or anyone else.

Why one bus subscription per *kind* and an index of our own, rather than a bus
subscription per client and meter topic: the ``Bus`` forgets its whole route cache on
every subscribe or unsubscribe and rebuilds a topic's route by matching it against every
subscription. With 1,000 clients, 10 meters each and 5 kinds that is 20 ms per topic, times
every active topic, each time any client connects, leaves or changes its subscription.
Here the hub holds one subscription per kind in use (``readings/+``...), made when the
first client wants that kind and removed when the last one leaves, and routes by meter
id with one dict lookup. The router is a ``Mailbox`` whose ``put_nowait`` hands the
message on at once, so routing adds no task and no event-loop hop.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import msgspec

from meterhub.api._live_wire import KINDS, TOPIC_OF_KIND, Delivery, Kind
from meterhub.platform import Mailbox, MailboxClosedError, MailboxPolicy

if TYPE_CHECKING:
    from meterhub.api._live_wire import Subscribe
    from meterhub.platform import Bus

_GLOB_CHARS = frozenset("*?[")


class LiveClient:
    """One connection as the hub sees it: its mailbox and what it asked for."""

    __slots__ = (
        "_matched",
        "batch",
        "generation",
        "kinds",
        "mailbox",
        "meters",
        "metrics",
        "reported_dropped",
    )

    def __init__(self, name: str, capacity: int) -> None:
        self.mailbox: Mailbox[Delivery] = Mailbox(name, capacity, MailboxPolicy.DROP_OLDEST)
        self.meters: tuple[str, ...] | None = None
        """Meter ids or patterns; None for every meter."""
        self.metrics: frozenset[str] | None = None
        self.kinds: tuple[Kind, ...] = ()
        self.batch = False
        self.generation = 0
        """Bumped on each subscription change, so batches taken before it are discarded."""
        self.reported_dropped = 0
        """``mailbox.dropped`` as of the last ``missed`` notice."""
        self._matched: dict[str, bool] = {}

    @property
    def is_globbed(self) -> bool:
        """True when some meter pattern needs ``fnmatch`` (``*``, ``?``, ``[``)."""
        return self.meters is not None and any(_GLOB_CHARS & set(m) for m in self.meters)

    def wants_meter(self, meter_id: str) -> bool:
        """Whether a globbed subscription covers this meter (cached per meter)."""
        hit = self._matched.get(meter_id)
        if hit is None:
            meters = self.meters or ()
            hit = self._matched[meter_id] = any(fnmatchcase(meter_id, p) for p in meters)
        return hit

    def set_filter(self, subscription: Subscribe | None) -> None:
        """Take the filter of a subscription (None: nothing)."""
        self._matched = {}
        if subscription is None:
            self.meters, self.metrics, self.kinds, self.batch = None, None, (), False
            return
        meters = subscription.meters
        self.meters = None if meters is None or "*" in meters else tuple(dict.fromkeys(meters))
        metrics = subscription.metrics
        self.metrics = None if metrics is None else frozenset(metrics)
        kinds = subscription.kinds
        self.kinds = KINDS if kinds is None else tuple(dict.fromkeys(kinds))
        self.batch = subscription.batch


class _KindRouter(Mailbox[Any]):
    """Subscribed to one kind's bus pattern; hands each message to the clients that want it."""

    __slots__ = ("everyone", "exact", "globbed", "kind")

    def __init__(self, kind: Kind) -> None:
        super().__init__(f"live-hub/{kind}", 1, MailboxPolicy.DROP_OLDEST)
        self.kind: Kind = kind
        self.everyone: list[LiveClient] = []
        self.exact: dict[str, list[LiveClient]] = {}
        self.globbed: list[LiveClient] = []

    def __bool__(self) -> bool:
        return bool(self.everyone or self.exact or self.globbed)

    def add(self, client: LiveClient) -> None:
        if client.meters is None:
            self.everyone.append(client)
        elif client.is_globbed:
            self.globbed.append(client)
        else:
            for meter_id in client.meters:
                self.exact.setdefault(meter_id, []).append(client)

    def remove(self, client: LiveClient) -> None:
        if client.meters is None:
            self.everyone.remove(client)
        elif client.is_globbed:
            self.globbed.remove(client)
        else:
            for meter_id in client.meters:
                group = self.exact[meter_id]
                group.remove(client)
                if not group:
                    del self.exact[meter_id]

    def put_nowait(self, item: Any) -> bool:  # noqa: ANN401 (any bus payload)
        """Deliver at once into each interested client's mailbox; never waits or refuses."""
        # meter messages name a meter_id, MQTT device messages a device_id, plugin events a key
        meter_id: str = (getattr(item, "meter_id", None) or getattr(item, "device_id", None)
                         or getattr(item, "key", "") or "")  # fmt: skip
        delivery: Delivery | None = None
        for group, check in (
            (self.everyone, False),
            (self.exact.get(meter_id, ()), False),
            (self.globbed, True),
        ):
            for client in group:
                if check and not client.wants_meter(meter_id):
                    continue
                if delivery is None:
                    delivery = Delivery(self.kind, item)
                try:
                    client.mailbox.put_nowait(delivery)
                except MailboxClosedError:
                    continue  # the connection is closing; its detach is on the way
        return True

    async def put(self, item: Any) -> None:  # noqa: ANN401 (any bus payload)
        self.put_nowait(item)


class LiveStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """The hub's counters, summed over current and past clients."""

    clients: int
    delivered: int
    """Messages accepted into client mailboxes."""
    dropped: int
    """Messages a slow client lost (its mailbox was full)."""


class LiveHub:
    """Every live-feed client of one bus, indexed by kind and meter."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._routers: dict[Kind, _KindRouter] = {}
        self._clients: set[LiveClient] = set()
        self._past_delivered = 0
        self._past_dropped = 0

    def subscribe(self, client: LiveClient, subscription: Subscribe | None) -> None:
        """Replace what ``client`` receives; queued messages of the old one are discarded.

        Synchronous, so no message published in between is routed by a half-made filter.
        """
        self._detach(client)
        client.generation += 1
        client.mailbox.take_nowait(client.mailbox.capacity)
        client.reported_dropped = client.mailbox.dropped
        client.set_filter(subscription)
        if subscription is None:
            return
        self._clients.add(client)
        for kind in client.kinds:
            router = self._routers.get(kind)
            if router is None:
                router = self._routers[kind] = _KindRouter(kind)
                self._bus.subscribe(TOPIC_OF_KIND[kind], router)
            router.add(client)

    def close(self, client: LiveClient) -> None:
        """Stop routing to ``client`` for good and close its mailbox."""
        if client in self._clients:
            self._detach(client)
        self._past_delivered += client.mailbox.accepted
        self._past_dropped += client.mailbox.dropped
        client.mailbox.close()

    def statistics(self) -> LiveStatistics:
        """Clients now subscribed, and delivery counters since the hub was made."""
        boxes = [c.mailbox for c in self._clients]
        return LiveStatistics(
            clients=len(boxes),
            delivered=self._past_delivered + sum(b.accepted for b in boxes),
            dropped=self._past_dropped + sum(b.dropped for b in boxes),
        )

    def _detach(self, client: LiveClient) -> None:
        self._clients.discard(client)
        for kind in client.kinds:
            router = self._routers[kind]
            router.remove(client)
            if not router:
                self._bus.unsubscribe(TOPIC_OF_KIND[kind], router)
                del self._routers[kind]
