"""The input contract: an input yields raw frames, each tagged with its device and time.

An input is a plain object, not an actor: meterhub runs it inside a supervised actor
that journals every frame before anything decodes it, feeds it to the one pipeline and
publishes the result. One input may serve one device (a serial meter) or many (one
MQTT connection, a plugin polling an API); it names them in ``devices``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from meterhub.adapters.codecs import DecodeError
    from meterhub.model import RawFrame


class FrameSink(Protocol):
    """Where an input delivers: the actor that runs it."""

    async def deliver(self, frame: RawFrame, *, must_journal: bool = False) -> int | None:
        """Journal one frame, then decode and publish it; its journal seq.

        Waits while the site applies back-pressure; the frame is journaled (or its
        journal failure counted) before this returns. None: the site runs without a
        journal, or the frame's device is unknown.

        Raises:
            JournalError: with ``must_journal``, the journal did not take the frame: an
                input that can be asked again (an MQTT broker) must not acknowledge it.
        """
        ...

    async def wait_durable(self, seq: int) -> None:
        """Until journal record ``seq`` is on disk: then it may be acknowledged."""
        ...

    def rejected(self, meter_id: str, error: DecodeError) -> None:
        """Bytes of ``meter_id`` that framed to no frame (a checksum, a torn frame)."""
        ...

    def heard(self, meter_id: str) -> None:
        """``meter_id`` sent something (even half a frame): it is not offline."""
        ...

    def link_up(self, meter_id: str | None = None) -> None:
        """The link to ``meter_id`` (None: to every device of the input) works."""
        ...

    def link_down(self, reason: str, meter_id: str | None = None) -> None:
        """The link to ``meter_id`` (None: every device of the input) is broken."""
        ...


class Input(Protocol):
    """A source of raw frames for one or more devices."""

    @property
    def name(self) -> str:
        """What it reads from, for logs (``serial:/dev/ttyUSB0``)."""
        ...

    @property
    def devices(self) -> tuple[str, ...]:
        """The device ids whose frames it delivers."""
        ...

    async def run(self, sink: FrameSink) -> None:
        """Connect and deliver frames until the link breaks; never returns normally.

        Raises:
            TransportError: the link could not be opened or broke. The actor running
                the input reports the devices offline and calls ``run`` again after
                a capped backoff; the input itself never sleeps and retries.
        """
        ...
