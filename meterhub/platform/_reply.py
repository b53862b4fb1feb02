"""Request and reply between actors (or from outside) over an explicit reply channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Callable

    from meterhub.platform._actor import ActorRef

T = TypeVar("T")
M = TypeVar("M")


class Reply(Generic[T]):
    """A one-shot channel an actor answers a request on."""

    __slots__ = ("_event", "_value")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._value: T | None = None

    def send(self, value: T) -> None:
        """Answer; later answers are ignored."""
        if not self._event.is_set():
            self._value = value
            self._event.set()

    async def wait(self) -> T:
        """The answer, once it was sent."""
        await self._event.wait()
        return self._value  # type: ignore[return-value] # set together with the event


async def ask(ref: ActorRef[M], build: Callable[[Reply[T]], M], timeout: float = 5.0) -> T:  # noqa: ASYNC109 (the timeout is part of the request's contract)
    """Send ``build(reply)`` to ``ref`` and wait for the answer.

    Raises:
        TimeoutError: no answer within ``timeout`` seconds.
        MailboxClosedError: the actor is stopping or stopped.
    """
    reply: Reply[T] = Reply()
    with anyio.fail_after(timeout):
        await ref.send(build(reply))
        return await reply.wait()
