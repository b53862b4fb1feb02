"""Supervisors: restart crashed children with backoff, give up after too many crashes.

Each child runs in a wrapper task that catches its crash, so one child's exception never
reaches the shared task group and never cancels its siblings under one_for_one. Only
when a child crashes more than ``max_restarts`` times within ``within_seconds`` does the
supervisor give up: a nested supervisor then raises ``EscalationError`` and its parent
treats that as its own child crashing; the root supervisor marks the child failed (for
readiness), isolates it so that it blocks nobody, keeps every other component running,
and tries it again after a long, capped backoff.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import random
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio

from meterhub.platform._actor import ActorSpec, RestartType, SystemHandle
from meterhub.platform._cell import ActorCell, Failure
from meterhub.platform._errors import EscalationError, leaf_error
from meterhub.platform._retry import RestartPolicy
from meterhub.platform._status import ActorState, ActorStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

_log = logging.getLogger(__name__)
T_contra = TypeVar("T_contra", contravariant=True)


class Strategy(enum.StrEnum):
    """Which children a supervisor restarts when one crashes."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"


@dataclasses.dataclass(frozen=True, slots=True)
class SupervisorSpec:
    """A supervisor and its initial children (actors or nested supervisors)."""

    name: str
    children: tuple[ActorSpec[Any] | SupervisorSpec, ...] = ()
    strategy: Strategy = Strategy.ONE_FOR_ONE
    policy: RestartPolicy = RestartPolicy()
    restart: RestartType = RestartType.PERMANENT


class Registry(SystemHandle, Protocol):
    """The system's name registry, as a supervisor uses it."""

    def register(self, cell: Child) -> None:
        """Reserve the cell's name; raises if it is taken."""
        ...

    def unregister(self, cell: Child) -> None:
        """Release the cell's name."""
        ...

    def notify_change(self) -> None:
        """Tell watchers that a child's state changed."""
        ...

    def isolate(self, cell: Any) -> None:  # noqa: ANN401 (an actor or supervisor cell)
        """Take a given-up cell off the bus; its mailbox stops accepting messages."""
        ...

    def restore(self, cell: Any) -> None:  # noqa: ANN401 (the same)
        """Let an isolated cell receive messages again (it subscribes when it starts)."""
        ...


class Child(Protocol):
    """What a supervisor needs of a child, actor or supervisor alike."""

    name: str
    state: ActorState
    restarts: int
    stop_requested: bool
    parked: bool
    last_failure: Failure | None

    @property
    def restart(self) -> RestartType:
        """The child's restart type."""
        ...

    async def run(self, *, task_status: TaskStatus[None] = ...) -> None:
        """Run one incarnation."""
        ...

    def request_stop(self, deadline: float | None = None) -> None:
        """Stop gracefully."""
        ...

    def has_pending_work(self) -> bool:
        """Whether a stopping child still holds accepted messages."""
        ...

    async def reset(self) -> None:
        """End a parked incarnation (its stop hook runs); the next run starts afresh."""
        ...

    def status(self) -> list[ActorStatus]:
        """Snapshot of the subtree."""
        ...

    def cells(self) -> list[Any]:
        """Every cell in the subtree."""
        ...


class _StartedOnce:
    """Forwards the first ``started()`` only, so restarts never report twice."""

    def __init__(self, inner: TaskStatus[None]) -> None:
        self._inner = inner
        self.done = False

    def started(self, value: None = None) -> None:
        if not self.done:
            self.done = True
            self._inner.started(value)


class _ChildExitedError(Exception):
    """A permanent child of a one_for_all supervisor returned on its own."""


