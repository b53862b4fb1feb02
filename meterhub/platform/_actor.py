"""Actors, the references used to reach them, and the spec that describes one."""

from __future__ import annotations

import dataclasses
import enum
import logging
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import anyio

from meterhub.platform._mailbox import Mailbox, MailboxPolicy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from meterhub.platform._bus import Bus

M = TypeVar("M")
_actor_log = logging.getLogger("meterhub.actor")


class RestartType(enum.StrEnum):
    """When a supervisor restarts a child that ended (OTP's child restart types)."""

    PERMANENT = "permanent"
    """Always restarted, also after a normal return."""
    TRANSIENT = "transient"
    """Restarted only after a crash."""
    TEMPORARY = "temporary"
    """Never restarted."""


class ActorRef(Generic[M]):
    """The handle others use to send messages to an actor.

    A ref stays valid across restarts: the mailbox belongs to the actor's place in the
    tree, not to one incarnation of it.
    """

    __slots__ = ("_mailbox", "name")

    def __init__(self, name: str, mailbox: Mailbox[M]) -> None:
        self.name = name
        self._mailbox = mailbox

    async def send(self, message: M) -> None:
        """Deliver a message, waiting while a ``block`` mailbox is full.

        Raises:
            MailboxClosedError: the actor is stopping or stopped.
        """
        await self._mailbox.put(message)

    def send_nowait(self, message: M) -> bool:
        """Deliver a message without waiting.

        Returns:
            False if a ``block`` mailbox is full and the message was not accepted.

        Raises:
            MailboxClosedError: the actor is stopping or stopped.
        """
        return self._mailbox.put_nowait(message)

    @property
    def mailbox(self) -> Mailbox[M]:
        """The actor's mailbox (for the Bus and for statistics)."""
        return self._mailbox

    def __repr__(self) -> str:
        return f"ActorRef({self.name!r})"


class SystemHandle(Protocol):
    """What an actor may ask of the system it runs in."""

    @property
    def bus(self) -> Bus:
        """The in-process publish/subscribe bus."""
        ...

    def lookup(self, name: str) -> ActorRef[Any]:
        """Find a running actor by name."""
        ...

    def set_health(self, component: str, problem: str | None) -> None:
        """Report trouble that is not a crash (``None`` when it is over)."""
        ...


class ActorContext(Generic[M]):
    """What the runtime hands an actor: its name, its ref, the bus, background tasks."""

    def __init__(
        self,
        ref: ActorRef[M],
        system: SystemHandle,
        start_background: Callable[[Callable[[], Awaitable[None]], str], None],
    ) -> None:
        self.ref = ref
        self.system = system
        self._start_background = start_background
        # one shared logger: the actor's name reaches every line through the log filter
        self.logger = _actor_log

    @property
    def name(self) -> str:
        """The actor's unique name."""
        return self.ref.name

    @property
    def bus(self) -> Bus:
        """The system's bus."""
        return self.system.bus

    def start_background(self, func: Callable[[], Awaitable[None]], name: str = "") -> None:
        """Run ``func`` beside the message loop for as long as this incarnation lives.

        Background tasks are the actor's intake (a transport reader, a timer). They are
        cancelled first when the actor stops, before its mailbox is drained; if one
        raises, the actor crashes and its supervisor restarts it.
        """
        self._start_background(func, name or getattr(func, "__name__", "background"))

    def every(self, period: float, message: Callable[[], M], name: str = "timer") -> None:
        """Send ``message()`` to this actor every ``period`` seconds (OTP's ``send_interval``).

        A tick that finds the mailbox full is skipped, not queued: a timer must never
        make its own actor wait, and the next tick comes soon enough.
        """
        ref = self.ref

        async def tick() -> None:
            while True:
                await anyio.sleep(period)
                ref.send_nowait(message())

        self.start_background(tick, name)


class Actor(Generic[M]):
    """Base class of every actor: override ``handle`` and, if needed, the hooks.

    An actor handles one message at a time. An exception from ``handle`` crashes this
    incarnation: the failing message is counted as failed, the ones queued behind it
    stay in the mailbox, and the supervisor decides about a restart.
    """

    _context: ActorContext[M] | None = None

    @property
    def context(self) -> ActorContext[M]:
        """The runtime context; available from ``on_start`` on."""
        if self._context is None:
            raise RuntimeError("the actor has not been started by an actor system")
        return self._context

    def bind(self, context: ActorContext[M]) -> None:
        """Attach the runtime context (called by the runtime before ``on_start``)."""
        self._context = context

    async def on_start(self) -> None:
        """Acquire resources and subscribe; the actor receives messages afterwards."""

    async def handle(self, message: M) -> None:
        """Handle one message."""
        raise NotImplementedError

    async def on_stop(self) -> None:
        """Release resources; runs after the mailbox was drained, or after a crash."""


class BatchActor(Actor[M]):
    """An actor that takes everything its mailbox holds at once (up to ``batch_limit``).

    For sinks and stages whose work per message shrinks with batching (a store writer
    committing many rows, a stage that publishes in order). An exception crashes the
    incarnation and counts the whole batch as failed.
    """

    async def handle_batch(self, messages: list[M]) -> None:
        """Handle messages in their order of arrival."""
        raise NotImplementedError

    async def handle(self, message: M) -> None:
        """One message: a batch of one."""
        await self.handle_batch([message])


@dataclasses.dataclass(frozen=True, slots=True)
class ActorSpec(Generic[M]):
    """How to create and supervise one actor.

    Attributes:
        name: unique in the system.
        factory: builds a fresh actor for every (re)start.
        mailbox_capacity: most queued messages.
        mailbox_policy: ``block`` (back-pressure) or ``drop_oldest``.
        restart: when the supervisor restarts it.
        batch_limit: most messages taken from the mailbox at once.
        stop_timeout: seconds its stop hook may take (a writer flushing needs more).
        linger: seconds an actor that just handled messages waits for more before it
            gives up its task (an idle actor holds none).
    """

    name: str
    factory: Callable[[], Actor[M]]
    mailbox_capacity: int = 1000
    mailbox_policy: MailboxPolicy = MailboxPolicy.BLOCK
    restart: RestartType = RestartType.PERMANENT
    batch_limit: int = 256
    stop_timeout: float = 5.0
    linger: float = 0.25
