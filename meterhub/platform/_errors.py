"""The root of meterhub's exception tree and the runtime's own errors.

Errors are grouped by what the caller can do about them: fix the input, fix the
configuration, retry later, or stop sending to something that is gone.
"""

from __future__ import annotations


class MeterhubError(Exception):
    """Base of every error meterhub raises on purpose."""


class ConfigError(MeterhubError):
    """A configuration file or environment override is invalid.

    Attributes:
        source: the file (or ``environment``) the bad value came from.
        key: dotted path of the offending key, empty when the whole file is bad.
        reason: what was expected, in words a user can act on.
    """

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {reason}")


class MailboxClosedError(MeterhubError):
    """A message was sent to an actor whose mailbox no longer accepts messages."""

    def __init__(self, actor: str) -> None:
        self.actor = actor
        super().__init__(f"actor {actor!r} is not accepting messages")


class ActorNotFoundError(MeterhubError, LookupError):
    """No actor is registered under the requested name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no actor named {name!r}")


class DuplicateActorError(MeterhubError):
    """An actor with the same name is already running."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"an actor named {name!r} already exists")


class EscalationError(MeterhubError):
    """A supervised child failed more often than its restart intensity allows.

    Raised inside the supervisor that gives up, so that its own parent sees it as a crash.
    """

    def __init__(self, component: str, restarts: int, window: float, last: BaseException) -> None:
        self.component = component
        self.restarts = restarts
        self.window = window
        self.last = last
        super().__init__(
            f"{component!r} crashed {restarts} times within {window:g}s "
            f"(last error: {type(last).__name__}: {last})"
        )


def leaf_error(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups.

    Task groups wrap a child's exception in an ``ExceptionGroup``; reports should name
    the error that actually happened, not the wrapper.
    """
    while isinstance(exc, BaseExceptionGroup):
        inner: list[BaseException] = list(exc.exceptions)
        exc = next((e for e in inner if isinstance(e, Exception)), inner[0])
    return exc
