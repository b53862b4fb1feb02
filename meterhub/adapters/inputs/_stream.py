"""An input for one device whose frames arrive as a byte stream (serial, simulator)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from meterhub.adapters.codecs import DecodeError
from meterhub.adapters.transports import TransportError
from meterhub.model import RawFrame, Rejection

if TYPE_CHECKING:
    from collections.abc import Callable

    from meterhub.adapters.codecs import MeterDecoder
    from meterhub.adapters.inputs._capture import CaptureFile
    from meterhub.adapters.inputs._contract import FrameSink
    from meterhub.adapters.transports import Transport


class StreamInput:
    """Reads a transport and cuts its bytes into frames with the device's framer.

    Args:
        meter_id: the device the stream belongs to.
        open_transport: a fresh, unopened transport for each connection.
        make_framer: the framing state for each connection (``MeterDecoder.frame``
            with its format, or auto-detection); only its framing is used here.
        transport_name: recorded with every frame (``serial``, ``simulator``).
        capture: where to keep a copy of the raw stream (``capture = true``), if anywhere.
    """

    def __init__(
        self,
        meter_id: str,
        open_transport: Callable[[], Transport],
        make_framer: Callable[[], MeterDecoder],
        transport_name: str,
        capture: CaptureFile | None = None,
    ) -> None:
        self.meter_id = meter_id
        self._open = open_transport
        self._make_framer = make_framer
        self._transport_name = transport_name
        self._capture = capture

    @property
    def name(self) -> str:
        """``<transport>:<meter id>``."""
        return f"{self._transport_name}:{self.meter_id}"

    @property
    def devices(self) -> tuple[str, ...]:
        """The one device."""
        return (self.meter_id,)

    async def run(self, sink: FrameSink) -> None:
        """Read and frame until the transport breaks.

        Raises:
            TransportError: the transport failed to open or broke.
        """
        meter_id = self.meter_id
        framer = self._make_framer()
        try:
            async with self._open() as transport:
                sink.link_up(meter_id)
                while True:
                    data = await transport.read()
                    received_at = datetime.now(UTC)
                    sink.heard(meter_id)
                    if self._capture is not None:
                        self._capture.write(data, received_at)
                    for item in framer.frame(data):
                        await self._pass_on(sink, item, received_at, framer.format)
        except TransportError:
            # a torn telegram must not join the next connection's bytes
            for error in framer.reset_framing():
                await self._pass_on(sink, error, datetime.now(UTC), framer.format)
            raise

    async def _pass_on(
        self, sink: FrameSink, item: bytes | DecodeError, received_at: datetime, fmt: str | None
    ) -> None:
        """Deliver a frame, or the bytes the framer skipped (journaled as rejected)."""
        if isinstance(item, DecodeError) and item.data is None:
            sink.rejected(self.meter_id, item)
            return
        rejected = None
        if isinstance(item, DecodeError):
            rejected = Rejection(reason=item.reason, detail=item.detail, offset=item.offset)
            item = item.data or b""
        await sink.deliver(RawFrame(
            meter_id=self.meter_id, transport=self._transport_name, received_at=received_at,
            payload=item, format=fmt, rejected=rejected,
        ))  # fmt: skip
