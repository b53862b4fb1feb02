"""Errors a store raises, grouped by what the caller can do about them."""

from __future__ import annotations

from meterhub.platform._errors import MeterhubError


class StoreError(MeterhubError):
    """The request itself is wrong: bad input, a violated constraint, an unknown URL.

    Retrying the same call fails the same way; fix the input instead.

    Attributes:
        backend: ``sqlite`` or ``postgres`` (empty when no backend was chosen yet).
        operation: the store method that failed.
    """

    def __init__(self, message: str, *, backend: str = "", operation: str = "") -> None:
        self.backend = backend
        self.operation = operation
        prefix = f"{backend} {operation}: " if backend and operation else ""
        super().__init__(f"{prefix}{message}")


class StoreUnavailableError(StoreError):
    """The storage cannot be reached right now: server down, connection lost, disk error.

    The same call may succeed later; the supervisor restarts the writer with backoff and
    the journal cursor makes the retry safe.
    """
