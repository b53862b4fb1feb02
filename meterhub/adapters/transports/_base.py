"""What a meter actor needs from a transport, and how a transport fails."""

from __future__ import annotations

from typing import Protocol, Self

from meterhub.platform import MeterhubError


class TransportError(MeterhubError):
    """The link to a meter is broken or could not be opened.

    Attributes:
        port: the device, URL or simulator the transport reads from.
    """

    def __init__(self, port: str, reason: str) -> None:
        self.port = port
        self.reason = reason
        super().__init__(f"{port}: {reason}")


class Transport(Protocol):
    """A byte source for one meter, opened and closed as an async context manager."""

    @property
    def name(self) -> str:
        """What the transport reads from, for logs and raw frames (``serial``, ...)."""
        ...

    async def __aenter__(self) -> Self:
        """Open the link.

        Raises:
            TransportError: it cannot be opened.
        """
        ...

    async def __aexit__(self, *exc: object) -> None:
        """Close the link."""
        ...

    async def read(self) -> bytes:
        """The next chunk of bytes, in whatever size the link delivers.

        Raises:
            TransportError: the link broke (a USB adapter unplugged, EOF).
        """
        ...