class SupervisorCell:
    """Runs and restarts its children according to its spec."""

    kind = "supervisor"

    def __init__(
        self, spec: SupervisorSpec, system: Registry, parent: str | None, *, root: bool = False
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.parent = parent
        self.system = system
        self.root = root
        self.state = ActorState.STARTING
        self.restarts = 0
        self.stop_requested = False
        self.last_failure: Failure | None = None
        self.failed_components: dict[str, str] = {}
        self.children: dict[str, Child] = {}
        self._runs = 0
        self._deadline: float | None = None
        self._stop_event = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._done: dict[str, anyio.Event] = {}
        self._failures: dict[str, deque[float]] = {}
        self._give_ups: dict[str, int] = {}
        self._rand: Callable[[], float] = random.random
        self.parked = False  # a supervisor keeps its task while it runs
        for child_spec in spec.children:
            self._make_child(child_spec)

    def _make_child(self, spec: ActorSpec[Any] | SupervisorSpec) -> Child:
        cell: Child
        if isinstance(spec, SupervisorSpec):
            cell = SupervisorCell(spec, self.system, self.name)
        else:
            cell = ActorCell(spec, self.system, self.name, self._activate)
        self.system.register(cell)
        self.children[cell.name] = cell
        return cell

    def _activate(self, cell: ActorCell[Any]) -> None:
        """A parked child got a message: give it a task again."""
        tg = self._tg
        if tg is None:  # between incarnations: the next one starts every child
            return
        if self.spec.strategy is Strategy.ONE_FOR_ALL:
            tg.start_soon(self._run_member, cell, name=cell.name)
        else:
            tg.start_soon(self._supervise, cell, name=cell.name)

    @property
    def restart(self) -> RestartType:
        """The supervisor's own restart type under its parent."""
        return self.spec.restart

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run one incarnation of the supervisor and its children.

        Raises:
            EscalationError: a child exceeded the restart intensity (not at the root).
        """
        if self._runs:
            self.restarts += 1
        self._runs += 1
        self.state = ActorState.STARTING
        if self.spec.strategy is Strategy.ONE_FOR_ALL:
            await self._run_one_for_all(_StartedOnce(task_status))
        else:
            await self._run_one_for_one(task_status)
        self.state = ActorState.STOPPED

    async def _run_one_for_one(self, task_status: TaskStatus[None]) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for child in list(self.children.values()):
                    await tg.start(self._supervise, child)
                self.state = ActorState.RUNNING
                task_status.started()
                await self._stop_event.wait()
                await self._stop_children()
        except BaseException:
            # this incarnation dies with its children: parked ones hold no task that
            # the cancellation could reach, so end them here
            with anyio.CancelScope(shield=True):
                for child in self.children.values():
                    await child.reset()
            raise
        finally:
            self._tg = None

    async def _run_one_for_all(self, started: _StartedOnce) -> None:
        while True:
            try:
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    for child in list(self.children.values()):
                        await tg.start(self._run_member, child)
                    self.state = ActorState.RUNNING
                    started.started()
                    await self._stop_event.wait()
                    await self._stop_children()
            except Exception as exc:  # noqa: BLE001 (a member crashed: restart them all)
                self._tg = None
                started.started()
                for child in self.children.values():
                    await child.reset()
                if self.stop_requested:
                    return
                cause = leaf_error(exc)
                self.last_failure = Failure(cause)
                _log.warning("a child of %s crashed, restarting all: %s", self.name, cause)
                if not await self._after_crash("*", cause):
                    return
            else:
                self._tg = None
                return

    async def _run_member(
        self, child: Child, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        done = self._done[child.name] = anyio.Event()
        try:
            await child.run(task_status=task_status)
            if child.parked:
                return
            if child.restart is RestartType.PERMANENT and not child.stop_requested:
                raise _ChildExitedError(f"{child.name} returned")
        finally:
            del self._done[child.name]
            done.set()

    async def _supervise(
        self, child: Child, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        started = _StartedOnce(task_status)
        scope = self._scopes[child.name] = anyio.CancelScope()
        done = self._done[child.name] = anyio.Event()
        try:
            with scope:
                while await self._run_child_once(child, started):
                    pass
        finally:
            started.started()
            del self._scopes[child.name], self._done[child.name]
            done.set()
            if not child.parked:
                if child.state is not ActorState.FAILED:
                    child.state = ActorState.STOPPED
                self.system.notify_change()

    async def _run_child_once(self, child: Child, started: _StartedOnce) -> bool:
        """Run one incarnation; True when the child should be started again."""
        try:
            await child.run(task_status=started)
        except Exception as exc:  # noqa: BLE001 (supervision catches every crash)
            started.started()
            self.system.notify_change()
            cause = leaf_error(exc)
            _log.error(
                "%s crashed: %s: %s", child.name, type(cause).__name__, cause,
                exc_info=cause, extra={"child": child.name},
            )  # fmt: skip
            if child.restart is RestartType.TEMPORARY:
                child.state = ActorState.STOPPED
                return False
            if child.stop_requested and not child.has_pending_work():
                return False
            return await self._after_crash(child.name, cause, child)
        started.started()
        if child.parked or child.stop_requested or child.restart is not RestartType.PERMANENT:
            return False
        _log.warning("%s returned on its own, restarting", child.name)
        return await self._after_crash(child.name, _ChildExitedError("returned"), child)

    async def _after_crash(
        self, key: str, cause: BaseException, child: Child | None = None
    ) -> bool:
        """Apply intensity and backoff; True to restart, False when the root gave up."""
        policy = self.spec.policy
        now = time.monotonic()
        window = self._failures.setdefault(key, deque())
        window.append(now)
        while window and now - window[0] > policy.within_seconds:
            window.popleft()
        if len(window) > policy.max_restarts:
            error = EscalationError(key if child is None else child.name, len(window),
                                    policy.within_seconds, cause)  # fmt: skip
            if not self.root or child is None:
                raise error
            return await self._give_up(child, error)
        delay = policy.backoff(len(window), self._rand())
        if child is not None:
            child.state = ActorState.RESTARTING
        else:
            self.state = ActorState.RESTARTING
        with anyio.move_on_after(delay):
            await self._stop_event.wait()
        return True

    async def _give_up(self, child: Child, error: EscalationError) -> bool:
        """Isolate a child the root gave up on, then try it again after a long backoff.

        Isolated, it can block nobody: its mailboxes leave the bus and stop accepting,
        so publishers and senders go on. Readiness names it until it is tried again.

        Returns:
            True to start it again, False when the site stops meanwhile.
        """
        name = child.name
        give_ups = self._give_ups[name] = self._give_ups.get(name, 0) + 1
        delay = self.spec.policy.retry_failed(give_ups, self._rand())
        reason = f"{error}; trying again in {delay:.0f} s"
        _log.error("giving up on %s: %s", name, reason,
                   extra={"component": name, "give_ups": give_ups})  # fmt: skip
        self.failed_components[name] = reason
        for cell in child.cells():
            cell.state = ActorState.FAILED
            self.system.isolate(cell)
        self.system.notify_change()
        with anyio.move_on_after(delay):
            await self._stop_event.wait()
        if self.stop_requested:
            return False
        self._failures.pop(name, None)
        self.failed_components.pop(name, None)
        for cell in child.cells():
            self.system.restore(cell)
        child.state = ActorState.RESTARTING
        _log.warning("trying %s again (given up %d time(s) so far)", name, give_ups,
                     extra={"component": name, "give_ups": give_ups})  # fmt: skip
        self.system.notify_change()
        return True

    async def start_child(self, spec: ActorSpec[Any] | SupervisorSpec) -> Child:
        """Add and start a child; under one_for_all only before the supervisor runs.

        Raises:
            DuplicateActorError: the name is taken.
        """
        if self.spec.strategy is Strategy.ONE_FOR_ALL and self._runs:
            raise ValueError(f"{self.name} is one_for_all: add children to its spec")
        cell = self._make_child(spec)
        if self._tg is not None:
            await self._tg.start(self._supervise, cell)
        return cell

    async def stop_child(self, name: str, drain_seconds: float) -> None:
        """Stop one child gracefully (drain, stop hooks) and forget it."""
        child = self.children[name]
        deadline = time.monotonic() + drain_seconds
        child.request_stop(deadline)
        await self._await_child(child, deadline)
        del self.children[name]
        for cell in child.cells():
            self.system.unregister(cell)

    def request_stop(self, deadline: float | None = None) -> None:
        """Stop the children in reverse start order, each drained before the next."""
        self.stop_requested = True
        self._deadline = deadline
        self.state = ActorState.STOPPING
        self._stop_event.set()

    def has_pending_work(self) -> bool:
        """A supervisor holds no messages itself."""
        return False

    async def reset(self) -> None:
        """Nothing to end: a supervisor never parks."""

    async def _stop_children(self) -> None:
        deadline = self._deadline if self._deadline is not None else time.monotonic() + 10.0
        for child in reversed(list(self.children.values())):
            child.request_stop(deadline)
            await self._await_child(child, deadline)

    async def _await_child(self, child: Child, deadline: float) -> None:
        done = self._done.get(child.name)
        if done is None:  # parked or never started: nothing runs, only the hook is left
            await child.reset()
            if child.state is not ActorState.FAILED:
                child.state = ActorState.STOPPED
            return
        with anyio.move_on_at(deadline):
            await done.wait()
        if done.is_set():
            return
        pending = sum(s.mailbox_depth for s in child.status())
        _log.error(
            "%s did not stop within the shutdown deadline; cancelling it with %d messages "
            "unhandled", child.name, pending, extra={"child": child.name, "abandoned": pending},
        )  # fmt: skip
        scope = self._scopes.get(child.name)
        if scope is not None:
            scope.cancel()
        await done.wait()

    def status(self) -> list[ActorStatus]:
        """Snapshot of this supervisor and its whole subtree."""
        failure = self.last_failure
        own = ActorStatus(
            name=self.name,
            kind=self.kind,
            parent=self.parent,
            state=self.state,
            restarts=self.restarts,
            last_error=failure.text if failure else None,
            last_error_at=failure.at if failure else None,
        )
        out = [own]
        for child in self.children.values():
            out.extend(child.status())
        return out

    def cells(self) -> list[Any]:
        """This supervisor and every cell below it."""
        out: list[Any] = [self]
        for child in self.children.values():
            out.extend(child.cells())
        return out
