"""The actor system: one root task group, a root supervisor, a name registry, a bus."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Self

import anyio

from meterhub.platform._bus import Bus
from meterhub.platform._errors import ActorNotFoundError, DuplicateActorError
from meterhub.platform._retry import RestartPolicy
from meterhub.platform._status import ActorStatus, Readiness
from meterhub.platform._supervisor import (
    Child,
    Strategy,
    SupervisorCell,
    SupervisorSpec,
)

if TYPE_CHECKING:
    from types import TracebackType

    from meterhub.platform._actor import ActorRef, ActorSpec

_log = logging.getLogger(__name__)
ROOT = "root"


class ActorSystem:
    """Hosts supervised actors for the lifetime of an ``async with`` block.

    Leaving the block shuts down gracefully: components stop in reverse start order,
    each one first ending its intake, then draining its mailbox, then running its stop
    hook, all within ``shutdown_timeout`` seconds.

    Args:
        policy: restart policy of the root supervisor (per top-level component).
        shutdown_timeout: seconds for the whole graceful shutdown.
    """

    def __init__(self, policy: RestartPolicy | None = None, shutdown_timeout: float = 10.0) -> None:
        self.bus = Bus()
        self.shutdown_timeout = shutdown_timeout
        self._cells: dict[str, Any] = {}
        self._root = SupervisorCell(
            SupervisorSpec(ROOT, strategy=Strategy.ONE_FOR_ONE, policy=policy or RestartPolicy()),
            self,
            None,
            root=True,
        )
        self._state = "created"
        self._stack: contextlib.AsyncExitStack | None = None
        self._changed: anyio.Event | None = None
        self._health: dict[str, str] = {}

    # -- registry (used by supervisors) -------------------------------------------------

    def register(self, cell: Child) -> None:
        """Reserve a name for a new cell.

        Raises:
            DuplicateActorError: the name is taken.
        """
        if cell.name in self._cells:
            raise DuplicateActorError(cell.name)
        self._cells[cell.name] = cell

    def unregister(self, cell: Child) -> None:
        """Release a name and the cell's bus subscriptions."""
        if self._cells.get(cell.name) is cell:
            del self._cells[cell.name]
        mailbox = getattr(cell, "mailbox", None)
        if mailbox is not None:
            self.bus.unsubscribe_all(mailbox)

    def isolate(self, cell: Any) -> None:  # noqa: ANN401 (an actor or supervisor cell)
        """Take a cell the root gave up on off the bus and close its mailbox.

        What it had queued is discarded (counted as dropped): nobody may wait on it.
        """
        mailbox = getattr(cell, "mailbox", None)
        if mailbox is not None:
            self.bus.unsubscribe_all(mailbox)
            mailbox.close()
            mailbox.discard()

    def restore(self, cell: Any) -> None:  # noqa: ANN401 (the same)
        """Open an isolated cell's mailbox again; its next start subscribes anew."""
        mailbox = getattr(cell, "mailbox", None)
        if mailbox is not None and not getattr(cell, "stop_requested", False):
            mailbox.reopen()

    def set_health(self, component: str, problem: str | None) -> None:
        """Report a component's problem (``None`` when it is fine again) for readiness.

        For trouble that is not a crash: a store that is down, a journal that cannot
        write. The component keeps running; readiness names it until it recovers.
        """
        before = self._health.get(component)
        if problem == before:
            return
        if problem is None:
            del self._health[component]
            _log.info("%s recovered", component, extra={"component": component})
        else:
            self._health[component] = problem
            _log.error("not ready: %s: %s", component, problem, extra={"component": component})
        self.notify_change()

    def notify_change(self) -> None:
        """Wake everyone waiting in ``wait_for_change`` (a child crashed, restarted...)."""
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    async def wait_for_change(self) -> None:
        """Wait until a supervisor reports a crash, restart, stop or failure."""
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()

    # -- life cycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as stack:
            tg = await stack.enter_async_context(anyio.create_task_group())
            await tg.start(self._root.run)
            self._state = "running"
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        self._state = "stopping"
        started = time.monotonic()
        self._root.request_stop(started + self.shutdown_timeout)
        try:
            await stack.__aexit__(exc_type, exc, tb)
        finally:
            self._state = "stopped"
            seconds = round(time.monotonic() - started, 3)
            _log.info("actor system stopped", extra={"seconds": seconds})

    # -- actors -------------------------------------------------------------------------

    async def spawn(self, spec: ActorSpec[Any] | SupervisorSpec, parent: str = ROOT) -> Child:
        """Start an actor or a supervisor subtree under ``parent``.

        Returns once the child's start hook completed (or its first start failed and
        it is being restarted in the background).

        Raises:
            DuplicateActorError: the name is taken.
            ActorNotFoundError: ``parent`` is not a supervisor.
        """
        supervisor = self._supervisor(parent)
        return await supervisor.start_child(spec)

    async def stop(self, name: str, drain_seconds: float | None = None) -> None:
        """Stop one actor or subtree gracefully and remove it.

        Raises:
            ActorNotFoundError: no such actor.
        """
        cell = self._cells.get(name)
        if cell is None or cell.parent is None:
            raise ActorNotFoundError(name)
        parent = self._supervisor(cell.parent)
        grace = self.shutdown_timeout if drain_seconds is None else drain_seconds
        await parent.stop_child(name, grace)

    def lookup(self, name: str) -> ActorRef[Any]:
        """The ref of a registered actor.

        Raises:
            ActorNotFoundError: no actor by that name (supervisors have no ref).
        """
        cell = self._cells.get(name)
        ref = getattr(cell, "ref", None)
        if ref is None:
            raise ActorNotFoundError(name)
        return ref  # type: ignore[no-any-return]

    def _supervisor(self, name: str) -> SupervisorCell:
        cell = self._cells.get(name) if name != ROOT else self._root
        if not isinstance(cell, SupervisorCell):
            raise ActorNotFoundError(name)
        return cell

    # -- reporting ----------------------------------------------------------------------

    def status(self) -> list[ActorStatus]:
        """Every actor and supervisor below the root, depth first."""
        return [s for s in self._root.status() if s.name != ROOT]

    def readiness(self) -> Readiness:
        """Ready once running with no component given up on."""
        failed = {**self._root.failed_components, **self._health}
        return Readiness(
            ready=self._state == "running" and not failed,
            state=self._state,
            failed=sorted(failed),
            reasons=failed,
        )
