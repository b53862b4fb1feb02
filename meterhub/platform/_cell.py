"""The runtime side of one actor: its message loop, counters and stop sequence.

An idle actor holds no task. Its incarnation (the actor object, started by ``on_start``)
stays alive, but the task that drained its mailbox ends once the mailbox is empty, and
the next message wakes a new one in the supervisor's task group. That keeps an idle
actor to a few objects instead of a task with a stack of suspended frames, which is
what makes 100,000 actors cheap. An actor with background tasks (a transport reader, a
timer) keeps its task for as long as it runs.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import anyio.lowlevel

from meterhub.platform._actor import (
    Actor,
    ActorContext,
    ActorRef,
    ActorSpec,
    BatchActor,
    SystemHandle,
)
from meterhub.platform._errors import MailboxClosedError, leaf_error
from meterhub.platform._logging import bind_actor
from meterhub.platform._mailbox import Mailbox
from meterhub.platform._status import ActorState, ActorStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskStatus

    from meterhub.platform._actor import RestartType

M = TypeVar("M")
_log = logging.getLogger(__name__)


class Failure:
    """The last error a cell saw, for the status snapshot."""

    __slots__ = ("at", "text")

    def __init__(self, exc: BaseException) -> None:
        self.text = f"{type(exc).__name__}: {exc}"
        self.at = datetime.now(UTC)


class ActorCell(Generic[M]):
    """Runs incarnations of one actor; its mailbox and counters outlive restarts.

    Args:
        spec: what to run.
        system: handed to the actor's context.
        parent: name of the supervising parent.
        activate: called when a message arrives for a parked actor; the supervisor
            answers by starting a task that calls ``run``.
    """

    __slots__ = (
        "_activate",
        "_background",
        "_incarnations",
        "_scopes",
        "actor",
        "failed",
        "handling_seconds",
        "last_failure",
        "mailbox",
        "name",
        "parent",
        "parked",
        "processed",
        "ref",
        "restarts",
        "spec",
        "state",
        "stop_requested",
        "system",
    )
    kind = "actor"

    def __init__(
        self,
        spec: ActorSpec[M],
        system: SystemHandle,
        parent: str | None,
        activate: Callable[[ActorCell[Any]], None],
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.parent = parent
        self.system = system
        self.mailbox: Mailbox[M] = Mailbox(spec.name, spec.mailbox_capacity, spec.mailbox_policy)
        self.ref = ActorRef(spec.name, self.mailbox)
        self.state = ActorState.STARTING
        self.processed = 0
        self.failed = 0
        self.restarts = 0
        self.handling_seconds = 0.0
        self.last_failure: Failure | None = None
        self.stop_requested = False
        self.parked = False
        self.actor: Actor[M] | None = None
        self._activate = activate
        self._incarnations = 0
        self._background: list[Callable[[], Awaitable[None]]] = []
        self._scopes: list[anyio.CancelScope] = []

    @property
    def restart(self) -> RestartType:
        """The child's restart type."""
        return self.spec.restart

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start an incarnation if none is alive, then handle messages.

        Returns when the actor parks (mailbox empty, nothing running in the
        background) or when it stopped (mailbox closed and drained).

        Raises:
            Exception: whatever the actor raised; the incarnation has ended and the
                supervisor decides what follows.
        """
        bind_actor(self.name)
        self.parked = False
        self.mailbox.wake = None
        actor = self.actor
        try:
            if actor is None:
                actor = await self._start_incarnation()
            self.state = ActorState.STOPPING if self.stop_requested else ActorState.RUNNING
            task_status.started()
            if self._background:
                await self._run_resident(actor)
            elif await self._drain(actor):
                return
        except BaseException as exc:
            if not isinstance(exc, anyio.get_cancelled_exc_class()):
                self.last_failure = Failure(leaf_error(exc))
                # until a new incarnation has started, nobody waits on this mailbox
                self.mailbox.shed(on=True)
            await self.reset()
            raise
        await self.reset()

    async def _start_incarnation(self) -> Actor[M]:
        if self._incarnations:
            self.restarts += 1
        self._incarnations += 1
        self.state = ActorState.STARTING
        self._background = []
        actor = self.spec.factory()
        self.actor = actor
        actor.bind(ActorContext(self.ref, self.system, self._add_background))
        await actor.on_start()
        self.mailbox.shed(on=False)
        return actor

    def _add_background(self, func: Callable[[], Awaitable[None]], name: str) -> None:  # noqa: ARG002
        self._background.append(func)

    async def _run_resident(self, actor: Actor[M]) -> None:
        """Handle messages beside the background tasks until the mailbox is drained."""
        async with anyio.create_task_group() as tg:
            self._scopes = []
            for func in self._background:
                scope = anyio.CancelScope()
                self._scopes.append(scope)
                tg.start_soon(_in_scope, scope, func)
            if self.stop_requested:
                self._cancel_background()
            mailbox, limit = self.mailbox, self.spec.batch_limit
            while batch := await mailbox.get_batch(limit):
                await self._process(actor, batch)
            tg.cancel_scope.cancel()

    async def _drain(self, actor: Actor[M]) -> bool:
        """Handle what is queued; True when the actor parked, False when it stopped."""
        mailbox, limit = self.mailbox, self.spec.batch_limit
        busy = False
        while True:
            batch = mailbox.take_nowait(limit)
            if batch:
                busy = True
                await self._process(actor, batch)
                # a handler that never awaits must still let the loop breathe
                await anyio.lowlevel.checkpoint()
                continue
            if mailbox.closed:
                return False
            if busy and self.spec.linger > 0:
                # an actor with steady traffic keeps its task a little while: starting
                # a task per message would cost more than the wait
                busy = False
                with anyio.move_on_after(self.spec.linger):
                    await mailbox.wait()
                continue
            await anyio.lowlevel.checkpoint()
            if len(mailbox) or mailbox.closed:
                continue
            self.parked = True
            mailbox.wake = self._wake
            return True

    def _wake(self) -> None:
        self._activate(self)

    async def _process(self, actor: Actor[M], batch: list[M]) -> None:
        started = time.perf_counter()
        if isinstance(actor, BatchActor):
            try:
                await actor.handle_batch(batch)
            except Exception:
                self.failed += len(batch)
                raise
            self.processed += len(batch)
        else:
            await self._handle_each(actor.handle, batch)
        self.handling_seconds += time.perf_counter() - started

    async def _handle_each(self, handle: Callable[[M], Awaitable[None]], batch: list[M]) -> None:
        done = 0
        try:
            for message in batch:
                await handle(message)
                done += 1
        except BaseException as exc:
            # the messages behind the failing one were accepted: keep them
            self.mailbox.requeue_front(batch[done + 1 :])
            if isinstance(exc, Exception):
                self.failed += 1
            raise
        finally:
            self.processed += done

    async def reset(self) -> None:
        """End the current incarnation, if any, running its stop hook."""
        actor, self.actor = self.actor, None
        self.parked = False
        self.mailbox.wake = None
        if actor is None:
            return
        with anyio.move_on_after(self.spec.stop_timeout, shield=True):
            try:
                await actor.on_stop()
            except Exception:  # noqa: BLE001 (a failing hook must not stop the others)
                _log.exception("stop hook of %s failed", self.name)

    def request_stop(self, deadline: float | None = None) -> None:  # noqa: ARG002
        """Begin a graceful stop: end intake, then drain and end the incarnation."""
        if self.stop_requested:
            return
        self.stop_requested = True
        self.state = ActorState.STOPPING
        self._cancel_background()
        self.mailbox.close()

    def has_pending_work(self) -> bool:
        """Whether messages are still queued (a stopping actor drains them first)."""
        return len(self.mailbox) > 0

    def _cancel_background(self) -> None:
        for scope in self._scopes:
            scope.cancel()

    def status(self) -> list[ActorStatus]:
        """This actor's snapshot as a one-element list (supervisors return many)."""
        mailbox = self.mailbox
        failure = self.last_failure
        return [
            ActorStatus(
                name=self.name,
                kind=self.kind,
                parent=self.parent,
                state=self.state,
                mailbox_depth=len(mailbox),
                mailbox_capacity=mailbox.capacity,
                mailbox_policy=mailbox.policy.value,
                processed=self.processed,
                failed=self.failed,
                dropped=mailbox.dropped,
                restarts=self.restarts,
                handling_seconds=round(self.handling_seconds, 6),
                last_error=failure.text if failure else None,
                last_error_at=failure.at if failure else None,
            )
        ]

    def cells(self) -> list[Any]:
        """Every cell in this subtree (just this one)."""
        return [self]


async def _in_scope(scope: anyio.CancelScope, func: Callable[[], Awaitable[None]]) -> None:
    with scope:
        try:
            await func()
        except MailboxClosedError:
            # the actor is stopping: its intake was cancelled just before its mailbox
            # closed, and a send already past its last checkpoint sees the close first
            if not scope.cancel_called:
                raise
