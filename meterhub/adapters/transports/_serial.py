"""Serial ports through pyserial-asyncio, with the usual M-Bus and P1 line settings."""

from __future__ import annotations

from typing import Any, Self

import msgspec

try:  # the maintained fork has the same API and opens the port off the event loop
    import serial_asyncio_fast as serial_asyncio
except ImportError:  # pragma: no cover - depends on what is installed
    import serial_asyncio

from meterhub.adapters.transports._base import TransportError

READ_SIZE = 4096


class SerialSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Line settings of a serial port."""

    baudrate: int
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1


# wired M-Bus meters answer at 2400 baud, 8 data bits, even parity (EN 13757-2 §5);
# DSMR P1 ports since v4 send at 115200 8N1 (DSMR P1 companion standard §5.7)
MBUS_SERIAL = SerialSettings(baudrate=2400, bytesize=8, parity="E", stopbits=1)
P1_SERIAL = SerialSettings(baudrate=115200, bytesize=8, parity="N", stopbits=1)


class SerialTransport:
    """Reads a serial device or pyserial URL (``/dev/ttyUSB0``, ``socket://host:port``).

    Fails fast: a port that cannot be opened or that disappears raises
    ``TransportError``; the meter actor decides when to try again.
    """

    def __init__(self, port: str, settings: SerialSettings) -> None:
        self.port = port
        self.settings = settings
        self._reader: Any = None
        self._writer: Any = None

    @property
    def name(self) -> str:
        """``serial``."""
        return "serial"

    async def __aenter__(self) -> Self:
        s = self.settings
        try:
            self._reader, self._writer = await serial_asyncio.open_serial_connection(
                url=self.port,  # `url=` works in both libraries, `port=` does not
                baudrate=s.baudrate,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
            )
        except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
            raise TransportError(self.port, f"cannot open: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()

    async def read(self) -> bytes:
        """Wait for the next chunk.

        Raises:
            TransportError: the port was closed or disappeared.
        """
        if self._reader is None:
            raise TransportError(self.port, "not open")
        try:
            chunk: bytes = await self._reader.read(READ_SIZE)
        except OSError as exc:
            raise TransportError(self.port, f"read failed: {exc}") from exc
        if not chunk:
            raise TransportError(self.port, "the port was closed (device unplugged?)")
        return chunk
