"""The runtime side of one actor: its message loop, counters and stop sequence."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from meterhub.platform._actor import Actor, ActorContext, ActorRef, ActorSpec, SystemHandle
from meterhub.platform._errors import leaf_error
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
    """Runs incarnations of one actor; its mailbox and counters outlive restarts."""

    kind = "actor"

    def __init__(self, spec: ActorSpec[M], system: SystemHandle, parent: str | None) -> None:
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
        self._background: list[anyio.CancelScope] = []

    @property
    def restart(self) -> RestartType:
        """The child's restart type."""
        return self.spec.restart

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run one incarnation until the mailbox is closed and drained.

        Raises:
            Exception: whatever the actor raised; the supervisor decides what follows.
        """
        bind_actor(self.name)
        actor = self.spec.factory()
        self._background = []
        self.state = ActorState.STARTING
        try:
            async with anyio.create_task_group() as tg:
                actor.bind(ActorContext(self.ref, self.system, self._starter(tg)))
                await actor.on_start()
                if self.stop_requested:
                    # stop arrived while starting: background tasks started in on_start
                    # must not keep the incarnation alive
                    self._cancel_background()
                self.state = ActorState.RUNNING
                task_status.started()
                await self._loop(actor)
                tg.cancel_scope.cancel()
        except BaseException as exc:
            if not isinstance(exc, anyio.get_cancelled_exc_class()):
                self.last_failure = Failure(leaf_error(exc))
            raise
        finally:
            with anyio.move_on_after(5, shield=True):
                await actor.on_stop()

    def _starter(
        self, tg: anyio.abc.TaskGroup
    ) -> Callable[[Callable[[], Awaitable[None]], str], None]:
        def start(func: Callable[[], Awaitable[None]], name: str) -> None:
            scope = anyio.CancelScope()
            self._background.append(scope)

            async def guarded() -> None:
                with scope:
                    await func()

            tg.start_soon(guarded, name=f"{self.name}:{name}")

        return start

    async def _loop(self, actor: Actor[M]) -> None:
        mailbox = self.mailbox
        limit = self.spec.batch_limit
        batch_handler: Callable[[list[M]], Awaitable[None]] | None = getattr(
            actor, "handle_batch", None
        )
        handle = actor.handle
        clock = time.perf_counter
        while True:
            batch = await mailbox.get_batch(limit)
            if not batch:
                return
            started = clock()
            if batch_handler is not None:
                try:
                    await batch_handler(batch)
                except Exception:
                    self.failed += len(batch)
                    raise
                self.processed += len(batch)
            else:
                await self._handle_each(handle, batch)
            self.handling_seconds += clock() - started

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

    def request_stop(self) -> None:
        """Begin a graceful stop: end intake, then drain and exit the loop."""
        if self.stop_requested:
            return
        self.stop_requested = True
        self.state = ActorState.STOPPING
        self._cancel_background()
        self.mailbox.close()

    def _cancel_background(self) -> None:
        for scope in self._background:
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
                handling_seconds=round(self.handling_seconds, 6)
                if math.isfinite(self.handling_seconds)
                else 0.0,
                last_error=failure.text if failure else None,
                last_error_at=failure.at if failure else None,
            )
        ]

    def cells(self) -> list[Any]:
        """Every cell in this subtree (just this one)."""
        return [self]
